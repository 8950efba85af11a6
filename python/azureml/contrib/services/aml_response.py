"""The response a scoring function may return to control status, body and headers.

``AMLResponse(message, status_code, response_headers=None, json_str=False)``:
with json_str=True the message is JSON-encoded (Content-Type
application/json); otherwise a str is sent UTF-8 encoded and bytes as they
are (Content-Type text/html; charset=utf-8 unless the headers name one, as
Flask's Response does).
"""
import json

from azureml.contrib.services._http import Headers

__all__ = ["AMLResponse"]

_DEFAULT_TEXT_TYPE = "text/html; charset=utf-8"
_JSON_TYPE = "application/json"


def _json_default(value):
    # numpy and pandas values, without importing either: duck typing.
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return value.to_dict(orient="records")
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class AMLResponse:
    """An HTTP response sent as-is by inferd's runtime."""

    def __init__(self, message, status_code, response_headers=None, json_str=False,
                 run_function_failed=False):
        self.status_code = int(status_code)
        self.headers = Headers(response_headers)
        self.run_function_failed = run_function_failed
        if json_str:
            body = json.dumps(message, default=_json_default)
            default_type = _JSON_TYPE
        else:
            body = message
            default_type = _DEFAULT_TEXT_TYPE
        self._data = self._encode(body)
        if "Content-Type" not in self.headers:
            self.headers.set("Content-Type", default_type)

    @staticmethod
    def _encode(body):
        if body is None:
            return b""
        if isinstance(body, str):
            return body.encode("utf-8")
        if isinstance(body, (bytes, bytearray, memoryview)):
            return bytes(body)
        return json.dumps(body, default=_json_default).encode("utf-8")

    @property
    def content_type(self):
        return self.headers.get("Content-Type")

    @property
    def mimetype(self):
        ct = self.content_type
        return ct.split(";", 1)[0].strip().lower() if ct else None

    @property
    def status(self):
        return str(self.status_code)

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, value):
        self._data = self._encode(value)

    def get_data(self, as_text=False):
        return self._data.decode("utf-8", "replace") if as_text else self._data

    def set_data(self, value):
        self._data = self._encode(value)

    def __repr__(self):
        return f"<AMLResponse {self.status_code} {len(self._data)} bytes>"
