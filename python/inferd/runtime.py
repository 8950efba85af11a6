"""inferd.runtime: Azure ML's scoring-script contract, driven by inferd's C worker.

The python backend (src/backends/python.c) starts an embedded CPython,
creates one Scorer per deployment in its load() and calls Scorer.score() for
every request; it only converts values between C and Python. Every rule of
the contract lives here:

- load: the code folder goes first on sys.path, the script is imported as a
  module named after its file, init() runs once; a conda_file's packages
  must be importable.
- score: a plain run() gets the body as str (GET: the query parameters as a
  JSON object string); an @input_schema run gets keyword arguments from a
  JSON object; a @rawhttp run gets an AMLRequest. The result is sent as-is
  (AMLResponse) or JSON-encoded. A run() parameter named request_headers
  receives the request headers.
- batch: path "/batch" (a batch instance) runs one mini-batch through
  inferd.batch: run(mini_batch) gets a list of file paths, or the script's
  inferd_batch_run(mini_batch) when it defines one (inferd's MLflow scorer).
- While a request is scored, every line the script writes to stdout or
  stderr (print, logging, tracebacks) is prefixed with "[<request id>] ".

One request at a time per process: the worker forks processes for
concurrency and enforces timeouts by killing them.
"""
import datetime
import importlib.util
import inspect
import io
import json
import os
import re
import sys
import threading
import traceback
import urllib.parse

from azureml.contrib.services.aml_request import AMLRequest, BadRequest
from inferd import batch
from azureml.contrib.services.aml_response import AMLResponse
from inference_schema.schema_decorators import CONVERT_ATTR, INPUT_ATTR, OPTIONAL_ATTR, OUTPUT_ATTR

__all__ = ["LoadError", "Scorer", "RequestLineStream", "conda_requirements", "import_name",
           "missing_packages", "query_values", "swagger_document"]

JSON_TYPE = "application/json"
CRASH_MESSAGE = "An unexpected error occurred in scoring script. Check the logs for more info."
# The C side keeps load errors in 512 bytes, its own prefix included.
LOAD_MESSAGE_MAX = 440
TRACEBACK_LINES = 10

# Headers the worker writes itself: an AMLResponse cannot set them.
_SERVER_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding", "connection",
                             "keep-alive", "x-ms-run-fn-exec-ms", "x-request-id"})


class LoadError(Exception):
    """The scoring script cannot be loaded; str() is the one message for the deployment."""


def _reply(status, body, content_type=JSON_TYPE, headers=()):
    return (status, content_type, body, list(headers))


def _message(status, text):
    """A {"message": text} reply, Azure's shape for scoring errors."""
    return _reply(status, json.dumps({"message": text}).encode())


_CRASH = _message(500, CRASH_MESSAGE)


# ---- stdout / stderr ----


class RequestLineStream(io.TextIOBase):
    """A text stream that writes through to target, prefixing each line with
    "[<request id>] " while a request is being scored (set_request).

    Partial lines wait for their newline (or the end of the request) so a
    prefix never lands mid-line. Thread-safe."""

    def __init__(self, target):
        super().__init__()
        self._target = target
        self._lock = threading.RLock()
        self._prefix = None
        self._pending = ""

    def set_request(self, request_id):
        """Starts prefixing with request_id, or stops with None (ending any partial line)."""
        with self._lock:
            if self._pending:
                self._target.write(self._prefix + self._pending + "\n")
                self._pending = ""
            self._prefix = None if request_id is None else f"[{request_id}] "
            self._target.flush()

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            if self._prefix is None:
                self._target.write(text)
            else:
                lines = (self._pending + text).split("\n")
                self._pending = lines.pop()
                if lines:
                    self._target.write("".join(f"{self._prefix}{line}\n" for line in lines))
        return len(text)

    def flush(self):
        with self._lock:
            self._target.flush()

    def close(self):
        # The worker owns the file descriptors: closing sys.stdout only flushes.
        self.flush()

    def writable(self):
        return True

    def fileno(self):
        return self._target.fileno()

    def isatty(self):
        return self._target.isatty()

    @property
    def encoding(self):
        return self._target.encoding

    @property
    def errors(self):
        return self._target.errors

    @property
    def buffer(self):
        return self._target.buffer

    @property
    def line_buffering(self):
        return True


_streams = []


def _install_streams():
    """Wraps sys.stdout and sys.stderr once per process."""
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if current is not None and not isinstance(current, RequestLineStream):
            stream = RequestLineStream(current)
            setattr(sys, name, stream)
            _streams.append(stream)


def _set_request(request_id):
    for stream in _streams:
        stream.set_request(request_id)


# ---- conda_file ----

# Shipped with inferd, or part of the interpreter: never looked for.
_IGNORED = frozenset({"python", "pip", "setuptools", "wheel", "inference-schema"})
_IGNORED_PREFIXES = ("azureml-",)
# Conda packages that are libraries or toolchains, not Python modules.
_NOT_PYTHON = frozenset({"blas", "ca-certificates", "cudatoolkit", "cudnn", "libgcc", "libgcc-ng",
                         "libstdcxx-ng", "mkl", "nccl", "nomkl", "openblas", "openssl"})
# Distribution names whose import name is not the name itself.
_IMPORT_NAMES = {
    "scikit-learn": "sklearn",
    "pyyaml": "yaml",
    "pillow": "PIL",
    "opencv-python": "cv2",
    "opencv-python-headless": "cv2",
    "opencv-contrib-python": "cv2",
    "python-dateutil": "dateutil",
    "beautifulsoup4": "bs4",
    "scikit-image": "skimage",
    "torch": "torch",
    "pytorch": "torch",
    "tensorflow": "tensorflow",
    "tensorflow-cpu": "tensorflow",
    "tensorflow-gpu": "tensorflow",
    "protobuf": "google.protobuf",
    "py-xgboost": "xgboost",
    "msgpack-python": "msgpack",
    "pyjwt": "jwt",
    "pyopenssl": "OpenSSL",
    "attrs": "attr",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _normalise(name):
    """A distribution name in canonical form (PEP 503): lower case, runs of -_. as '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec, pip):
    """The distribution named by a conda spec ("conda-forge::numpy>=1.2", "numpy 1.21.*")
    or a pip requirement ("joblib==1.1", "x[extra]; marker", "x @ https://..."), or None
    for what names no distribution (pip options, bare URLs, local paths)."""
    spec = spec.strip()
    if pip:
        if spec.startswith(("-", ".", "/", "~")):
            return None
        if "://" in spec:
            if "@" not in spec.split("://", 1)[0]:
                return None
            spec = spec.split("@", 1)[0]
    elif "::" in spec:
        spec = spec.split("::", 1)[1]
    match = _NAME.match(spec.strip())
    return match.group(0) if match else None


def conda_requirements(doc, source="conda_file"):
    """The distribution names a parsed conda environment file asks for, in order,
    without the ones inferd ignores (python, pip, setuptools, wheel, azureml-*,
    inference-schema, and conda-only libraries such as mkl). Raises LoadError
    when doc is not a conda environment."""
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise LoadError(f"{source}: expected a mapping with a 'dependencies' list, "
                        f"got {type(doc).__name__}")
    deps = doc.get("dependencies") or []
    if not isinstance(deps, list):
        raise LoadError(f"{source}: 'dependencies' must be a list, got {type(deps).__name__}")
    names = []
    for dep in deps:
        if isinstance(dep, str):
            names.append(_requirement_name(dep, pip=False))
        elif isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            names.extend(_requirement_name(p, pip=True) for p in dep["pip"] if isinstance(p, str))
    wanted, seen = [], set()
    for name in names:
        if name is None:
            continue
        key = _normalise(name)
        if key in _IGNORED or key in _NOT_PYTHON or key.startswith(_IGNORED_PREFIXES):
            continue
        if key not in seen:
            seen.add(key)
            wanted.append(name)
    return wanted


def import_name(distribution):
    """The module a distribution installs: a known alias (scikit-learn -> sklearn),
    azure-x-y -> azure.x.y, else the name in lower case with '-' as '_'."""
    key = _normalise(distribution)
    if key in _IMPORT_NAMES:
        return _IMPORT_NAMES[key]
    if key.startswith("azure-"):
        return key.replace("-", ".")
    return key.replace("-", "_")


def missing_packages(distributions, find_spec=importlib.util.find_spec):
    """The distributions whose module cannot be found on sys.path."""
    missing = []
    for dist in distributions:
        try:
            found = find_spec(import_name(dist)) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(dist)
    return missing


def _with_module(distribution):
    """"scikit-image (module skimage)" when the module name is not just the
    distribution's in lower case with '_' for '-'."""
    module = import_name(distribution)
    if module == _normalise(distribution).replace("-", "_"):
        return distribution
    return f"{distribution} (module {module})"


def _check_conda_file(path):
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise LoadError(f"conda_file {path}: cannot read it: {e.strerror or e}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise LoadError(f"conda_file {path}: not valid YAML: {' '.join(str(e).split())}") from None
    missing = missing_packages(conda_requirements(doc, f"conda_file {path}"))
    if not missing:
        return
    listed = ", ".join(_with_module(d) for d in missing)
    apt_name = "python3-" + _normalise(missing[0])
    raise LoadError(
        f"conda_file {path}: these packages are not installed on this machine: {listed}. "
        f"inferd does not install packages; install them with apt (e.g. {apt_name}) or pip "
        "into the system Python (python3.11 -m pip install --break-system-packages ...), "
        "see docs/python.md"
    )


# ---- load failures ----


def _exception_line(exc):
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _traceback_tail(exc, budget):
    """The last lines of exc's traceback in the user's code (not ours, not
    importlib's), at most TRACEBACK_LINES lines and budget characters."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename != __file__ and not f.filename.startswith("<frozen ")]
    lines = "".join(traceback.format_list(frames)).rstrip("\n").split("\n")
    tail = [line for line in lines if line][-TRACEBACK_LINES:]
    while tail and sum(len(line) + 1 for line in tail) > budget:
        tail.pop(0)
    return tail


def _failure(what, exc):
    """LoadError for an exception raised by the script: "<what>: Type: message",
    then the traceback's last lines; the whole traceback goes to stderr."""
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    head = f"{what}: {_exception_line(exc)}"
    tail = _traceback_tail(exc, LOAD_MESSAGE_MAX - len(head) - 1)
    return LoadError("\n".join([head] + tail))


# ---- requests and responses ----


def query_values(query):
    """The query string's parameters, each parsed as a JSON value when it is one
    (?n=3&x=[1,2]&s=abc -> {"n": 3, "x": [1, 2], "s": "abc"}); a repeated name keeps
    its last value."""
    values = {}
    for key, raw in urllib.parse.parse_qsl(query, keep_blank_values=True):
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def _headers_dict(headers):
    out = {}
    for name, value in headers:
        out[name] = out[name] + ", " + value if name in out else value
    return out


def _is_json(content_type):
    return content_type.split(";", 1)[0].strip().lower() == JSON_TYPE


def _json_default(value):
    library = type(value).__module__.split(".", 1)[0]
    if library == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    if library == "pandas":
        if hasattr(value, "columns") and hasattr(value, "to_dict"):
            return value.to_dict(orient="records")
        if hasattr(value, "isoformat"):
            return value.isoformat()
        if hasattr(value, "tolist"):
            return value.tolist()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(value):
    """value as JSON bytes, numpy and pandas values included. Raises TypeError
    (naming the type) or ValueError for what JSON cannot hold."""
    return json.dumps(value, default=_json_default).encode()


def _decode_body(body):
    """(text, None), or (None, a 400 reply) for a body that is not UTF-8."""
    try:
        return body.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return None, _message(
            400, f"the request body is not valid UTF-8 (byte 0x{body[e.start]:02x} at offset "
                 f"{e.start})")


def _aml_reply(response):
    status = response.status_code
    if not isinstance(status, int) or not 100 <= status <= 599:
        print(f"AMLResponse status_code {status!r} is not an HTTP status", file=sys.stderr)
        return _message(500, f"the scoring script answered with status {status!r}, which is not "
                             "an HTTP status")
    content_type = response.headers.get("Content-Type") or "text/html; charset=utf-8"
    headers = [(n, v) for n, v in response.headers.items() if n.lower() not in _SERVER_HEADERS]
    return _reply(status, bytes(response.get_data()), content_type, headers)


def _result_reply(result):
    if isinstance(result, AMLResponse):
        return _aml_reply(result)
    try:
        return _reply(200, to_json(result))
    except Exception as e:  # the default hook may call into numpy/pandas
        text = f"run() returned a value that cannot be serialised to JSON: {e}"
        print(text, file=sys.stderr)
        return _message(500, text)


# ---- swagger ----

_ERROR_SCHEMA = {"type": "object", "properties": {"message": {"type": "string"}}}
_UNDECLARED = {"type": "object", "example": {}}


def _input_schema(inputs, required):
    if inputs is None:
        return dict(_UNDECLARED)
    properties, examples = {}, {}
    for name, param_type in inputs:
        fragment = param_type.input_to_swagger()
        if "example" in fragment:
            examples[name] = fragment.pop("example")
        properties[name] = fragment
    schema = {"type": "object", "properties": properties, "example": examples}
    if required:
        schema["required"] = list(required)
    return schema


def swagger_document(version, title, inputs=None, required=(), output=None):
    """An OpenAPI document for /score: "swagger": "2.0" for version 2, "openapi":
    "3.0.1" for version 3. inputs: [(parameter name, parameter type)] from
    @input_schema, or None for an undeclared input; required: the names without
    a default; output: the @output_schema parameter type or None."""
    service_input = _input_schema(inputs, required)
    service_output = output.input_to_swagger() if output is not None else dict(_UNDECLARED)
    info = {"title": title, "description": f"API specification of {title}, served by inferd",
            "version": "1.0"}
    query_names = [name for name, _ in inputs] if inputs else []
    health = "Liveness check: answers 'Healthy' while the service runs."
    score = "Runs the scoring script on the input and returns its output."
    score_get = "Runs the scoring script with the query parameters as input (each a JSON value)."
    if version == 3:
        ref = "#/components/schemas/"

        def content(name):
            return {JSON_TYPE: {"schema": {"$ref": ref + name}}}

        responses = {
            "200": {"description": "The scoring script's output.", "content": content("ServiceOutput")},
            "default": {"description": "The request failed.", "content": content("ErrorResponse")},
        }
        query = [{"name": n, "in": "query", "required": n in required, "schema": {"type": "string"},
                  "description": "A JSON value."} for n in query_names]
        return {
            "openapi": "3.0.1",
            "info": info,
            "paths": {
                "/": {"get": {"operationId": "ServiceHealthCheck", "description": health,
                              "responses": {"200": {"description": "The service is up.",
                                                    "content": {"text/plain": {
                                                        "schema": {"type": "string"},
                                                        "example": "Healthy"}}}}}},
                "/score": {
                    "post": {"operationId": "RunMLService", "description": score,
                             "security": [{"Bearer": []}],
                             "requestBody": {"description": "The scoring script's input.",
                                             "required": True, "content": content("ServiceInput")},
                             "responses": responses},
                    "get": {"operationId": "RunMLServiceGet", "description": score_get,
                            "security": [{"Bearer": []}], "parameters": query,
                            "responses": responses},
                },
            },
            "components": {
                "schemas": {"ServiceInput": service_input, "ServiceOutput": service_output,
                            "ErrorResponse": _ERROR_SCHEMA},
                "securitySchemes": {"Bearer": {"type": "apiKey", "name": "Authorization",
                                               "in": "header",
                                               "description": "For example: Bearer abc123"}},
            },
        }
    ref = "#/definitions/"
    responses = {
        "200": {"description": "The scoring script's output.", "schema": {"$ref": ref + "ServiceOutput"}},
        "default": {"description": "The request failed.", "schema": {"$ref": ref + "ErrorResponse"}},
    }
    query = [{"name": n, "in": "query", "required": n in required, "type": "string",
              "description": "A JSON value."} for n in query_names]
    return {
        "swagger": "2.0",
        "info": info,
        "schemes": ["https", "http"],
        "consumes": [JSON_TYPE],
        "produces": [JSON_TYPE],
        "securityDefinitions": {"Bearer": {"type": "apiKey", "name": "Authorization", "in": "header",
                                           "description": "For example: Bearer abc123"}},
        "paths": {
            "/": {"get": {"operationId": "ServiceHealthCheck", "description": health,
                          "produces": ["text/plain"],
                          "responses": {"200": {"description": "The service is up.",
                                                "schema": {"type": "string"},
                                                "examples": {"text/plain": "Healthy"}}}}},
            "/score": {
                "post": {"operationId": "RunMLService", "description": score,
                         "security": [{"Bearer": []}],
                         "parameters": [{"name": "serviceInputPayload", "in": "body",
                                         "description": "The scoring script's input.",
                                         "schema": {"$ref": ref + "ServiceInput"}}],
                         "responses": responses},
                "get": {"operationId": "RunMLServiceGet", "description": score_get,
                        "security": [{"Bearer": []}], "parameters": query, "responses": responses},
            },
        },
        "definitions": {"ServiceInput": service_input, "ServiceOutput": service_output,
                        "ErrorResponse": _ERROR_SCHEMA},
    }


# ---- the scorer ----

_entry_names = set()  # sys.modules names this process gave to scoring scripts


class Scorer:
    """One loaded scoring script.

    Scorer(script_path, code_dir=None, conda_file=None, timeout_ms=0) checks the
    conda file, imports the script and runs its init(); raises LoadError with the
    message for the deployment. code_dir defaults to the script's folder;
    timeout_ms is informational (the worker enforces it)."""

    def __init__(self, script_path, code_dir=None, conda_file=None, timeout_ms=0):
        self.script_path = os.path.abspath(script_path)
        self.code_dir = os.path.abspath(code_dir) if code_dir else os.path.dirname(self.script_path)
        self.timeout_ms = int(timeout_ms or 0)
        self.module = None
        self.module_name = None
        self._added_paths = []
        self._swagger_cache = {}
        _install_streams()
        if not os.path.isfile(self.script_path):
            raise LoadError(f"{self.script_path}: scoring script not found")
        self._add_paths()
        if conda_file:
            _check_conda_file(conda_file)
        self.module = self._import()
        self.run = getattr(self.module, "run", None)
        if not callable(self.run):
            raise LoadError(f"{self.script_path}: defines no run() function (a scoring script "
                            "needs init() and run(raw_data), or run(mini_batch) for batch)")
        hook = getattr(self.module, "inferd_batch_run", None)
        self.batch_run = hook if callable(hook) else self.run
        self._inspect_run()
        init = getattr(self.module, "init", None)
        if init is not None:
            if not callable(init):
                raise LoadError(f"{self.script_path}: init is not a function")
            try:
                init()
            except BaseException as e:
                raise _failure(f"{self.script_path}: init() failed", e) from None

    # ---- loading ----

    def _add_paths(self):
        script_dir = os.path.dirname(self.script_path)
        for position, path in enumerate(dict.fromkeys([self.code_dir, script_dir])):
            if path not in sys.path[:position + 1]:
                sys.path.insert(position, path)
                self._added_paths.append(path)

    def _module_name(self):
        stem = os.path.splitext(os.path.basename(self.script_path))[0]
        existing = sys.modules.get(stem)
        if existing is None or stem in _entry_names:
            return stem
        return f"inferd_entry_{re.sub(r'[^0-9A-Za-z_]', '_', stem)}"

    def _import(self):
        name = self._module_name()
        spec = importlib.util.spec_from_file_location(name, self.script_path)
        if spec is None or spec.loader is None:
            raise LoadError(f"{self.script_path}: cannot import it (is it a .py file?)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        _entry_names.add(name)
        try:
            spec.loader.exec_module(module)
        except BaseException as e:
            if sys.modules.get(name) is module:
                del sys.modules[name]
            raise _failure(f"{self.script_path}: import failed", e) from None
        self.module_name = name
        return module

    def _inspect_run(self):
        run = self.run
        try:
            params = inspect.signature(run).parameters
        except (TypeError, ValueError):
            params = {}
        kinds = inspect.Parameter
        self.wants_headers = "request_headers" in params
        self.takes_kwargs = any(p.kind is kinds.VAR_KEYWORD for p in params.values())
        named = [p for p in params.values()
                 if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)
                 and p.name != "request_headers"]
        self.param_names = [p.name for p in named]
        self.required = [p.name for p in named if p.default is kinds.empty]
        self.input_schema = dict(getattr(run, INPUT_ATTR, {}))
        self.convert = dict(getattr(run, CONVERT_ATTR, {}))
        self.optional = set(getattr(run, OPTIONAL_ATTR, set()))
        self.output_schema = getattr(run, OUTPUT_ATTR, None)
        if getattr(run, "__inferd_rawhttp__", False):
            self.mode = "raw"
        elif self.input_schema:
            self.mode = "schema"
        else:
            self.mode = "plain"

    def close(self):
        """Forgets the script: its sys.modules entry and the sys.path entries added for it."""
        if self.module_name and sys.modules.get(self.module_name) is self.module:
            del sys.modules[self.module_name]
        for path in self._added_paths:
            try:
                sys.path.remove(path)
            except ValueError:
                pass
        self._added_paths = []

    # ---- scoring ----

    def score(self, method, path, query, content_type, headers, body, request_id):
        """Scores one request: method ("GET", "POST"), path, query (without '?'),
        content_type ("" if none), headers as a list of (name, value), body (bytes),
        request_id. Returns (status, content_type, body bytes, [(name, value)] headers
        to add). Never raises: the script's errors become 4xx/500 replies.

        Path "/batch" (only a batch instance routes it here) runs the mini-batch
        the JSON body describes: see inferd.batch.run_mini_batch."""
        _set_request(request_id)
        try:
            if path == batch.BATCH_PATH:
                return batch.run_mini_batch(self.batch_run, bytes(body))
            return self._score(method.upper(), path, query, content_type or "", headers,
                               bytes(body))
        finally:
            _set_request(None)

    def _score(self, method, path, query, content_type, headers, body):
        try:
            if self.mode == "raw":
                request = AMLRequest(method, path, query, headers, body, content_type or None)
                result = self.run(request)
            else:
                if self.mode == "schema":
                    args, kwargs, error = self._schema_args(method, query, content_type, body)
                else:
                    args, kwargs, error = self._plain_args(method, query, body)
                if error is not None:
                    return error
                if self.wants_headers:
                    kwargs["request_headers"] = _headers_dict(headers)
                result = self.run(*args, **kwargs)
        except BadRequest as e:
            return _message(400, e.description)
        except BaseException:
            traceback.print_exc()
            return _CRASH
        return _result_reply(result)

    def _plain_args(self, method, query, body):
        if method == "GET":
            return (json.dumps(query_values(query)),), {}, None
        text, error = _decode_body(body)
        return (text,), {}, error

    def _schema_args(self, method, query, content_type, body):
        if method == "GET":
            values = query_values(query)
        else:
            if not _is_json(content_type):
                return None, None, _message(
                    415, f"Content-Type must be application/json (run() declares @input_schema), "
                         f"got {content_type or 'none'}")
            text, error = _decode_body(body)
            if error is not None:
                return None, None, error
            try:
                values = json.loads(text)
            except ValueError as e:
                return None, None, _message(400, f"the request body is not valid JSON: {e}")
            if not isinstance(values, dict):
                return None, None, _message(
                    400, "the request body must be a JSON object whose keys are run()'s "
                         f"parameters ({', '.join(self.param_names)}), got a "
                         f"{_json_kind(values)}")
        kwargs = {}
        for key, value in values.items():
            if key not in self.param_names and not self.takes_kwargs:
                return None, None, _message(
                    400, f"unknown input '{key}': run() has no such parameter (parameters: "
                         f"{', '.join(self.param_names)})")
            kwargs[key] = value
        for name in self.required:
            if name not in kwargs:
                return None, None, _message(400, f"missing input '{name}': run() requires it")
        for name, param_type in self.input_schema.items():
            if name in kwargs and self.convert.get(name, True):
                try:
                    kwargs[name] = param_type.deserialize_input(kwargs[name])
                except Exception as e:
                    return None, None, _message(400, f"input '{name}': {e}")
        return (), kwargs, None

    # ---- swagger ----

    def swagger(self, version):
        """The OpenAPI document (version 2 or 3) as a reply tuple like score()'s:
        a swagger3.json (version 3) or swagger2.json / swagger.json (version 2)
        beside the script as-is, else the script's inferd_swagger(version) if it
        defines one, else a document generated from the schema decorators."""
        version = 3 if version == 3 else 2
        try:
            if version not in self._swagger_cache:
                self._swagger_cache[version] = self._swagger(version)
            return _reply(200, self._swagger_cache[version])
        except Exception as e:
            traceback.print_exc()
            return _message(500, f"cannot build the Swagger document: {_exception_line(e)}")

    def _swagger(self, version):
        names = ["swagger3.json"] if version == 3 else ["swagger2.json", "swagger.json"]
        folder = os.path.dirname(self.script_path)
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    return f.read()
        hook = getattr(self.module, "inferd_swagger", None)
        document = hook(version) if callable(hook) else None
        if document is None:
            inputs = None
            if self.input_schema:
                order = self.param_names + sorted(set(self.input_schema) - set(self.param_names))
                inputs = [(n, self.input_schema[n]) for n in order if n in self.input_schema]
            required = [n for n in self.required
                        if n in self.input_schema and n not in self.optional]
            title = os.path.basename(self.script_path)
            document = swagger_document(version, title, inputs, required, self.output_schema)
        return json.dumps(document, indent=2).encode()


def _json_kind(value):
    if isinstance(value, list):
        return "JSON array"
    if isinstance(value, str):
        return "JSON string"
    if isinstance(value, bool):
        return "JSON boolean"
    if value is None:
        return "JSON null"
    return "JSON number"
