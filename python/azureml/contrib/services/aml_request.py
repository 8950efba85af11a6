"""The raw request a ``@rawhttp`` scoring function receives.

``rawhttp`` marks ``run`` so that inferd's runtime passes it an
:class:`AMLRequest` instead of the decoded body. ``AMLRequest`` answers the
parts of Flask's request that scoring scripts use: ``method``, ``headers``
(case-insensitive), ``args``, ``data`` / ``get_data()``, ``get_json()``,
``path``, ``full_path``, ``url``, ``content_type``, ``mimetype``, ``stream``.
"""
import io
import json
import urllib.parse

from azureml.contrib.services._http import Args, Headers

__all__ = ["AMLRequest", "BadRequest", "rawhttp"]


class BadRequest(ValueError):
    """A client error found while reading the request (answered with HTTP 400)."""

    code = 400

    def __init__(self, description):
        super().__init__(description)
        self.description = description


def rawhttp(func):
    """Marks a scoring function as taking the raw :class:`AMLRequest`; returns func itself."""
    func.__inferd_rawhttp__ = True
    return func


def _media_type(content_type):
    return content_type.split(";", 1)[0].strip().lower() if content_type else ""


class AMLRequest:
    """One HTTP request to /score. Built by inferd's runtime; read-only for scripts."""

    def __init__(self, method="GET", path="/score", query="", headers=(), body=b"", content_type=None):
        self.method = method.upper()
        self.path = path
        self.query_string = query.encode("utf-8", "surrogateescape")
        self.headers = Headers(headers)
        self.args = Args(urllib.parse.parse_qsl(query, keep_blank_values=True))
        self._body = bytes(body)
        if content_type is None:
            content_type = self.headers.get("Content-Type")
        self.content_type = content_type or None
        self._json = None

    @property
    def full_path(self):
        """The path and query string, '?' included even when the query is empty (as Flask)."""
        return f"{self.path}?{self.query_string.decode('utf-8', 'surrogateescape')}"

    @property
    def host(self):
        return self.headers.get("Host", "localhost")

    @property
    def scheme(self):
        return self.headers.get("X-Forwarded-Proto", "http")

    @property
    def base_url(self):
        return f"{self.scheme}://{self.host}{self.path}"

    @property
    def url(self):
        query = self.query_string.decode("utf-8", "surrogateescape")
        return self.base_url + ("?" + query if query else "")

    @property
    def mimetype(self):
        return _media_type(self.content_type)

    @property
    def is_json(self):
        mt = self.mimetype
        return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))

    @property
    def data(self):
        return self._body

    @property
    def stream(self):
        return io.BytesIO(self._body)

    def get_data(self, cache=True, as_text=False, parse_form_data=False):
        """The body: bytes, or str (UTF-8, invalid bytes replaced) with as_text=True.

        The arguments are in Werkzeug's order, so ``get_data(as_text=True)`` and
        ``get_data(False, True)`` both work."""
        if as_text:
            return self._body.decode("utf-8", "replace")
        return self._body

    def get_json(self, force=False, silent=False, cache=True):
        """The body parsed as JSON.

        Without force, a request whose Content-Type is not JSON is refused: None
        with silent=True, else BadRequest. Malformed JSON: None with silent=True,
        else BadRequest naming the error."""
        if cache and self._json is not None:
            return self._json
        if not (force or self.is_json):
            if silent:
                return None
            raise BadRequest(
                f"expected Content-Type application/json, got {self.content_type or 'none'}"
            )
        try:
            value = json.loads(self._body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            if silent:
                return None
            raise BadRequest(f"the request body is not valid JSON: {e}") from None
        if cache:
            self._json = value
        return value

    @property
    def json(self):
        return self.get_json()

    def __repr__(self):
        return f"<AMLRequest {self.method} {self.url!r}>"
