"""Scoring script for MLflow models deployed without one (inferd's mlflow backend).

The python runtime loads this file like any Azure scoring script: ``init()``
once per process, ``run(raw_data)`` per request, ``inferd_swagger(version)``
for the swagger document. ``AZUREML_MODEL_DIR`` is the folder that contains
the MLflow model folder (the one holding ``MLmodel``), or that folder itself.

Flavors served: ``sklearn`` (pickle; "cloudpickle" files are read with plain
pickle, which works for ordinary scikit-learn estimators), and
``python_function`` whose ``loader_module`` is ``mlflow.sklearn``.

Request bodies accepted by ``run`` (one top-level key, plus optional
"params", which scikit-learn models ignore):

- ``{"input_data": {"columns": [...], "index": [...], "data": [[...]]}}``
- ``{"input_data": [[...], ...]}`` rows, or ``[{...}, ...]`` records
- ``{"input_data": {"col": [...], ...}}`` columns, or named tensors
- ``{"dataframe_split": {"columns": [...], "index": [...], "data": [[...]]}}``
- ``{"dataframe_records": [{...}, ...]}``
- ``{"instances": [...]}`` and ``{"inputs": [...] or {...}}``

With a signature the input is checked and converted column by column (or
to the tensor's dtype and shape); without one it goes to the model as
pandas builds it. A flat list of values is one row, unless the signature
has a single column. Bad input is answered with 400 and
``{"message": "..."}``; the response is the JSON list of predictions.

Batch (``inferd_batch_run``, which the runtime calls for a batch instance's
mini-batches): each file is read as CSV with a header row, checked against
the signature like a request's columns, and scored; every input row gives
one result row ``<file base name>,<prediction column(s)>``. A file that
cannot be read or scored is reported with the reason and counted as failed;
the other files of the mini-batch still produce their rows.
"""

import base64
import binascii
import json
import logging
import math
import os
import pickle
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml

from inferd.batch import MiniBatchResult

log = logging.getLogger("inferd.mlflow")

SUPPORTED_FLAVORS = "sklearn, or python_function with loader_module mlflow.sklearn"

REQUEST_KEYS = ("input_data", "dataframe_split", "dataframe_records", "instances", "inputs")

ACCEPTED_FORMATS = (
    'send a JSON object with one of the keys "input_data" '
    '(Azure: {"input_data": {"columns": [...], "index": [...], "data": [[...]]}} '
    'or {"input_data": [[...]]}), "dataframe_split", "dataframe_records", '
    '"instances" or "inputs" (MLflow)'
)

# Methods MLflow lets python_function.predict_fn name for sklearn models.
PREDICT_FUNCTIONS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba")


class ModelLoadError(Exception):
    """The model folder cannot be served; fails init() and the deployment."""


class BadRequest(Exception):
    """The request cannot be scored; answered with 400 and this message."""


# ---------------------------------------------------------------------------
# Signature


@dataclass(frozen=True)
class ColumnSpec:
    name: str | None
    type: str  # MLflow column type: double, long, string, ...
    required: bool = True

    def describe(self):
        return f"{_quote(self.name)} ({self.type})" if self.name is not None else self.type


@dataclass(frozen=True)
class TensorSpec:
    name: str | None
    dtype: np.dtype
    shape: tuple  # -1 for a free dimension

    def describe(self):
        shape = "(" + ", ".join(map(str, self.shape)) + ("," if len(self.shape) == 1 else "") + ")"
        label = f"tensor {_quote(self.name)}" if self.name is not None else "tensor"
        return f"{label} {self.dtype.name}{shape}"


@dataclass(frozen=True)
class Signature:
    inputs: tuple  # all ColumnSpec or all TensorSpec
    outputs: tuple

    @property
    def is_tensor(self):
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    @property
    def is_positional(self):
        """True when input columns are matched by position, not by name."""
        return any(spec.name is None for spec in self.inputs)


# The column types MLflow signatures use and what each becomes in pandas.
COLUMN_TYPES = ("double", "float", "long", "integer", "boolean", "string", "binary", "datetime")


def parse_signature(raw, where):
    """Return the Signature of MLmodel's ``signature`` mapping, or None.

    ``where`` names the MLmodel file in error messages. Raises ModelLoadError.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{where}: signature must be a mapping with inputs and outputs")
    inputs = _parse_specs(raw.get("inputs"), f"{where}: signature.inputs")
    outputs = _parse_specs(raw.get("outputs"), f"{where}: signature.outputs")
    if not inputs:
        return None
    return Signature(inputs, outputs)


def _parse_specs(text, where):
    if text is None:
        return ()
    if isinstance(text, str):
        try:
            specs = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelLoadError(f"{where}: not valid JSON: {e}") from None
    else:
        specs = text
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise ModelLoadError(f"{where}: expected a JSON list of column or tensor specs")
    parsed = tuple(_parse_spec(spec, f"{where}[{i}]") for i, spec in enumerate(specs))
    kinds = {type(spec) for spec in parsed}
    if len(kinds) > 1:
        raise ModelLoadError(f"{where}: mixes column and tensor specs")
    return parsed


def _parse_spec(spec, where):
    name = spec.get("name")
    if name is not None and not isinstance(name, str):
        name = str(name)
    if spec.get("type") == "tensor":
        tensor = spec.get("tensor-spec")
        if not isinstance(tensor, dict):
            raise ModelLoadError(f"{where}: tensor spec without a tensor-spec mapping")
        try:
            dtype = np.dtype(tensor.get("dtype"))
        except TypeError:
            raise ModelLoadError(f"{where}: unknown tensor dtype {tensor.get('dtype')!r}") from None
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(type(d) is int for d in shape):
            raise ModelLoadError(f"{where}: tensor shape must be a list of integers, got {shape!r}")
        return TensorSpec(name, dtype, tuple(shape))
    kind = spec.get("type")
    if not isinstance(kind, str):
        raise ModelLoadError(f"{where}: column spec without a type")
    if kind not in COLUMN_TYPES:
        # Newer MLflow types (array, object, map) are passed through as-is.
        log.warning("%s: column type %r is not checked; values are passed as given", where, kind)
    return ColumnSpec(name, kind, spec.get("required", True) is not False)


# ---------------------------------------------------------------------------
# The model folder


@dataclass
class MLflowModel:
    folder: str
    mlmodel: dict
    flavor: str  # a description of what was loaded, for logs
    signature: Signature | None
    input_example: object  # the parsed input_example.json, or None
    predict: object = None  # the bound prediction method; None if metadata only


def find_model_folder(root):
    """Return the folder under ``root`` that holds the MLmodel file.

    That is ``root`` itself or its only sub-folder with an MLmodel file.
    Raises ModelLoadError when there is none or more than one.
    """
    if not root:
        raise ModelLoadError("AZUREML_MODEL_DIR is not set: it must name the model folder")
    if not os.path.isdir(root):
        raise ModelLoadError(f"AZUREML_MODEL_DIR {root}: not a directory")
    if os.path.isfile(os.path.join(root, "MLmodel")):
        return root
    with os.scandir(root) as entries:
        subdirs = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    found = [d for d in subdirs if os.path.isfile(os.path.join(root, d, "MLmodel"))]
    if len(found) == 1:
        return os.path.join(root, found[0])
    if found:
        raise ModelLoadError(
            f"{root}: several MLflow models ({', '.join(found)}); deploy one model folder at a time"
        )
    looked = f" or its sub-folders ({', '.join(subdirs)})" if subdirs else ""
    raise ModelLoadError(f"{root}: no MLmodel file in the folder{looked}; is it an MLflow model?")


def read_model(folder, load=True):
    """Read the MLflow model in ``folder``; with ``load``, unpickle it too.

    Raises ModelLoadError naming the file and what is wrong with it.
    """
    path = os.path.join(folder, "MLmodel")
    try:
        with open(path, encoding="utf-8") as f:
            mlmodel = yaml.safe_load(f)
    except OSError as e:
        raise ModelLoadError(f"{path}: cannot read: {e.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path}: not valid YAML: {_one_line(e)}") from None
    if not isinstance(mlmodel, dict):
        raise ModelLoadError(f"{path}: expected a YAML mapping with flavors")
    flavors = mlmodel.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        raise ModelLoadError(f"{path}: no flavors: not an MLflow model file")

    pickled, serialization, predict_fn, flavor = _choose_flavor(path, flavors)
    pyfunc = flavors.get("python_function")
    code = pyfunc.get("code") if isinstance(pyfunc, dict) else None
    model = MLflowModel(
        folder=folder,
        mlmodel=mlmodel,
        flavor=flavor,
        signature=parse_signature(mlmodel.get("signature"), path),
        input_example=_read_input_example(folder, mlmodel),
    )
    if load:
        _add_code_path(path, code)
        estimator = _unpickle(folder, pickled, serialization, path)
        predict = getattr(estimator, predict_fn, None)
        if not callable(predict):
            raise ModelLoadError(
                f"{path}: python_function.predict_fn is {predict_fn!r}, "
                f"but the {type(estimator).__name__} in {pickled} has no such method"
            )
        model.predict = predict
        _check_sklearn_version(flavors.get("sklearn"))
    return model


def _choose_flavor(path, flavors):
    """Return (pickled file, serialization format, predict method, description)."""
    pyfunc = flavors.get("python_function")
    pyfunc = pyfunc if isinstance(pyfunc, dict) else {}
    predict_fn = pyfunc.get("predict_fn") or "predict"
    if predict_fn not in PREDICT_FUNCTIONS:
        raise ModelLoadError(
            f"{path}: python_function.predict_fn {predict_fn!r} is not one of "
            + ", ".join(PREDICT_FUNCTIONS)
        )
    sklearn = flavors.get("sklearn")
    if isinstance(sklearn, dict):
        pickled = sklearn.get("pickled_model")
        if not isinstance(pickled, str) or not pickled:
            raise ModelLoadError(f"{path}: flavor sklearn has no pickled_model")
        # MLflow's default when the key is absent is cloudpickle.
        serialization = sklearn.get("serialization_format") or "cloudpickle"
        return pickled, serialization, predict_fn, "sklearn"

    if pyfunc.get("loader_module") == "mlflow.sklearn":
        pickled = pyfunc.get("model_path") or pyfunc.get("data")
        if not isinstance(pickled, str) or not pickled:
            raise ModelLoadError(f"{path}: flavor python_function has no model_path")
        return pickled, "pickle", predict_fn, "python_function (mlflow.sklearn)"

    names = []
    for name, conf in flavors.items():
        loader = conf.get("loader_module") if isinstance(conf, dict) else None
        names.append(f"{name} (loader_module {loader})" if loader else str(name))
    raise ModelLoadError(
        f"{path}: flavor {', '.join(names)} cannot be served by inferd; "
        f"supported flavors: {SUPPORTED_FLAVORS}"
    )


def _add_code_path(path, code):
    # Models saved with code_paths= ship their modules in a folder that must
    # be importable before unpickling.
    if not code:
        return
    folder = _inside(os.path.dirname(path), code, path, "python_function.code")
    if os.path.isdir(folder) and folder not in sys.path:
        sys.path.insert(0, folder)


def _inside(folder, relative, path, key):
    full = os.path.normpath(os.path.join(folder, str(relative)))
    if os.path.isabs(str(relative)) or not full.startswith(os.path.normpath(folder) + os.sep):
        raise ModelLoadError(f"{path}: {key} {relative!r} is outside the model folder")
    return full


def _unpickle(folder, pickled, serialization, path):
    if serialization not in ("pickle", "cloudpickle"):
        raise ModelLoadError(
            f"{path}: serialization_format {serialization!r} is not supported "
            "(expected pickle or cloudpickle)"
        )
    file = _inside(folder, pickled, path, "pickled_model")
    try:
        with open(file, "rb") as f:
            return pickle.load(f)
    except OSError as e:
        raise ModelLoadError(f"{file}: cannot read the model: {e.strerror}") from None
    except ModuleNotFoundError as e:
        if e.name == "cloudpickle":
            raise ModelLoadError(
                f"{file}: written by cloudpickle with code saved by value, which needs the "
                "cloudpickle package (not available); save the model with "
                "serialization_format='pickle'"
            ) from None
        raise ModelLoadError(
            f"{file}: unpickling needs the Python module {e.name!r}, which is not installed"
        ) from None
    except Exception as e:  # a pickle can raise anything its classes raise
        raise ModelLoadError(
            f"{file}: cannot unpickle ({serialization}): {type(e).__name__}: {_one_line(e)}"
        ) from None


def _check_sklearn_version(flavor):
    saved = flavor.get("sklearn_version") if isinstance(flavor, dict) else None
    import sklearn

    if saved and str(saved) != sklearn.__version__:
        log.warning(
            "model saved with scikit-learn %s, loaded with %s: predictions may differ",
            saved,
            sklearn.__version__,
        )


def _read_input_example(folder, mlmodel):
    info = mlmodel.get("saved_input_example_info")
    name = "input_example.json"
    if isinstance(info, dict) and isinstance(info.get("artifact_path"), str):
        name = info["artifact_path"]
    file = os.path.join(folder, name)
    if not os.path.isfile(file):
        return None
    try:
        with open(file, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        log.warning("%s: ignored, cannot read it as JSON: %s", file, _one_line(e))
        return None


# ---------------------------------------------------------------------------
# Requests


@dataclass
class Table:
    """Request data as columns: names (None when positional) and values."""

    names: list | None
    columns: list  # one sequence of values per column
    nrows: int
    flat: bool = False  # the request sent one flat list of values


def parse_request(raw_data):
    """Return (key, payload) of a request body. Raises BadRequest."""
    if isinstance(raw_data, (bytes, bytearray)):
        try:
            raw_data = raw_data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("request body is not valid UTF-8") from None
    try:
        body = json.loads(raw_data)
    except (TypeError, ValueError) as e:
        raise BadRequest(
            f"request body is not valid JSON ({_one_line(e)}); {ACCEPTED_FORMATS}"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest(f"request body is a JSON {_json_type(body)}; {ACCEPTED_FORMATS}")
    keys = [k for k in body if k != "params"]
    if len(keys) != 1 or keys[0] not in REQUEST_KEYS:
        got = ", ".join(_quote(k) for k in keys) or "none"
        raise BadRequest(f"request body has keys {got}; {ACCEPTED_FORMATS}")
    return keys[0], body[keys[0]]


def to_table(key, payload):
    """Return the Table for a request's payload. Raises BadRequest."""
    if key in ("input_data", "dataframe_split") and isinstance(payload, dict):
        if key == "dataframe_split" or "data" in payload:
            return _split_table(payload, key)
        return _columns_table(payload, key)
    if key == "inputs" and isinstance(payload, dict):
        return _columns_table(payload, key)
    if isinstance(payload, list):
        if key == "dataframe_records" or (payload and isinstance(payload[0], dict)):
            return _records_table(payload, key)
        if key != "dataframe_split":
            return _rows_table(payload, key, None)
    expected = {
        "dataframe_split": "an object with columns and data",
        "dataframe_records": "a list of objects",
        "instances": "a list",
    }.get(key, "a list or an object")
    raise BadRequest(f'"{key}" must be {expected}, got a JSON {_json_type(payload)}')


def _split_table(payload, where):
    names = payload.get("columns")
    data = payload.get("data")
    if data is None:
        raise BadRequest(f'"{where}" has no "data": expected {{"columns": [...], "data": [[...]]}}')
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names):
            raise BadRequest(f'"{where}.columns" must be a list of column names')
        names = [str(n) for n in names]
        if len(set(names)) != len(names):
            raise BadRequest(f'"{where}.columns" names a column twice')
    if not isinstance(data, list):
        raise BadRequest(f'"{where}.data" must be a list of rows, got a JSON {_json_type(data)}')
    table = _rows_table(data, f"{where}.data", names)
    index = payload.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != table.nrows):
        count = len(index) if isinstance(index, list) else "no"
        raise BadRequest(f'"{where}.index" has {count} entries for {table.nrows} rows')
    return table


def _rows_table(rows, where, names):
    if not rows:
        raise BadRequest(f'"{where}" is empty: there is nothing to score')
    flat = not any(isinstance(row, list) for row in rows)
    if flat:
        rows = [rows]  # a flat list of values is one row
    width = len(names) if names is not None else None
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise BadRequest(f'"{where}" row {i + 1} is a JSON {_json_type(row)}, expected a list')
        if width is None:
            width = len(row)
        if len(row) != width:
            expected = f"{width} (columns {_list_names(names)})" if names else f"{width} like row 1"
            raise BadRequest(f'"{where}" row {i + 1} has {len(row)} values, expected {expected}')
    return Table(names, list(zip(*rows)) if width else [], len(rows), flat)


def _records_table(records, where):
    if not records:
        raise BadRequest(f'"{where}" is empty: there is nothing to score')
    names = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadRequest(
                f'"{where}" item {i + 1} is a JSON {_json_type(record)}, expected an object'
            )
        names.update(dict.fromkeys(record))
    columns = [[record.get(name) for record in records] for name in names]
    return Table(list(names), columns, len(records))


def _columns_table(payload, where):
    if not payload:
        raise BadRequest(f'"{where}" is empty: there is nothing to score')
    values = list(payload.values())
    if not any(isinstance(v, list) for v in values):
        values = [[v] for v in values]  # {"a": 1, "b": 2} is one row
    nrows = None
    for name, column in zip(payload, values):
        if not isinstance(column, list):
            raise BadRequest(f'"{where}": column {_quote(name)} must be a list of values')
        if nrows is None:
            nrows = len(column)
        if len(column) != nrows:
            raise BadRequest(
                f'"{where}": column {_quote(name)} has {len(column)} values, '
                f"the first column has {nrows}"
            )
    if nrows == 0:
        raise BadRequest(f'"{where}" has no values: there is nothing to score')
    return Table(list(payload), values, nrows)


def build_frame(table, signature):
    """Return the DataFrame for ``table``, checked against column specs.

    Columns follow the signature's order; extra columns are dropped.
    Raises BadRequest naming the missing column or the bad value.
    """
    if signature is None:
        if table.names is None:
            return pd.DataFrame(dict(enumerate(table.columns)))
        return pd.DataFrame(dict(zip(table.names, table.columns)))

    specs = signature.inputs
    if table.names is None or signature.is_positional:
        if len(table.columns) != len(specs):
            raise BadRequest(
                f"each row must have {len(specs)} values ({_describe_all(specs)}), "
                f"got {len(table.columns)}"
            )
        pairs = list(zip(specs, table.columns))
    else:
        by_name = dict(zip(table.names, table.columns))
        pairs = []
        for spec in specs:
            if spec.name in by_name:
                pairs.append((spec, by_name[spec.name]))
            elif spec.required:
                raise BadRequest(
                    f"missing column {_quote(spec.name)}; "
                    f"the model's signature expects {_describe_all(specs)}"
                )
    frame = {}
    for i, (spec, values) in enumerate(pairs):
        label = _quote(spec.name) if spec.name is not None else str(i + 1)
        frame[spec.name if spec.name is not None else i] = column_array(spec, values, label)
    return pd.DataFrame(frame)


def column_array(spec, values, label=None):
    """Return ``values`` as a numpy array of the spec's column type.

    Numbers must be JSON numbers (not strings or booleans), integers must be
    whole and in range, null is allowed where pandas can hold it (double,
    float, string, binary, datetime). ``label`` names the column in errors
    (default: its name). Raises BadRequest naming the column and the value.
    """
    label = label or _quote(spec.name)
    kind = spec.type
    types = set(map(type, values))
    if kind in ("double", "float"):
        if type(None) in types:
            values = [math.nan if v is None else v for v in values]
            types = set(map(type, values))
        if not types <= {int, float}:
            _check_each(label, spec, values, _number_problem)
        try:
            array = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond 1e308
            _check_each(label, spec, values, _double_range_problem)
            raise
        if kind == "float":
            with np.errstate(over="ignore"):
                single = array.astype(np.float32)
            overflow = np.isinf(single) & np.isfinite(array)
            if overflow.any():
                _reject(label, spec, values, int(np.argmax(overflow)), "out of range")
            array = single
        return array
    if kind in ("long", "integer"):
        bits = 64 if kind == "long" else 32
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

        def problem(value):
            if not _is_integral(value):
                return "not a number" if not _is_number(value) else "not a whole number"
            return None if low <= value <= high else f"out of range for {kind}"

        if not types <= {int}:
            _check_each(label, spec, values, problem)
        try:
            array = np.array(values, dtype=np.int64)
        except OverflowError:
            _check_each(label, spec, values, problem)
            raise
        if bits == 32:
            outside = (array < low) | (array > high)
            if outside.any():
                _reject(label, spec, values, int(np.argmax(outside)), f"out of range for {kind}")
            array = array.astype(np.int32)
        return array
    if kind == "boolean":
        if not types <= {bool}:
            _check_each(label, spec, values, _boolean_problem)
        return np.array(values, dtype=bool)
    if kind == "string":
        if not types <= {str}:
            _check_each(label, spec, values, _string_problem)
        return np.array(values, dtype=object)
    if kind == "binary":
        _check_each(label, spec, values, _base64_problem)
        decoded = [None if v is None else base64.b64decode(v) for v in values]
        return np.array(decoded, dtype=object)
    if kind == "datetime":
        if not types <= {str}:
            _check_each(label, spec, values, _string_problem)
        try:
            return pd.to_datetime(values).to_numpy()
        except (ValueError, TypeError, OverflowError):
            _check_each(label, spec, values, _timestamp_problem)
            raise
    return np.array(values, dtype=object)  # an unchecked newer MLflow type


def _check_each(label, spec, values, problem_of):
    """Raise BadRequest for the first value whose problem_of() is not None."""
    for row, value in enumerate(values):
        problem = problem_of(value)
        if problem is not None:
            _reject(label, spec, values, row, problem)


def _reject(label, spec, values, row, problem):
    value = values[row]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value, problem = None, "missing value"  # NaN here was a JSON null
    raise BadRequest(
        f"column {label} expects {spec.type}, got {_show(value)} in row {row + 1}: {problem}"
    )


def _is_number(value):
    return type(value) in (int, float)


def _is_integral(value):
    return type(value) is int or (type(value) is float and value.is_integer())


def _number_problem(value):
    return None if _is_number(value) else "not a number"


def _boolean_problem(value):
    return None if type(value) is bool else "not true or false"


def _string_problem(value):
    return None if value is None or type(value) is str else "not a string"


def _double_range_problem(value):
    try:
        float(value)
    except OverflowError:
        return "out of range"
    return None


def _base64_problem(value):
    if value is None:
        return None
    if type(value) is not str:
        return "not a string"
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "not base64 text"
    return None


def _timestamp_problem(value):
    if value is None:
        return None
    try:
        pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return "not a date-time"
    return None


def build_tensors(key, payload, signature):
    """Return the numpy input for a tensor signature (a dict if named).

    Raises BadRequest for a value of the wrong type or a wrong shape.
    """
    specs = signature.inputs
    named = len(specs) > 1 or (
        specs[0].name is not None and isinstance(payload, dict) and specs[0].name in payload
    )
    if named:
        if not isinstance(payload, dict):
            raise BadRequest(
                f'"{key}" must be an object of named tensors: {_describe_all(specs)}'
            )
        tensors = {}
        for spec in specs:
            if spec.name not in payload:
                raise BadRequest(
                    f"missing tensor {_quote(spec.name)}; expected {_describe_all(specs)}"
                )
            tensors[spec.name] = tensor_array(spec, payload[spec.name], f"{key}.{spec.name}")
        return tensors

    if isinstance(payload, dict):
        if "data" in payload:  # the split form
            payload = payload["data"]
        else:
            raise BadRequest(f'"{key}" must be a list for {specs[0].describe()}')
    elif isinstance(payload, list) and payload and all(isinstance(r, dict) for r in payload):
        payload = [list(record.values()) for record in payload]
    return tensor_array(specs[0], payload, key)


def tensor_array(spec, value, where):
    """Return ``value`` as an array of the spec's dtype and shape."""
    try:
        array = np.array(value)
    except ValueError:
        raise BadRequest(f'"{where}" is ragged: every row must have the same length') from None
    target = spec.dtype.kind
    if target in "fc":
        accept, problem = _is_number, "not a number"
    elif target in "iu":
        accept, problem = _is_integral, "not an integer"
    elif target == "b":
        accept, problem = (lambda v: type(v) is bool), "not a boolean"
    else:
        accept, problem = (lambda v: type(v) is str), "not a string"
    allowed = {"f": "iuf", "c": "iuf", "i": "iu", "u": "iu", "b": "b"}.get(target, "U")
    if array.dtype.kind not in allowed:
        for path, item in _leaves(value, where):
            if not accept(item):
                raise BadRequest(
                    f"{spec.describe()} expects {spec.dtype.name}, "
                    f"got {_show(item)} at {path}: {problem}"
                )
    if len(spec.shape) != array.ndim or any(
        want not in (-1, got) for want, got in zip(spec.shape, array.shape)
    ):
        raise BadRequest(
            f'"{where}" has shape {tuple(array.shape)}, the model expects {spec.describe()} '
            "(-1: any size)"
        )
    if target in "USO":
        return array.astype(object)
    if target in "iu" and array.size:
        limits = np.iinfo(spec.dtype)
        outside = (array < limits.min) | (array > limits.max)
        if outside.any():
            value = array.ravel()[int(np.argmax(outside.ravel()))]
            raise BadRequest(
                f"{spec.describe()} expects {spec.dtype.name}, got {value} in {where}: out of range"
            )
    try:
        return array.astype(spec.dtype)
    except (ValueError, TypeError, OverflowError) as e:
        raise BadRequest(f"{spec.describe()}: cannot convert {where}: {_one_line(e)}") from None


def _leaves(value, path):
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def build_input(key, payload, signature):
    """Return what the model's predict gets for a parsed request."""
    if signature is not None and signature.is_tensor:
        return build_tensors(key, payload, signature)
    table = to_table(key, payload)
    if table.flat and signature is not None and len(signature.inputs) == 1:
        # With a single input column, a flat list holds that column's values.
        table = Table(table.names, [[v[0] for v in table.columns]], len(table.columns))
    return build_frame(table, signature)


def to_json_value(predictions):
    """Return model output as JSON-ready Python values (lists, numbers, str)."""
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series):
        predictions = predictions.to_numpy()
    array = np.asarray(predictions)
    if array.dtype.kind == "f" and np.isnan(array).any():
        array = np.where(np.isnan(array), None, array.astype(object))  # JSON has no NaN
    return array.tolist()


# ---------------------------------------------------------------------------
# Batch: CSV files in, one row per input row out

# Signature column types read from CSV as text, so that "007" stays a string.
_TEXT_TYPES = ("string", "binary", "datetime")


class FileError(Exception):
    """A mini-batch file cannot be scored; str() says why (without the file name)."""


def read_csv_file(path, signature):
    """Return the DataFrame of a CSV file with a header row.

    Columns the signature types as text are read as str; others as pandas
    infers them. Raises FileError for a file that is missing, empty, not
    UTF-8 or not a regular CSV (a row with more fields than the header).
    """
    dtype = None
    if signature is not None and not signature.is_tensor and not signature.is_positional:
        dtype = {spec.name: str for spec in signature.inputs if spec.type in _TEXT_TYPES} or None
    try:
        with warnings.catch_warnings():
            # index_col=False: a longer row is an error, not an index column.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, dtype=dtype, index_col=False)
    except OSError as e:
        raise FileError(f"cannot read it: {e.strerror or _one_line(e)}") from None
    except pd.errors.EmptyDataError:
        raise FileError("empty file: expected CSV with a header row") from None
    except UnicodeDecodeError as e:
        raise FileError(f"not UTF-8 text (byte offset {e.start})") from None
    except (ValueError, pd.errors.ParserWarning) as e:
        raise FileError(f"not a valid CSV file: {_one_line(e)}") from None


def _cell(value):
    """A CSV cell as a request value: missing (NaN) as None."""
    return None if isinstance(value, float) and math.isnan(value) else value


def csv_input(frame, signature, where):
    """Return what the model's predict gets for a CSV file's DataFrame.

    The columns are checked and converted like a request's (build_frame,
    build_tensors). ``where`` names the file in messages. Raises BadRequest.
    """
    if signature is None:
        return frame
    # tolist(): Python values, which the column checks expect (not numpy scalars).
    columns = [[_cell(v) for v in frame[name].tolist()] for name in frame.columns]
    if signature.is_tensor:
        return build_tensors(where, [list(row) for row in zip(*columns)], signature)
    names = [str(name) for name in frame.columns]
    return build_frame(Table(names, columns, len(frame)), signature)


def prediction_rows(label, predictions, nrows):
    """Return one CSV row per input row: [label, prediction field(s)...].

    Raises FileError when the model's output does not have one value (or
    one row of values) per input row.
    """
    if isinstance(predictions, pd.DataFrame):
        values = predictions.astype(object).where(predictions.notna(), None).values.tolist()
    else:
        values = to_json_value(predictions)
    if not isinstance(values, list) or len(values) != nrows:
        got = f"{len(values)} predictions" if isinstance(values, list) else "a single value"
        raise FileError(f"the model returned {got} for {nrows} rows")
    return [[label, *value] if isinstance(value, list) else [label, value] for value in values]


def score_csv_file(model, path):
    """Return the result rows of one CSV file. Raises FileError."""
    frame = read_csv_file(path, model.signature)
    if len(frame) == 0:
        raise FileError("no data rows under the header: there is nothing to score")
    label = os.path.basename(path)
    try:
        model_input = csv_input(frame, model.signature, label)
    except BadRequest as e:
        raise FileError(str(e)) from None
    try:
        predictions = model.predict(model_input)
    except (ValueError, TypeError, KeyError) as e:
        # Scikit-learn's way of refusing input, as for a request (400 online).
        log.info("the model refused %s", path, exc_info=True)
        raise FileError(f"the model cannot score this file: {_one_line(e)}") from None
    return prediction_rows(label, predictions, len(frame))


# ---------------------------------------------------------------------------
# Swagger

_JSON_TYPES = {
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
    "long": {"type": "integer", "format": "int64"},
    "integer": {"type": "integer", "format": "int32"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "binary": {"type": "string", "format": "byte"},
    "datetime": {"type": "string", "format": "date-time"},
}


def _dtype_schema(dtype):
    kind = dtype.kind
    if kind == "f":
        return {"type": "number", "format": "double" if dtype.itemsize >= 8 else "float"}
    if kind in "iu":
        return {"type": "integer", "format": "int64" if dtype.itemsize >= 8 else "int32"}
    if kind == "b":
        return {"type": "boolean"}
    if kind == "S":
        return {"type": "string", "format": "byte"}
    return {"type": "string"}


def _spec_schema(spec):
    if isinstance(spec, TensorSpec):
        schema = _dtype_schema(spec.dtype)
        for size in reversed(spec.shape):
            schema = {"type": "array", "items": schema}
            if size >= 0:
                schema.update(minItems=size, maxItems=size)
        return schema
    return dict(_JSON_TYPES.get(spec.type, {}))


def _input_schema(signature, version):
    if signature is None:
        return {"type": "object"}
    specs = signature.inputs
    if signature.is_tensor:
        if len(specs) == 1 and specs[0].name is None:
            data = _spec_schema(specs[0])
        else:
            data = {
                "type": "object",
                "required": [spec.name for spec in specs],
                "properties": {spec.name: _spec_schema(spec) for spec in specs},
            }
        data["description"] = f"input: {_describe_all(specs)}"
    else:
        cells = [_spec_schema(spec) for spec in specs]
        distinct = [dict(s) for s in {json.dumps(c, sort_keys=True): c for c in cells}.values()]
        if len(distinct) == 1:
            cell = distinct[0]
        elif version == 3:
            cell = {"oneOf": distinct}
        else:
            cell = {}
        row = {"type": "array", "items": cell, "minItems": len(specs), "maxItems": len(specs)}
        properties = {
            "index": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array", "items": row},
        }
        required = ["data"]
        if not signature.is_positional:
            names = [spec.name for spec in specs]
            properties = {
                "columns": {"type": "array", "items": {"type": "string", "enum": names}},
                **properties,
            }
            required.insert(0, "columns")
        data = {
            "type": "object",
            "required": required,
            "properties": properties,
            "description": f"rows of {_describe_all(specs)}, in this order",
        }
    return {"type": "object", "required": ["input_data"], "properties": {"input_data": data}}


def _output_schema(signature):
    outputs = signature.outputs if signature is not None else ()
    if len(outputs) == 1:
        spec = outputs[0]
        if isinstance(spec, TensorSpec):
            return _spec_schema(spec)
        return {"type": "array", "items": _spec_schema(spec)}
    if outputs and all(isinstance(s, ColumnSpec) and s.name is not None for s in outputs):
        return {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {spec.name: _spec_schema(spec) for spec in outputs},
            },
        }
    return {"type": "array", "items": {}}


def example_request(example, signature):
    """Return input_example.json rewritten as an input_data request, or None."""
    if isinstance(example, dict) and isinstance(example.get("dataframe_split"), dict):
        example = example["dataframe_split"]
    if isinstance(example, dict) and "data" in example and isinstance(example["data"], list):
        split = {"columns": example["columns"]} if "columns" in example else {}
        split["index"] = example.get("index") or list(range(len(example["data"])))
        split["data"] = example["data"]
        return {"input_data": split}
    if isinstance(example, dict):
        for key in ("inputs", "instances", "input_data"):
            if key in example:
                return example_request(example[key], signature)
    if isinstance(example, list) and example and all(isinstance(r, dict) for r in example):
        names = list(dict.fromkeys(k for record in example for k in record))
        rows = [[record.get(name) for name in names] for record in example]
        return {"input_data": {"columns": names, "index": list(range(len(rows))), "data": rows}}
    if example is None:
        return None
    return {"input_data": example}


def swagger_document(model, version=2):
    """Return the OpenAPI document (version 2 or 3) for ``model``."""
    version = 3 if str(version) == "3" else 2
    input_schema = _input_schema(model.signature, version)
    example = example_request(model.input_example, model.signature)
    if example is not None:
        input_schema["example"] = example
    schemas = {
        "ServiceInput": input_schema,
        "ServiceOutput": _output_schema(model.signature),
        "ErrorResponse": {"type": "object", "properties": {"message": {"type": "string"}}},
    }
    name = os.path.basename(os.path.normpath(model.folder))
    info = {
        "title": "MLflow model",
        "description": f"Predictions of the MLflow model in {name!r} ({model.flavor} flavor, "
        f"model_uuid {model.mlmodel.get('model_uuid', 'unknown')})",
        "version": "1.0",
    }
    security = {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "For example: Bearer abc123",
    }
    ok = "The predictions, one per input row."
    failed = "The request could not be scored; message says why."
    operation = {
        "operationId": "RunMLService",
        "description": "Score the model on the input rows",
        "security": [{"Bearer": []}],
    }
    if version == 2:
        operation["parameters"] = [
            {
                "name": "serviceInputPayload",
                "in": "body",
                "description": "The input rows",
                "required": True,
                "schema": {"$ref": "#/definitions/ServiceInput"},
            }
        ]
        operation["responses"] = {
            "200": {"description": ok, "schema": {"$ref": "#/definitions/ServiceOutput"}},
            "default": {"description": failed, "schema": {"$ref": "#/definitions/ErrorResponse"}},
        }
        return {
            "swagger": "2.0",
            "info": info,
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "securityDefinitions": {"Bearer": security},
            "paths": {"/score": {"post": operation}},
            "definitions": schemas,
        }

    def json_body(description, schema):
        ref = {"$ref": f"#/components/schemas/{schema}"}
        return {"description": description, "content": {"application/json": {"schema": ref}}}

    operation["requestBody"] = {**json_body("The input rows", "ServiceInput"), "required": True}
    operation["responses"] = {
        "200": json_body(ok, "ServiceOutput"),
        "default": json_body(failed, "ErrorResponse"),
    }
    return {
        "openapi": "3.0.1",
        "info": info,
        "paths": {"/score": {"post": operation}},
        "components": {"securitySchemes": {"Bearer": security}, "schemas": schemas},
    }


# ---------------------------------------------------------------------------
# The scoring-script entry points

_model = None


def init():
    """Find and load the MLflow model under AZUREML_MODEL_DIR."""
    global _model
    folder = find_model_folder(os.environ.get("AZUREML_MODEL_DIR"))
    _model = read_model(folder)
    signature = _model.signature
    described = _describe_all(signature.inputs) if signature else "no signature: input unchecked"
    log.info("loaded MLflow model %s, flavor %s; input: %s", folder, _model.flavor, described)


def run(raw_data):
    """Score one request; bad input gets AMLResponse(400), not an exception."""
    if _model is None:
        raise RuntimeError("mlflow_score.run() called before init()")
    try:
        key, payload = parse_request(raw_data)
        model_input = build_input(key, payload, _model.signature)
    except BadRequest as e:
        return _bad_request(str(e))
    try:
        predictions = _model.predict(model_input)
    except (ValueError, TypeError, KeyError) as e:
        # Scikit-learn's way of refusing input (NaN, wrong feature count...).
        log.info("the model refused the input", exc_info=True)
        return _bad_request(f"the model cannot score this input: {_one_line(e)}")
    return to_json_value(predictions)


def inferd_batch_run(mini_batch):
    """Score a batch mini-batch: a list of CSV file paths.

    Returns a MiniBatchResult: the rows of every file that could be scored,
    how many files were, and an error line per file that was not.
    """
    if _model is None:
        raise RuntimeError("mlflow_score.inferd_batch_run() called before init()")
    rows, succeeded, errors = [], 0, []
    for path in mini_batch:
        try:
            file_rows = score_csv_file(_model, path)
        except FileError as e:
            log.info("%s: %s", path, e)
            errors.append(f"{path}: {e}")
            continue
        rows.extend(file_rows)
        succeeded += 1
    return MiniBatchResult(rows, succeeded, errors)


def inferd_swagger(version):
    """Return the swagger document, built from the model's signature."""
    model = _model
    if model is None:
        model = read_model(find_model_folder(os.environ.get("AZUREML_MODEL_DIR")), load=False)
    return swagger_document(model, version)


def _bad_request(message):
    log.info("400: %s", message)
    # Imported here so the module also loads where the runtime is absent.
    from azureml.contrib.services.aml_response import AMLResponse

    # json_str: the body is json.dumps(message), sent as application/json.
    return AMLResponse({"message": message}, 400, json_str=True)


# ---------------------------------------------------------------------------
# Message helpers


def _quote(name):
    return f"'{name}'"


def _describe_all(specs):
    return ", ".join(spec.describe() for spec in specs)


def _list_names(names):
    return ", ".join(_quote(n) for n in names)


def _json_type(value):
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _show(value, limit=60):
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(error):
    return " ".join(str(error).split())
