"""JSON-schema fragments and JSON-ready examples for sample values.

numpy and pandas are recognised by their module name, so describing a plain
Python sample never imports them.
"""
import base64
import datetime
import json


def _library(value):
    return type(value).__module__.split(".", 1)[0]


def dtype_schema(dtype):
    """The JSON-schema fragment of one element of a numpy dtype."""
    if dtype.names:
        return {
            "type": "object",
            "properties": {name: dtype_schema(dtype.fields[name][0]) for name in dtype.names},
        }
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        schema = dtype_schema(base)
        for _ in shape:
            schema = {"type": "array", "items": schema}
        return schema
    kind = dtype.kind
    if kind == "b":
        return {"type": "boolean"}
    if kind == "i":
        return {"type": "integer", "format": "int64" if dtype.itemsize >= 8 else "int32"}
    if kind == "u":
        return {"type": "integer", "format": "int64" if dtype.itemsize >= 4 else "int32"}
    if kind == "f":
        return {"type": "number", "format": "double" if dtype.itemsize >= 8 else "float"}
    if kind in "US":
        return {"type": "string"}
    if kind == "M":
        return {"type": "string", "format": "date-time"}
    if kind == "m":
        return {"type": "string", "format": "timedelta"}
    return {"type": "object"}


def value_schema(value):
    """The JSON-schema fragment describing a sample value (plain Python, a
    parameter type, a numpy array or a pandas DataFrame), without example."""
    from inference_schema.parameter_types.abstract_parameter_type import AbstractParameterType

    if isinstance(value, AbstractParameterType):
        return value.input_to_swagger()
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer", "format": "int64"}
    if isinstance(value, float):
        return {"type": "number", "format": "double"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, (bytes, bytearray)):
        return {"type": "string", "format": "byte"}
    if isinstance(value, datetime.datetime):
        return {"type": "string", "format": "date-time"}
    if isinstance(value, datetime.date):
        return {"type": "string", "format": "date"}
    if isinstance(value, datetime.time):
        return {"type": "string", "format": "time"}
    if isinstance(value, dict):
        return {
            "type": "object",
            "required": [str(k) for k in value],
            "properties": {str(k): value_schema(v) for k, v in value.items()},
        }
    if isinstance(value, (list, tuple)):
        return {"type": "array", "items": value_schema(value[0]) if value else {}}
    library = _library(value)
    if library == "numpy" and hasattr(value, "shape"):
        if value.shape == ():
            return dtype_schema(value.dtype)
        from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType

        return _without_example(NumpyParameterType(value).input_to_swagger())
    if library == "pandas" and hasattr(value, "columns"):
        from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType

        return _without_example(PandasParameterType(value).input_to_swagger())
    return {"type": "object"}


def _without_example(schema):
    schema.pop("example", None)
    return schema


def _records(data, names):
    """Rows of a structured numpy array (tuples in nested lists) as dicts."""
    if isinstance(data, tuple):
        return dict(zip(names, data))
    return [_records(item, names) for item in data]


def example(value):
    """value as JSON-ready data: what a client would send for it."""
    from inference_schema.parameter_types.abstract_parameter_type import AbstractParameterType

    if isinstance(value, AbstractParameterType):
        return value.input_to_swagger().get("example")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): example(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [example(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    library = _library(value)
    if library == "numpy" and hasattr(value, "dtype"):
        if value.dtype.names:
            return example(_records(value.tolist(), value.dtype.names))
        return example(value.tolist())
    if library == "pandas" and hasattr(value, "to_json"):
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
