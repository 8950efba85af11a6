"""input_schema and output_schema: declare a scoring function's inputs and output.

The decorated function still works when called directly: an argument given
as decoded JSON (list, dict, number, str) is converted to its parameter type
(when convert_to_provided_type), one that already has that type is passed
unchanged. The declarations are recorded on the returned function:

- ``__inferd_input_schema__``: dict parameter name -> parameter type
- ``__inferd_input_convert__``: dict parameter name -> convert_to_provided_type
- ``__inferd_input_optional__``: set of parameter names declared optional
- ``__inferd_output_schema__``: the output's parameter type

inferd's runtime reads them to map a JSON request body to run()'s parameters
and to build the Swagger document.
"""
import functools
import inspect

from inference_schema.parameter_types.abstract_parameter_type import AbstractParameterType

INPUT_ATTR = "__inferd_input_schema__"
CONVERT_ATTR = "__inferd_input_convert__"
OPTIONAL_ATTR = "__inferd_input_optional__"
OUTPUT_ATTR = "__inferd_output_schema__"

__all__ = ["input_schema", "output_schema"]


def _check_type(decorator, param_type):
    if not isinstance(param_type, AbstractParameterType):
        raise TypeError(
            f"{decorator}: the parameter type must be an AbstractParameterType (e.g. "
            f"NumpyParameterType(sample)), got {type(param_type).__name__}"
        )


def _position(signature, name):
    """The index of a parameter that can be passed positionally, else None."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for i, param in enumerate(signature.parameters.values()):
        if param.kind not in positional:
            return None
        if param.name == name:
            return i
    return None


def input_schema(param_name, param_type, convert_to_provided_type=True, optional=False):
    """Declares that the function's parameter param_name is described by param_type.

    Raises TypeError for a param_type that is not a parameter type, and
    ValueError (when decorating) if the function has no such parameter and no
    **kwargs."""
    _check_type("input_schema", param_type)

    def decorator(func):
        signature = inspect.signature(func)
        params = signature.parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if param_name not in params and not takes_kwargs:
            raise ValueError(
                f"input_schema: {getattr(func, '__name__', 'the function')}() has no parameter "
                f"{param_name!r} (parameters: {', '.join(params) or 'none'})"
            )
        position = _position(signature, param_name)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if convert_to_provided_type:
                if param_name in kwargs:
                    kwargs[param_name] = param_type.deserialize_input(kwargs[param_name])
                elif position is not None and position < len(args):
                    args = list(args)
                    args[position] = param_type.deserialize_input(args[position])
            return func(*args, **kwargs)

        # functools.wraps copied func's attributes by reference: build fresh ones.
        setattr(wrapper, INPUT_ATTR, {**getattr(func, INPUT_ATTR, {}), param_name: param_type})
        setattr(wrapper, CONVERT_ATTR,
                {**getattr(func, CONVERT_ATTR, {}), param_name: bool(convert_to_provided_type)})
        optional_names = set(getattr(func, OPTIONAL_ATTR, set()))
        if optional:
            optional_names.add(param_name)
        setattr(wrapper, OPTIONAL_ATTR, optional_names)
        return wrapper

    return decorator


def output_schema(output_type):
    """Declares the function's return value as described by output_type (for
    Swagger; the value itself is not converted). Returns the function itself."""
    _check_type("output_schema", output_type)

    def decorator(func):
        setattr(func, OUTPUT_ATTR, output_type)
        return func

    return decorator
