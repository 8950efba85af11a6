"""PandasParameterType: an input that is a pandas DataFrame like a sample.

The JSON layout is pandas' ``orient`` of ``DataFrame.to_json``: 'records'
(default: a list of row objects), 'split' ({"columns", "index", "data"}),
'values' (a list of row arrays), 'columns' ({column: {index: value}}),
'index' ({index: {column: value}}) or 'table' ({"schema", "data"}).
"""
import io
import json

import pandas as pd

from inference_schema.parameter_types._swagger import dtype_schema, example
from inference_schema.parameter_types.abstract_parameter_type import AbstractParameterType

ORIENTS = ("records", "split", "values", "columns", "index", "table")
_SPLIT_KEYS = {"columns", "index", "data"}


def _names(columns):
    return ", ".join(repr(str(c)) for c in columns)


class PandasParameterType(AbstractParameterType):
    """A DataFrame like sample_input, sent in the layout orient names.

    enforce_column_type: cast each column to the sample's dtype.
    enforce_shape: the input has exactly the sample's columns (put in its order).
    apply_column_names: name the columns of an input that has none (orient
    'values', or rows given as arrays) after the sample's, by position."""

    def __init__(self, sample_input, enforce_column_type=True, enforce_shape=True,
                 apply_column_names=False, orient="records"):
        if not isinstance(sample_input, pd.DataFrame):
            raise TypeError(
                "PandasParameterType: sample_input must be a pandas DataFrame, got "
                f"{type(sample_input).__name__}"
            )
        if orient not in ORIENTS:
            raise ValueError(
                f"PandasParameterType: orient {orient!r} is not one of {', '.join(ORIENTS)}"
            )
        super().__init__(sample_input)
        self.enforce_column_type = enforce_column_type
        self.enforce_shape = enforce_shape
        self.apply_column_names = apply_column_names
        self.orient = orient

    # ---- deserialisation ----

    def deserialize_input(self, input_data):
        if isinstance(input_data, pd.DataFrame):
            return input_data
        frame = self._frame(input_data)
        if self.apply_column_names:
            frame = self._apply_names(frame)
        if self.enforce_shape:
            frame = self._check_columns(frame)
        if self.enforce_column_type:
            frame = self._cast(frame)
        return frame

    def _frame(self, data):
        orient = self.orient
        rows = orient in ("records", "values")
        if not isinstance(data, list if rows else dict):
            wanted = "array of rows" if rows else "object"
            raise ValueError(
                f"expected a JSON {wanted} (orient '{orient}'), got {type(data).__name__}"
            )
        if orient == "split" and ("data" not in data or set(data) - _SPLIT_KEYS):
            raise ValueError(
                "orient 'split' expects an object with keys 'columns', 'index' and 'data', "
                f"got keys {_names(data)}"
            )
        if rows and not data:
            return self.sample_input.iloc[0:0].copy()
        try:
            return self._build(data)
        except (TypeError, ValueError, KeyError, AssertionError) as e:
            raise ValueError(
                f"cannot build a DataFrame from the input (orient '{orient}'): {e}"
            ) from None

    def _build(self, data):
        orient = self.orient
        if orient in ("records", "values", "columns"):
            return pd.DataFrame(data)
        if orient == "split":
            return pd.DataFrame(data["data"], columns=data.get("columns"), index=data.get("index"))
        if orient == "index":
            return pd.DataFrame.from_dict(data, orient="index")
        return pd.read_json(io.StringIO(json.dumps(data)), orient="table")

    def _apply_names(self, frame):
        columns = list(self.sample_input.columns)
        unnamed = list(frame.columns) == list(range(len(frame.columns)))
        if unnamed and len(frame.columns) == len(columns):
            frame.columns = columns
        return frame

    def _check_columns(self, frame):
        expected = list(self.sample_input.columns)
        present = set(frame.columns)
        missing = [c for c in expected if c not in present]
        extra = [c for c in frame.columns if c not in set(expected)]
        if missing:
            raise ValueError(f"missing column(s) {_names(missing)} (expected {_names(expected)})")
        if extra:
            raise ValueError(f"unexpected column(s) {_names(extra)} (expected {_names(expected)})")
        return frame[expected]

    def _cast(self, frame):
        dtypes = self.sample_input.dtypes
        for column in frame.columns:
            if column not in dtypes.index:
                continue
            want = dtypes[column]
            if frame[column].dtype == want:
                continue
            try:
                frame[column] = frame[column].astype(want)
            except (TypeError, ValueError) as e:
                raise ValueError(f"column {str(column)!r}: cannot convert to {want}: {e}") \
                    from None
        return frame

    # ---- swagger ----

    def _row_schema(self):
        sample = self.sample_input
        return {
            "type": "object",
            "required": [str(c) for c in sample.columns],
            "properties": {str(c): dtype_schema(sample[c].dtype) for c in sample.columns},
        }

    def input_to_swagger(self):
        sample = self.sample_input
        orient = self.orient
        if orient == "records":
            schema = {"type": "array", "items": self._row_schema()}
        elif orient == "values":
            schema = {"type": "array", "items": {"type": "array", "items": {}}}
        elif orient == "split":
            schema = {
                "type": "object",
                "required": ["columns", "data"],
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "index": {"type": "array", "items": {}},
                    "data": {"type": "array", "items": {"type": "array", "items": {}}},
                },
            }
        elif orient == "columns":
            schema = {
                "type": "object",
                "properties": {
                    str(c): {"type": "object", "additionalProperties": dtype_schema(sample[c].dtype)}
                    for c in sample.columns
                },
            }
        elif orient == "index":
            schema = {"type": "object", "additionalProperties": self._row_schema()}
        else:
            schema = {
                "type": "object",
                "properties": {
                    "schema": {"type": "object"},
                    "data": {"type": "array", "items": self._row_schema()},
                },
            }
        schema["example"] = self._example()
        return schema

    def _example(self):
        if self.orient == "records":
            return example(self.sample_input)
        return json.loads(self.sample_input.to_json(orient=self.orient, date_format="iso"))
