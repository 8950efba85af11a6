"""NumpyParameterType: an input that is a numpy array shaped like a sample."""
import numpy as np

from inference_schema.parameter_types._swagger import dtype_schema, example
from inference_schema.parameter_types.abstract_parameter_type import AbstractParameterType


def _shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _as_records(data, depth, names):
    """Structured-dtype rows given as JSON objects or arrays, as tuples for numpy."""
    if depth == 0:
        if isinstance(data, dict):
            return tuple(data.get(name) for name in names)
        if isinstance(data, list):
            return tuple(data)
        return data
    if not isinstance(data, list):
        raise ValueError(f"expected a JSON array at depth {depth}, got {type(data).__name__}")
    return [_as_records(item, depth - 1, names) for item in data]


class NumpyParameterType(AbstractParameterType):
    """A numpy array like sample_input.

    enforce_column_type: convert the input to the sample's dtype (else let numpy
    infer one). enforce_shape: the input has the sample's number of dimensions
    and the same size in every dimension but the first (the batch)."""

    def __init__(self, sample_input, enforce_column_type=True, enforce_shape=True):
        if not isinstance(sample_input, np.ndarray):
            raise TypeError(
                "NumpyParameterType: sample_input must be a numpy array, got "
                f"{type(sample_input).__name__}"
            )
        super().__init__(sample_input)
        self.enforce_column_type = enforce_column_type
        self.enforce_shape = enforce_shape

    def deserialize_input(self, input_data):
        if isinstance(input_data, np.ndarray):
            return input_data
        sample = self.sample_input
        if not isinstance(input_data, list):
            raise ValueError(
                f"expected a JSON array (numpy array shaped like {_shape_text(sample.shape)}), "
                f"got {type(input_data).__name__}"
            )
        data = input_data
        if sample.dtype.names:
            data = _as_records(input_data, sample.ndim, sample.dtype.names)
        try:
            array = np.array(data, dtype=sample.dtype if self.enforce_column_type else None)
        except (TypeError, ValueError) as e:
            raise ValueError(f"cannot convert the input to a {sample.dtype} array: {e}") from None
        if self.enforce_shape:
            self._check_shape(array.shape)
        return array

    def _check_shape(self, shape):
        expected = self.sample_input.shape
        if len(shape) != len(expected) or tuple(shape[1:]) != tuple(expected[1:]):
            wanted = ("n",) + tuple(expected[1:]) if expected else ()
            raise ValueError(
                f"the input has shape {_shape_text(shape)}, the schema expects "
                f"{_shape_text(wanted)} (like the sample, any number of rows)"
            )

    def input_to_swagger(self):
        sample = self.sample_input
        schema = dtype_schema(sample.dtype)
        for _ in range(sample.ndim):
            schema = {"type": "array", "items": schema}
        schema["example"] = example(sample)
        return schema
