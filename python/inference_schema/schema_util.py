"""Reading back what the schema decorators recorded on a function."""
from inference_schema.schema_decorators import INPUT_ATTR, OUTPUT_ATTR


def get_input_schema(func):
    """dict parameter name -> parameter type ({} when undecorated)."""
    return dict(getattr(func, INPUT_ATTR, {}))


def get_output_schema(func):
    """The output's parameter type, or None."""
    return getattr(func, OUTPUT_ATTR, None)


def is_schema_decorated(func):
    return bool(get_input_schema(func)) or get_output_schema(func) is not None
