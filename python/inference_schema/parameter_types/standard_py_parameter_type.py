"""StandardPythonParameterType: an input made of plain Python values.

The sample may nest other parameter types in a dict or a list, e.g.
``StandardPythonParameterType({"a": NumpyParameterType(arr), "b": 1.0})``:
those parts are converted by their own type, the rest passes through.
"""
import datetime

from inference_schema.parameter_types._swagger import example, value_schema
from inference_schema.parameter_types.abstract_parameter_type import AbstractParameterType


def _has_types(sample):
    values = sample.values() if isinstance(sample, dict) else sample
    return any(isinstance(v, AbstractParameterType) for v in values)


class StandardPythonParameterType(AbstractParameterType):
    """A value like sample_input: str, int, float, bool, date/time, or a dict or
    list of those and of other parameter types."""

    def deserialize_input(self, input_data):
        sample = self.sample_input
        if isinstance(sample, dict) and _has_types(sample):
            return self._dict(input_data)
        if isinstance(sample, (list, tuple)) and sample and _has_types(sample):
            return self._list(input_data)
        return self._scalar(sample, input_data)

    def _dict(self, data):
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        out = dict(data)
        for key, part in self.sample_input.items():
            if isinstance(part, AbstractParameterType) and key in out:
                try:
                    out[key] = part.deserialize_input(out[key])
                except (TypeError, ValueError) as e:
                    raise ValueError(f"{key}: {e}") from None
        return out

    def _list(self, data):
        if not isinstance(data, (list, tuple)):
            raise ValueError(f"expected a JSON array, got {type(data).__name__}")
        sample = self.sample_input
        out = []
        for i, item in enumerate(data):
            # One sample element describes every element; several describe by position.
            part = sample[0] if len(sample) == 1 else sample[i] if i < len(sample) else None
            if isinstance(part, AbstractParameterType):
                try:
                    item = part.deserialize_input(item)
                except (TypeError, ValueError) as e:
                    raise ValueError(f"[{i}]: {e}") from None
            out.append(item)
        return out

    @staticmethod
    def _scalar(sample, data):
        if isinstance(sample, float) and isinstance(data, int) and not isinstance(data, bool):
            return float(data)
        if isinstance(data, str):
            try:
                if isinstance(sample, datetime.datetime):
                    return datetime.datetime.fromisoformat(data)
                if isinstance(sample, datetime.date):
                    return datetime.date.fromisoformat(data)
                if isinstance(sample, datetime.time):
                    return datetime.time.fromisoformat(data)
            except ValueError:
                raise ValueError(f"{data!r} is not an ISO 8601 date/time") from None
        return data

    def input_to_swagger(self):
        schema = value_schema(self.sample_input)
        schema["example"] = example(self.sample_input)
        return schema
