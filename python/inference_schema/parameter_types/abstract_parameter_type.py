"""The base class every parameter type derives from."""
import abc


class AbstractParameterType(abc.ABC):
    """Describes one input or output of a scoring function by a sample value.

    Subclasses turn a JSON-decoded value into the sample's type
    (deserialize_input) and describe it as a Swagger/JSON-schema fragment
    (input_to_swagger)."""

    def __init__(self, sample_input):
        self.sample_input = sample_input

    @abc.abstractmethod
    def deserialize_input(self, input_data):
        """input_data (decoded JSON) converted to the sample's type; an input that
        already has that type is returned unchanged. Raises ValueError or TypeError
        naming what does not match."""

    @abc.abstractmethod
    def input_to_swagger(self):
        """A JSON-schema dict: "type", then "items"/"properties"/"format" as fits,
        and "example" built from the sample."""

    def supported_versions(self):
        return ["2.0", "3.0"]
