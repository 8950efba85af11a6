"""Tests of inferd.batch, the batch mini-batch driver, through Scorer (path
"/batch", as a batch instance's scoring process calls it) and directly.

Run from the repository root:
    /usr/bin/python3.11 -m unittest discover -s python/tests -t python
"""
import csv
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import textwrap
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.dirname(HERE)
if sys.path[0] != LIB:
    sys.path.insert(0, LIB)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from inferd import batch, runtime  # noqa: E402
from inferd.batch import BadMiniBatch, MiniBatchResult  # noqa: E402
from inferd.runtime import RequestLineStream, Scorer  # noqa: E402


class BatchCase(unittest.TestCase):
    """A temporary folder holding the script, the input files and the results;
    output streams of its own; sys.path, sys.modules and stdio restored after."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="inferd-batch-test-")
        self.saved_path = list(sys.path)
        self.saved_modules = set(sys.modules)
        self.saved_stdio = (sys.stdout, sys.stderr, list(runtime._streams))
        self.out = io.StringIO()
        self.err = io.StringIO()
        sys.stdout = RequestLineStream(self.out)
        sys.stderr = RequestLineStream(self.err)
        runtime._streams[:] = [sys.stdout, sys.stderr]
        self.results = os.path.join(self.dir, "results")
        os.mkdir(self.results)
        self.written = {}  # mini-batch number -> the bytes its answer points at
        self.files = [self.write(f"inputs/{name}", f"content of {name}\n")
                      for name in ("a.txt", "b.txt", "sub/c.txt")]

    def tearDown(self):
        for fd in batch._segments.values():
            os.close(fd)
        batch._segments.clear()
        sys.stdout, sys.stderr, streams = self.saved_stdio
        runtime._streams[:] = streams
        sys.path[:] = self.saved_path
        for name in set(sys.modules) - self.saved_modules:
            del sys.modules[name]
        shutil.rmtree(self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def scorer(self, source):
        return Scorer(self.write("code/batch_score.py", textwrap.dedent(source)))

    def body(self, files=None, action="append_row", number=42, **extra):
        doc = {"job": "batchjob-0123456789ab", "mini_batch": number, "attempt": 1,
               "files": self.files if files is None else files, "output_action": action,
               "result_dir": self.results}
        doc.update(extra)
        return json.dumps(doc).encode()

    def segment_path(self):
        """This process's results segment."""
        return os.path.join(self.results, f"seg-{os.getpid()}.csv")

    def run_batch(self, scorer, body=None, status=200):
        """POSTs a mini-batch to scorer; returns the answer's JSON."""
        reply = scorer.score("POST", "/batch", "", "application/json", [],
                             self.body() if body is None else body, "req-1")
        code, content_type, payload, headers = reply
        self.assertEqual(code, status, payload)
        self.assertEqual(content_type, "application/json")
        self.assertEqual(headers, [])
        answer = json.loads(payload)
        if code == 200:
            # Where the rows went: a range of this process's segment, which
            # the server's ledger records; kept for rows() and raw().
            segment, offset, size = (answer.pop(k) for k in ("segment", "offset", "bytes"))
            if size or segment:
                self.assertEqual(segment, os.path.basename(self.segment_path()))
                with open(self.segment_path(), "rb") as f:
                    f.seek(offset)
                    data = f.read(size)
                self.assertEqual(len(data), size)
                number = json.loads(self.body() if body is None else body)["mini_batch"]
                self.written[number] = data
        return answer

    def rows(self, number=42):
        """A mini-batch's rows, read back with the csv module."""
        return list(csv.reader(io.StringIO(self.raw(number), newline="")))

    def raw(self, number=42):
        return self.written[number].decode("utf-8")

    def assertNoResult(self, number=42):
        self.assertNotIn(number, self.written)

    def assertOnlySegments(self):
        """The results folder holds segments and nothing else."""
        self.assertEqual([n for n in os.listdir(self.results) if not n.startswith("seg-")], [])


class DriverTest(BatchCase):
    def test_list_results_one_row_each(self):
        s = self.scorer("""
            import os
            def run(mini_batch):
                return [os.path.basename(path) + ": " + type(path).__name__
                        for path in mini_batch]
        """)
        answer = self.run_batch(s)
        self.assertEqual(answer, {"rows": 3, "succeeded": 3, "failed": 0, "errors": []})
        self.assertEqual(self.raw(), "a.txt: str\nb.txt: str\nc.txt: str\n")
        self.assertOnlySegments()
        mode = stat.S_IMODE(os.stat(self.segment_path()).st_mode)
        self.assertEqual(mode, 0o600)
        self.assertIn("mini-batch 42 (attempt 1): 3 files, 3 succeeded", self.out.getvalue())

    def test_run_gets_the_files_in_order_and_init_ran_once(self):
        s = self.scorer("""
            calls = []
            def init():
                calls.append("init")
            def run(mini_batch):
                calls.append(list(mini_batch))
                return [open(path).read().strip() for path in mini_batch]
        """)
        self.run_batch(s)
        self.run_batch(s, self.body(files=self.files[:1], number=43))
        self.assertEqual(s.module.calls, ["init", self.files, self.files[:1]])
        self.assertEqual(self.rows(), [["content of a.txt"], ["content of b.txt"],
                                       ["content of sub/c.txt"]])
        self.assertEqual(self.rows(43), [["content of a.txt"]])

    def test_no_schema_decorators_needed(self):
        s = self.scorer("def run(mini_batch):\n    return mini_batch\n")
        self.assertEqual(self.run_batch(s)["succeeded"], 3)
        self.assertEqual(self.rows(), [[f] for f in self.files])

    def test_tuples_lists_arrays_and_dicts_are_fields(self):
        s = self.scorer("""
            import numpy as np
            def run(mini_batch):
                return [("a.txt", 1, 0.5, None, True),
                        ["b.txt", [1, 2]],
                        {"file": "c.txt", "label": "cat", "score": 2},
                        np.array([1.5, 2.5]),
                        42]
        """)
        answer = self.run_batch(s)
        # Five results for three files: all rows written, successes capped.
        self.assertEqual(answer, {"rows": 5, "succeeded": 3, "failed": 0, "errors": []})
        self.assertEqual(self.raw(), 'a.txt,1,0.5,,True\nb.txt,"[1, 2]"\nc.txt,cat,2\n'
                                     "1.5,2.5\n42\n")

    def test_dataframe_rows_without_header_or_index(self):
        s = self.scorer("""
            import os
            import numpy as np
            import pandas as pd
            def run(mini_batch):
                frame = pd.DataFrame({"file": [os.path.basename(p) for p in mini_batch],
                                      "score": [0.25, np.nan, 1.0],
                                      "label": ["x", None, "z,w"]},
                                     index=[10, 20, 30])
                return frame
        """)
        answer = self.run_batch(s)
        self.assertEqual(answer, {"rows": 3, "succeeded": 3, "failed": 0, "errors": []})
        self.assertEqual(self.raw(), 'a.txt,0.25,x\nb.txt,,\nc.txt,1.0,"z,w"\n')

    def test_numpy_array_and_series_results(self):
        s = self.scorer("""
            import numpy as np
            import pandas as pd
            def run(mini_batch):
                if len(mini_batch) == 3:
                    return np.array([[1, 2], [3, 4], [5, 6]])
                return pd.Series(["only"])
        """)
        self.assertEqual(self.run_batch(s)["rows"], 3)
        self.assertEqual(self.rows(), [["1", "2"], ["3", "4"], ["5", "6"]])
        answer = self.run_batch(s, self.body(files=self.files[:2], number=7))
        self.assertEqual(answer["succeeded"], 1)
        self.assertEqual(self.rows(7), [["only"]])

    def test_none_counts_as_no_results(self):
        s = self.scorer("def run(mini_batch):\n    return None\n")
        answer = self.run_batch(s)
        self.assertEqual(answer, {"rows": 0, "succeeded": 0, "failed": 3, "errors": [
            "mini-batch 42: run() returned None (no results) for 3 files"]})
        self.assertEqual(self.raw(), "")  # the file exists, empty

    def test_fewer_results_than_files(self):
        s = self.scorer("def run(mini_batch):\n    return ['only one', 'two']\n")
        answer = self.run_batch(s, self.body(number=8))
        self.assertEqual(answer, {"rows": 2, "succeeded": 2, "failed": 1, "errors": [
            "mini-batch 8: run() returned 2 results for 3 files"]})
        self.assertEqual(self.rows(8), [["only one"], ["two"]])

    def test_empty_list(self):
        s = self.scorer("def run(mini_batch):\n    return []\n")
        answer = self.run_batch(s)
        self.assertEqual(answer["failed"], 3)
        self.assertEqual(answer["errors"], ["mini-batch 42: run() returned 0 results for 3 files"])

    def test_exception_is_500_with_type_text_and_traceback(self):
        s = self.scorer("""
            def load(path):
                raise ValueError("cannot parse " + path + "\\n  second line")
            def run(mini_batch):
                return [load(p) for p in mini_batch]
        """)
        answer = self.run_batch(s, status=500)
        self.assertEqual(set(answer), {"message", "traceback"})
        self.assertEqual(answer["message"], f"ValueError: cannot parse {self.files[0]} second line")
        tb = answer["traceback"]
        self.assertTrue(tb.startswith("Traceback (most recent call last):\n"), tb)
        self.assertIn("batch_score.py", tb)
        self.assertIn("in load", tb)
        self.assertNotIn("batch.py\"", tb)  # inferd's own frames are left out
        self.assertTrue(tb.endswith(answer["message"] + "\n"))
        self.assertNoResult()
        self.assertOnlySegments()
        # The whole traceback goes to the process's stderr, prefixed with the request id.
        self.assertIn("[req-1] Traceback (most recent call last):", self.err.getvalue())
        self.assertIn("failed: run() raised: ValueError", self.err.getvalue())

    def test_long_traceback_keeps_the_last_frames(self):
        chain = "".join(f"def f{i}():\n    return f{i + 1}()\n" for i in range(20))
        s = self.scorer(chain + """
def f20():
    raise KeyError("bottom")
def run(mini_batch):
    return f0()
""")
        answer = self.run_batch(s, status=500)
        self.assertEqual(answer["message"], "KeyError: 'bottom'")
        tb = answer["traceback"]
        self.assertEqual(tb.count("File "), batch.TRACEBACK_FRAMES)
        self.assertIn('raise KeyError("bottom")', tb)
        self.assertIn("in f19", tb)
        self.assertNotIn("in f10\n", tb)
        self.assertNotIn("in run", tb)

    def test_system_exit_and_empty_message(self):
        s = self.scorer("import sys\ndef run(mini_batch):\n    sys.exit()\n")
        self.assertEqual(self.run_batch(s, status=500)["message"], "SystemExit")

    def test_result_that_is_not_a_list_is_500(self):
        s = self.scorer("def run(mini_batch):\n    return 'a.txt done'\n")
        answer = self.run_batch(s, status=500)
        self.assertTrue(answer["message"].startswith("TypeError: run() returned a str; a batch "
                                                     "run(mini_batch) returns a list"), answer)
        self.assertNoResult()

    def test_element_whose_str_raises_leaves_no_file(self):
        s = self.scorer("""
            class Bad:
                def __str__(self):
                    raise RuntimeError("no text")
            def run(mini_batch):
                return ["fine", [Bad()]]
        """)
        answer = self.run_batch(s, status=500)
        self.assertEqual(answer["message"], "RuntimeError: no text")
        self.assertNoResult()
        self.assertOnlySegments()

    def test_summary_only_writes_nothing(self):
        out_dir = os.path.join(self.dir, "outputs")
        os.mkdir(out_dir)
        s = self.scorer("""
            import os
            def run(mini_batch):
                folder = os.environ["AZUREML_BI_OUTPUT_PATH"]
                for path in mini_batch:
                    name = os.path.basename(path) + ".out"
                    with open(os.path.join(folder, name), "w") as f:
                        f.write("done")
                return mini_batch[:2]
        """)
        body = json.loads(self.body(action="summary_only"))
        del body["result_dir"]  # not needed for summary_only
        with mock.patch.dict(os.environ, {"AZUREML_BI_OUTPUT_PATH": out_dir}):
            answer = self.run_batch(s, json.dumps(body).encode())
        self.assertEqual(answer, {"rows": 0, "succeeded": 2, "failed": 1, "errors": [
            "mini-batch 42: run() returned 2 results for 3 files"]})
        self.assertEqual(os.listdir(self.results), [])
        self.assertEqual(sorted(os.listdir(out_dir)), ["a.txt.out", "b.txt.out", "c.txt.out"])

    def test_summary_only_only_counts_the_results(self):
        s = self.scorer("""
            class Opaque:
                def __str__(self):
                    raise RuntimeError("never turned into text")
            def run(mini_batch):
                return [Opaque() for _ in mini_batch]
        """)
        answer = self.run_batch(s, self.body(action="summary_only"))
        self.assertEqual(answer, {"rows": 0, "succeeded": 3, "failed": 0, "errors": []})
        self.assertEqual(os.listdir(self.results), [])

    def test_quoting_makes_a_real_csv(self):
        values = ["plain", "with,comma", 'with "quotes"', "two\nlines", "carriage\rreturn",
                  "crlf\r\nend", "", " spaced ", "ünïcödé ✓", "tab\there"]
        s = self.scorer(f"""
            def run(mini_batch):
                values = {values!r}
                return [values, [values[4]], ["x", ""], [""], values[:2]]
        """)
        self.run_batch(s)
        self.assertEqual(self.rows(), [values, [values[4]], ["x", ""], [""], values[:2]])
        text = self.raw()
        # A lone "\r" is quoted too (the csv module would not): its rows are all quoted.
        self.assertTrue(text.startswith('"plain","with,comma","with ""quotes""","two\nlines",'
                                        '"carriage\rreturn",'), text)
        self.assertTrue(text.endswith('\n"carriage\rreturn"\nx,\n""\nplain,"with,comma"\n'),
                        text)
        self.assertNotIn("\r\n", text.replace("crlf\r\nend", ""))  # "\n" line ends

    def test_stale_bytes_at_the_segment_end_are_never_read(self):
        # what an attempt killed mid-write leaves behind: unrecorded bytes
        with open(self.segment_path(), "w") as f:
            f.write("half a row from an attempt that was killed,")
        s = self.scorer("def run(mini_batch):\n    return ['ok'] * len(mini_batch)\n")
        self.run_batch(s)
        self.assertEqual(self.raw(), "ok\nok\nok\n")
        self.assertOnlySegments()

    def test_mini_batches_append_to_one_segment_in_ranges(self):
        s = self.scorer("def run(mini_batch):\n    return [len(mini_batch)] * len(mini_batch)\n")
        self.run_batch(s, self.body(number=1))
        self.run_batch(s, self.body(files=self.files[:1], number=2))
        self.assertEqual((self.raw(1), self.raw(2)), ("3\n3\n3\n", "1\n"))
        with open(self.segment_path()) as f:
            self.assertEqual(f.read(), "3\n3\n3\n1\n")
        self.assertEqual(os.listdir(self.results), [os.path.basename(self.segment_path())])

    def test_unwritable_result_dir_is_500(self):
        s = self.scorer("def run(mini_batch):\n    return ['ok'] * 3\n")
        missing = os.path.join(self.dir, "no-such-folder")
        answer = self.run_batch(s, self.body(result_dir=missing), status=500)
        self.assertTrue(answer["message"].startswith("FileNotFoundError: "), answer)
        self.assertIn("no-such-folder", answer["message"])
        self.assertIn(f"writing its rows to {missing}", self.err.getvalue())

    def test_hook_is_preferred_over_run(self):
        s = self.scorer("""
            from inferd.batch import MiniBatchResult
            def run(raw_data):
                raise AssertionError("the online entry point")
            def inferd_batch_run(mini_batch):
                return MiniBatchResult([["a", 1], ["a", 2], ["b", 3]], succeeded=2,
                                       errors=["c.txt: unreadable"])
        """)
        answer = self.run_batch(s)
        self.assertEqual(answer, {"rows": 3, "succeeded": 2, "failed": 1,
                                  "errors": ["mini-batch 42: c.txt: unreadable"]})
        self.assertEqual(self.rows(), [["a", "1"], ["a", "2"], ["b", "3"]])

    def test_online_requests_still_work(self):
        s = self.scorer("def run(data):\n    return {'got': data}\n")
        status, _, body, _ = s.score("POST", "/score", "", "text/plain", [], b"hi", "r")
        self.assertEqual((status, json.loads(body)), (200, {"got": "hi"}))


class BadRequestTest(BatchCase):
    def setUp(self):
        super().setUp()
        self.s = self.scorer("def run(mini_batch):\n    raise AssertionError('not called')\n")

    def assertBad(self, body, fragment):
        answer = self.run_batch(self.s, body if isinstance(body, bytes) else
                                json.dumps(body).encode(), status=400)
        self.assertIn(fragment, answer["message"])
        self.assertTrue(answer["message"].startswith("POST /batch: "), answer)
        self.assertEqual(os.listdir(self.results), [])

    def test_bodies_that_are_not_mini_batches(self):
        good = json.loads(self.body())
        self.assertBad(b"{not json", "not valid JSON")
        self.assertBad(b"\xff\xfe", "not valid JSON")
        self.assertBad([1, 2], "must be a JSON object")
        for field, value, fragment in (
                ("files", None, "files must be a list"),
                ("files", "a.txt", "files must be a list"),
                ("files", ["a", 3], "files[1] must be a non-empty path string"),
                ("files", ["a", ""], "files[1] must be a non-empty path string"),
                ("mini_batch", None, "mini_batch must be a non-negative integer"),
                ("mini_batch", True, "mini_batch must be a non-negative integer"),
                ("mini_batch", -1, "mini_batch must be a non-negative integer"),
                ("mini_batch", "42", "mini_batch must be a non-negative integer"),
                ("attempt", 0, "attempt must be a positive integer"),
                ("job", 5, "job must be a string"),
                ("output_action", "append", "output_action must be one of append_row, "
                                            "summary_only, got 'append'"),
                ("output_action", None, "output_action must be one of"),
                ("result_dir", "relative/results", "result_dir must be the absolute path"),
                ("result_dir", 7, "result_dir must be the absolute path"),
                ("result_dir", None, "result_dir must be the absolute path"),
        ):
            with self.subTest(field=field, value=value):
                body = dict(good)
                if value is None:
                    del body[field]
                else:
                    body[field] = value
                self.assertBad(body, fragment)

    def test_huge_values_are_cut_in_messages(self):
        body = json.loads(self.body())
        body["output_action"] = "x" * 100000
        answer = self.run_batch(self.s, json.dumps(body).encode(), status=400)
        self.assertLess(len(answer["message"]), 300)


class HelpersTest(unittest.TestCase):
    def test_to_row(self):
        self.assertEqual(batch.to_row(("a", 1)), ["a", 1])
        self.assertEqual(batch.to_row(["a"]), ["a"])
        self.assertEqual(batch.to_row({"x": 1, "y": None}), [1, None])
        self.assertEqual(batch.to_row(np.array([1, 2])), [1, 2])
        self.assertEqual(batch.to_row(np.float64(0.5)), ["0.5"])
        self.assertEqual(batch.to_row(pd.Series([3, 4])), [3, 4])
        self.assertEqual(batch.to_row("a,b"), ["a,b"])
        self.assertEqual(batch.to_row(None), ["None"])
        self.assertEqual(batch.to_row(7), ["7"])

    def test_parse_request(self):
        mb = batch.parse_request(json.dumps({
            "mini_batch": 3, "files": ["/x/a.csv"], "output_action": "append_row",
            "result_dir": "/r"}))
        self.assertEqual((mb.number, mb.attempt, mb.job, mb.files, mb.result_dir),
                         (3, 1, "", ["/x/a.csv"], "/r"))
        with self.assertRaises(BadMiniBatch):
            batch.parse_request(b"[]")

    def test_append_result_appends_whole_ranges(self):
        folder = tempfile.mkdtemp(prefix="inferd-batch-test-")
        self.addCleanup(shutil.rmtree, folder)
        self.addCleanup(batch._segments.clear)
        self.assertEqual(batch.csv_bytes([["a", 1], ["b", None]]), b"a,1\nb,\n")
        name, offset, size = batch.append_result(folder, [["a", 1], ["b", None]])
        self.assertEqual((name, offset, size), (f"seg-{os.getpid()}.csv", 0, 7))
        self.assertEqual(batch.append_result(folder, [["c"]]), (name, 7, 2))
        with open(os.path.join(folder, name)) as f:
            self.assertEqual(f.read(), "a,1\nb,\nc\n")

        def failing_rows():
            yield ["never written: rows are encoded before the write"]
            raise OSError(28, "No space left on device")

        with self.assertRaises(OSError):
            batch.append_result(folder, list_that_fails(failing_rows()))
        self.assertEqual(os.path.getsize(os.path.join(folder, name)), 9)
        os.close(batch._segments[os.path.join(folder, name)])

    def test_mini_batch_result(self):
        r = MiniBatchResult(iter([["a"]]), "2", ("e",))
        self.assertEqual((r.rows, r.succeeded, r.errors), ([["a"]], 2, ["e"]))
        self.assertIn("succeeded=2", repr(r))


def list_that_fails(generator):
    """A list-like whose iteration runs generator."""

    class Rows(list):
        def __iter__(self):
            return generator

    return Rows()


if __name__ == "__main__":
    unittest.main()
