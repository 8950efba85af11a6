"""inferd.batch: one mini-batch of a batch job, run in a scoring process.

A batch instance (``inferd worker --batch``) hands the body of ``POST /batch``
to Scorer.score() with path "/batch", which calls run_mini_batch() here:

- the body names the mini-batch's files, its output action and the result
  file: ``{"job": "...", "mini_batch": 42, "attempt": 1, "files": [...],
  "output_action": "append_row", "result_dir": "/.../jobs/<id>/results"}``;
- the script's ``run(mini_batch)`` gets the files as a list of str paths
  (``init()`` ran once per worker, before the scoring processes forked);
- with append_row, what run() returned is written as CSV rows (Python's csv
  module, "\\n" line ends, no header) and appended, in one write, to this
  process's results segment ``result_dir/seg-<pid>.csv``; the answer says
  where (segment, offset, bytes) and the server's ledger records it. A
  mini-batch that fails or is cut short leaves at most unrecorded bytes at
  the segment's end, which nothing reads. Segments are not fsync-ed here: a
  restart reruns any mini-batch whose recorded bytes a power cut lost, so
  durability costs one sync per job (of its output) instead of a file and
  two syncs per mini-batch;
- with summary_only nothing is written: the script writes its own files to
  ``AZUREML_BI_OUTPUT_PATH``, which the server sets;
- the answer is 200 ``{"rows", "segment", "offset", "bytes", "succeeded",
  "failed", "errors"}``, or 500
  ``{"message": "<Type>: <text>", "traceback": "..."}`` when run() raised.

What run() may return: a list (or tuple, numpy array, pandas Series) with
one element per file it scored; a list/tuple/array element is one row of
fields, a dict one row of its values, anything else one field str(element).
A pandas DataFrame: one row per DataFrame row. None: no results. A
MiniBatchResult, for an entry point that counts its successes itself
(inferd's MLflow scorer: one row per input row, a file counted once).

One mini-batch at a time per process; the worker kills a process whose
mini-batch runs past its timeout.
"""
import csv
import io
import json
import os
import sys
import time
import traceback

__all__ = ["BATCH_PATH", "BadMiniBatch", "MiniBatch", "MiniBatchResult", "OUTPUT_ACTIONS",
           "append_result", "csv_bytes", "parse_request", "run_mini_batch", "to_row"]

BATCH_PATH = "/batch"
OUTPUT_ACTIONS = ("append_row", "summary_only")
JSON_TYPE = "application/json"
TRACEBACK_FRAMES = 10
MESSAGE_MAX = 2000

# Frames of these files are inferd's, not the script's: left out of tracebacks.
_OWN_FILES = frozenset({os.path.abspath(__file__),
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime.py")})


class BadMiniBatch(ValueError):
    """The request body does not describe a mini-batch; answered with 400."""


class MiniBatchResult:
    """What a batch entry point returns when it counts successes itself.

    rows: the rows to append (each a list of fields), succeeded: how many of
    the mini-batch's files were scored, errors: one line per failure, for
    the job's error file (the driver prefixes them with the mini-batch)."""

    __slots__ = ("rows", "succeeded", "errors")

    def __init__(self, rows=(), succeeded=0, errors=()):
        self.rows = list(rows)
        self.succeeded = int(succeeded)
        self.errors = [str(e) for e in errors]

    def __repr__(self):
        return (f"MiniBatchResult(rows={len(self.rows)}, succeeded={self.succeeded}, "
                f"errors={self.errors!r})")


class MiniBatch:
    """A parsed POST /batch body."""

    __slots__ = ("job", "number", "attempt", "files", "output_action", "result_dir")

    def __init__(self, job, number, attempt, files, output_action, result_dir):
        self.job = job
        self.number = number
        self.attempt = attempt
        self.files = files
        self.output_action = output_action
        self.result_dir = result_dir


def _reply(status, document):
    return (status, JSON_TYPE, json.dumps(document).encode(), [])


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_request(body):
    """The MiniBatch a request body (bytes or str) describes. Raises BadMiniBatch
    naming the field at fault."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadMiniBatch(f"the request body is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadMiniBatch("the request body must be a JSON object with files, mini_batch, "
                           "output_action and result_dir")
    files = doc.get("files")
    if not isinstance(files, list):
        raise BadMiniBatch("files must be a list of file paths")
    for i, path in enumerate(files):
        if not isinstance(path, str) or not path or "\0" in path:
            raise BadMiniBatch(f"files[{i}] must be a non-empty path string, got {path!r:.80}")
    number = doc.get("mini_batch")
    if not _is_int(number) or number < 0:
        raise BadMiniBatch(f"mini_batch must be a non-negative integer, got {number!r:.80}")
    attempt = doc.get("attempt", 1)
    if not _is_int(attempt) or attempt < 1:
        raise BadMiniBatch(f"attempt must be a positive integer, got {attempt!r:.80}")
    job = doc.get("job", "")
    if not isinstance(job, str):
        raise BadMiniBatch(f"job must be a string, got {job!r:.80}")
    action = doc.get("output_action")
    if action not in OUTPUT_ACTIONS:
        raise BadMiniBatch(f"output_action must be one of {', '.join(OUTPUT_ACTIONS)}, "
                           f"got {action!r:.80}")
    result_dir = doc.get("result_dir")
    if action == "append_row":
        if (not isinstance(result_dir, str) or not os.path.isabs(result_dir)
                or "\0" in result_dir):
            raise BadMiniBatch("result_dir must be the absolute path of the job's results "
                               f"folder (output_action append_row), got {result_dir!r:.200}")
    else:
        result_dir = None
    return MiniBatch(job, number, attempt, list(files), action, result_dir)


# ---- what run() returned ----


def _library_type(value, module, name):
    """isinstance(value, module.name) if that library is loaded (no import here:
    a value of a library nobody imported cannot exist)."""
    library = sys.modules.get(module)
    cls = getattr(library, name, None) if library is not None else None
    return cls is not None and isinstance(value, cls)


def _is_dataframe(value):
    return _library_type(value, "pandas", "DataFrame")


def _is_series(value):
    return _library_type(value, "pandas", "Series")


def _is_array(value):
    return _library_type(value, "numpy", "ndarray")


def to_row(element):
    """The CSV fields of one returned element: a list, tuple or array's items, a
    dict's values in order, else [str(element)]."""
    if isinstance(element, (list, tuple)):
        return list(element)
    if isinstance(element, dict):
        return list(element.values())
    if _is_array(element) or _is_series(element):
        items = element.tolist()
        return items if isinstance(items, list) else [str(items)]
    return [str(element)]


def _dataframe_rows(frame):
    # Missing values (NaN, None, NaT) as empty fields, as pandas writes them.
    cells = frame.astype(object).where(frame.notna(), None)
    return [list(row) for row in cells.itertuples(index=False, name=None)]


def _results(result, want_rows):
    """(rows, number of results) for run()'s return value; rows is empty unless
    want_rows. Raises TypeError for a value that is not a list of results."""
    if result is None:
        return [], 0
    if _is_dataframe(result):
        return _dataframe_rows(result) if want_rows else [], len(result)
    if isinstance(result, (list, tuple)) or _is_series(result) or (
            _is_array(result) and result.ndim >= 1):
        elements = result.tolist() if _is_series(result) or _is_array(result) else result
        return [to_row(e) for e in elements] if want_rows else [], len(elements)
    raise TypeError(f"run() returned a {type(result).__name__}; a batch run(mini_batch) returns "
                    "a list (one element per file it scored) or a pandas DataFrame")


# ---- the result file ----


def _field(value):
    """A CSV field as the csv module writes it (None empty, numbers as such),
    anything else as its str()."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)


_segments = {}  # this process's open segment per results folder


def csv_bytes(rows):
    """rows as CSV text in UTF-8: Python's csv module, "\\n" line ends."""
    out = io.StringIO(newline="")
    minimal = csv.writer(out, lineterminator="\n")
    # The csv module quotes a field holding "\n" but not one holding a lone
    # "\r" (not part of the line terminator), which readers take for a line
    # end: such rows get every field quoted.
    quote_all = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        fields = [_field(value) for value in row]
        has_cr = any(isinstance(v, str) and "\r" in v for v in fields)
        (quote_all if has_cr else minimal).writerow(fields)
    return out.getvalue().encode("utf-8")


def append_result(folder, rows):
    """Appends rows as CSV to this process's segment in folder, in one write.
    Returns (segment name, offset, bytes). Each process appends only to its
    own segment, so the offset is the file's end before the write."""
    data = csv_bytes(rows)
    name = f"seg-{os.getpid()}.csv"
    path = os.path.join(folder, name)
    fd = _segments.get(path)
    if fd is None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        _segments[path] = fd
    offset = os.lseek(fd, 0, os.SEEK_END)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return name, offset, len(data)


# ---- failures ----


def _one_line(text):
    text = " ".join(str(text).split())
    return text if len(text) <= MESSAGE_MAX else text[:MESSAGE_MAX - 3] + "..."


def exception_message(exc):
    """ "<Type>: <text>" on one line, or just the type's name when str() is empty."""
    try:
        text = _one_line(exc)
    except Exception:  # a broken __str__
        text = ""
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def traceback_tail(exc):
    """The last TRACEBACK_FRAMES frames of exc's traceback outside inferd, in
    Python's usual layout, ending with the exception line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) not in _OWN_FILES]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames[-TRACEBACK_FRAMES:])
    lines.append(exception_message(exc) + "\n")
    return "".join(lines)


def _failure(mini_batch, what, exc):
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    message = exception_message(exc)
    print(f"inferd: mini-batch {mini_batch.number} (attempt {mini_batch.attempt}) failed: "
          f"{what}: {message}", file=sys.stderr)
    return _reply(500, {"message": message, "traceback": traceback_tail(exc)})


# ---- the driver ----


def run_mini_batch(run, body):
    """Runs one mini-batch: parses body (the POST /batch JSON), calls run(files)
    and writes the result file per output_action. Returns a reply tuple
    (status, content_type, body bytes, headers): 200 with the counts, 400 for a
    body that is not a mini-batch, 500 when run() raised, returned something
    that is not a list of results, or the result file could not be written.
    Never raises."""
    try:
        mini_batch = parse_request(body)
    except BadMiniBatch as e:
        return _reply(400, {"message": f"POST {BATCH_PATH}: {e}"})
    started = time.monotonic()
    files = mini_batch.files
    try:
        result = run(list(files))
    except BaseException as e:
        return _failure(mini_batch, "run() raised", e)

    label = f"mini-batch {mini_batch.number}"
    append = mini_batch.output_action == "append_row"
    errors = []
    try:
        if isinstance(result, MiniBatchResult):
            rows, succeeded = result.rows, min(max(result.succeeded, 0), len(files))
            errors = [f"{label}: {line}" for line in result.errors]
        else:
            rows, count = _results(result, want_rows=append)
            succeeded = min(count, len(files))
            if count < len(files):
                got = "None (no results)" if result is None else f"{count} results"
                errors.append(f"{label}: run() returned {got} for {len(files)} files")
    except BaseException as e:
        return _failure(mini_batch, "its result", e)

    written = offset = size = 0
    segment = ""
    if append:
        try:
            segment, offset, size = append_result(mini_batch.result_dir, rows)
            written = len(rows)
        except BaseException as e:
            return _failure(mini_batch, f"writing its rows to {mini_batch.result_dir}", e)
    failed = len(files) - succeeded
    print(f"inferd: mini-batch {mini_batch.number} (attempt {mini_batch.attempt}): "
          f"{len(files)} files, {succeeded} succeeded, {failed} failed, {written} rows written "
          f"in {time.monotonic() - started:.3f} s")
    return _reply(200, {"rows": written, "segment": segment, "offset": offset, "bytes": size,
                        "succeeded": succeeded, "failed": failed, "errors": errors})
