"""Tests of inferd.runtime and the compatibility modules (inference_schema,
azureml.contrib.services, azureml_inference_server_http), in plain Python.

Run from the repository root:
    /usr/bin/python3.11 -m unittest discover -s python/tests -t python
"""
import datetime
import io
import json
import os
import shutil
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.dirname(HERE)
if sys.path[0] != LIB:
    sys.path.insert(0, LIB)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from azureml.contrib.services._http import Args, Headers  # noqa: E402
from azureml.contrib.services.aml_request import AMLRequest, BadRequest, rawhttp  # noqa: E402
from azureml.contrib.services.aml_response import AMLResponse  # noqa: E402
from inferd import runtime  # noqa: E402
from inferd.runtime import LoadError, RequestLineStream, Scorer  # noqa: E402
from inference_schema import schema_util  # noqa: E402
from inference_schema.parameter_types.abstract_parameter_type import (  # noqa: E402
    AbstractParameterType)
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType  # noqa: E402
from inference_schema.parameter_types.pandas_parameter_type import (  # noqa: E402
    PandasParameterType)
from inference_schema.parameter_types.standard_py_parameter_type import (  # noqa: E402
    StandardPythonParameterType)
from inference_schema.schema_decorators import input_schema, output_schema  # noqa: E402

CRASH = b'{"message": "An unexpected error occurred in scoring script. Check the logs for more info."}'

SCHEMA_IMPORTS = """\
import numpy as np
import pandas as pd
from inference_schema.schema_decorators import input_schema, output_schema
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
"""


def schema_source(body):
    """A script: the inference_schema imports, then body (dedented)."""
    return SCHEMA_IMPORTS + textwrap.dedent(body)


class RuntimeCase(unittest.TestCase):
    """Gives each test a temporary code folder and output streams of its own,
    and restores sys.path, sys.modules and sys.stdout/stderr afterwards."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="inferd-runtime-test-")
        self.saved_path = list(sys.path)
        self.saved_modules = set(sys.modules)
        self.saved_stdio = (sys.stdout, sys.stderr, list(runtime._streams))
        self.out = io.StringIO()
        self.err = io.StringIO()
        sys.stdout = RequestLineStream(self.out)
        sys.stderr = RequestLineStream(self.err)
        runtime._streams[:] = [sys.stdout, sys.stderr]

    def tearDown(self):
        sys.stdout, sys.stderr, streams = self.saved_stdio
        runtime._streams[:] = streams
        sys.path[:] = self.saved_path
        for name in set(sys.modules) - self.saved_modules:
            del sys.modules[name]
        shutil.rmtree(self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))
        return path

    def scorer(self, source, name="score.py", **kwargs):
        return Scorer(self.write(name, source), self.dir, **kwargs)

    def load_error(self, source, name="score.py", **kwargs):
        with self.assertRaises(LoadError) as caught:
            self.scorer(source, name, **kwargs)
        return str(caught.exception)

    @staticmethod
    def post(scorer, body, content_type="application/json", headers=(), request_id="r1"):
        if isinstance(body, str):
            body = body.encode()
        return scorer.score("POST", "/score", "", content_type, list(headers), body, request_id)

    @staticmethod
    def get(scorer, query, headers=()):
        return scorer.score("GET", "/score", query, "", list(headers), b"", "r1")

    def assertReply(self, reply, status, body=None):
        self.assertEqual(len(reply), 4)
        self.assertEqual(reply[0], status, reply[2])
        self.assertIsInstance(reply[2], bytes)
        if body is not None:
            self.assertEqual(json.loads(reply[2]), body)

    def assertMessage(self, reply, status, needle):
        self.assertReply(reply, status)
        self.assertEqual(reply[1], "application/json")
        message = json.loads(reply[2])["message"]
        self.assertIn(needle, message)


# ---- loading ----


class LoadTest(RuntimeCase):
    def test_module_named_after_file_code_dir_first_and_init_once(self):
        self.write("helper.py", "VALUE = 41\n")
        s = self.scorer("""\
            import helper, sys
            calls = []
            def init():
                calls.append(1)
            def run(raw):
                return {'value': helper.VALUE + 1, 'calls': len(calls), 'path0': sys.path[0]}
            """, name="my_score.py")
        self.assertIs(sys.modules["my_score"], s.module)
        reply = self.post(s, "x")
        self.assertReply(reply, 200, {"value": 42, "calls": 1, "path0": self.dir})
        self.post(s, "x")
        self.assertEqual(s.module.calls, [1])

    def test_init_is_optional(self):
        s = self.scorer("def run(raw):\n    return raw\n")
        self.assertReply(self.post(s, "abc"), 200, "abc")

    def test_script_in_subfolder_gets_both_folders_on_path(self):
        self.write("src/util.py", "X = 'sub'\n")
        path = self.write("src/score.py", "import util\ndef run(d):\n    return util.X\n")
        s = Scorer(path, self.dir)
        self.assertEqual(sys.path[:2], [self.dir, os.path.join(self.dir, "src")])
        self.assertReply(self.post(s, ""), 200, "sub")
        s.close()
        self.assertNotIn(self.dir, sys.path)
        self.assertNotIn("score", sys.modules)

    def test_init_failure_message_and_traceback(self):
        msg = self.load_error("""\
            def load_model():
                raise FileNotFoundError('model.pkl is missing ' + 'x' * 500)
            def init():
                load_model()
            def run(raw):
                return raw
            """)
        first, *rest = msg.split("\n")
        self.assertTrue(first.startswith(os.path.join(self.dir, "score.py") +
                                         ": init() failed: FileNotFoundError: model.pkl is missing x"))
        self.assertTrue(first.endswith("..."))  # a long message is cut
        self.assertLessEqual(len(msg), runtime.LOAD_MESSAGE_MAX)
        self.assertTrue(rest, "no traceback lines in the message")
        self.assertLessEqual(len(rest), runtime.TRACEBACK_LINES)
        self.assertIn("in load_model", msg)
        self.assertNotIn("runtime.py", msg)  # only the script's frames
        # The whole traceback goes to stderr, without a request prefix.
        self.assertIn("Traceback (most recent call last):", self.err.getvalue())
        self.assertNotIn("[", self.err.getvalue().split("\n")[0])

    def test_init_failure_keeps_last_ten_lines(self):
        msg = self.load_error("""\
            def f(n):
                if n == 0:
                    raise ValueError('deep')
                return f(n - 1)
            def init():
                f(20)
            def run(raw):
                return raw
            """)
        lines = msg.split("\n")
        self.assertEqual(lines[0].split(": init() failed: ")[1], "ValueError: deep")
        # As many of the last lines as fit in the message, at most TRACEBACK_LINES.
        self.assertGreaterEqual(len(lines) - 1, 4)
        self.assertLessEqual(len(lines) - 1, runtime.TRACEBACK_LINES)
        self.assertLessEqual(len(msg), runtime.LOAD_MESSAGE_MAX)
        self.assertIn("raise ValueError('deep')", lines[-1])

    def test_system_exit_in_init_is_a_load_error(self):
        msg = self.load_error("import sys\ndef init():\n    sys.exit(3)\ndef run(d):\n    return d\n")
        self.assertIn("init() failed: SystemExit: 3", msg)

    def test_import_failure(self):
        msg = self.load_error("import not_a_module_inferd_test\ndef run(d):\n    return d\n")
        self.assertIn("score.py: import failed: ModuleNotFoundError: No module named "
                      "'not_a_module_inferd_test'", msg)
        self.assertNotIn("score", sys.modules)

    def test_syntax_error(self):
        msg = self.load_error("def run(d)\n    return d\n")
        self.assertIn("import failed: SyntaxError", msg)

    def test_no_run(self):
        msg = self.load_error("def init():\n    pass\n")
        self.assertEqual(msg, os.path.join(self.dir, "score.py") + ": defines no run() function "
                              "(a scoring script needs init() and run(raw_data), or "
                              "run(mini_batch) for batch)")
        msg = self.load_error("run = 3\n")
        self.assertIn("defines no run() function", msg)

    def test_missing_script(self):
        with self.assertRaises(LoadError) as caught:
            Scorer(os.path.join(self.dir, "nope.py"), self.dir)
        self.assertIn("nope.py: scoring script not found", str(caught.exception))

    def test_name_of_a_loaded_module_is_not_shadowed(self):
        s = self.scorer("def run(d):\n    return 'mine'\n", name="json.py")
        self.assertEqual(s.module_name, "inferd_entry_json")
        self.assertIs(sys.modules["json"], json)
        self.assertReply(self.post(s, ""), 200, "mine")

    def test_a_second_script_replaces_the_first(self):
        self.scorer("def run(d):\n    return 1\n")
        other = os.path.join(self.dir, "b")
        os.makedirs(other)
        path = os.path.join(other, "score.py")
        with open(path, "w") as f:
            f.write("def run(d):\n    return 2\n")
        s = Scorer(path, other)
        self.assertEqual(s.module_name, "score")
        self.assertReply(self.post(s, ""), 200, 2)


class CondaTest(RuntimeCase):
    DOC = {
        "name": "env",
        "channels": ["conda-forge"],
        "dependencies": [
            "python=3.8", "pip", "setuptools", "wheel", "scikit-learn=1.0.2", "numpy>=1.2",
            "conda-forge::pandas=1.5", "scipy 1.10.*", "mkl", 7,
            {"pip": ["azureml-defaults", "azureml-inference-server-http~=0.8",
                     "inference-schema[numpy-support]==1.3.0", "inference_schema",
                     "joblib==1.1", "Pillow>=9", "requests[socks] ; python_version > '3'",
                     "--extra-index-url https://example.org/simple", "-r requirements.txt",
                     "./local.whl", "https://example.org/x.whl",
                     "mypkg @ git+https://example.org/mypkg.git", "numpy"]},
            {"other": ["ignored"]},
        ],
    }

    def test_requirements(self):
        self.assertEqual(runtime.conda_requirements(self.DOC),
                         ["scikit-learn", "numpy", "pandas", "scipy", "joblib", "Pillow",
                          "requests", "mypkg"])
        self.assertEqual(runtime.conda_requirements(None), [])
        self.assertEqual(runtime.conda_requirements({"name": "x"}), [])

    def test_requirements_bad_shape(self):
        with self.assertRaisesRegex(LoadError, "expected a mapping"):
            runtime.conda_requirements(["numpy"])
        with self.assertRaisesRegex(LoadError, "'dependencies' must be a list"):
            runtime.conda_requirements({"dependencies": "numpy"})

    def test_import_names(self):
        cases = {"scikit-learn": "sklearn", "PyYAML": "yaml", "pillow": "PIL",
                 "opencv-python": "cv2", "opencv-python-headless": "cv2",
                 "python-dateutil": "dateutil", "beautifulsoup4": "bs4",
                 "scikit-image": "skimage", "torch": "torch", "tensorflow": "tensorflow",
                 "Some_Package": "some_package", "my-lib": "my_lib",
                 "azure-storage-blob": "azure.storage.blob"}
        for dist, module in cases.items():
            self.assertEqual(runtime.import_name(dist), module, dist)

    def test_missing_packages(self):
        seen = []

        def find_spec(name):
            seen.append(name)
            if name == "broken":
                raise ImportError("parent missing")
            return object() if name in ("sklearn", "yaml") else None

        self.assertEqual(runtime.missing_packages(["scikit-learn", "pyyaml", "torch", "broken"],
                                                  find_spec),
                         ["torch", "broken"])
        self.assertEqual(seen, ["sklearn", "yaml", "torch", "broken"])

    def test_load_fails_naming_missing_packages(self):
        conda = self.write("conda.yml", """\
            dependencies:
              - python=3.11
              - numpy
              - pip:
                - scikit-image
                - definitely-not-installed-inferd==2.0
                - joblib
            """)
        msg = self.load_error("def run(d):\n    return d\n", conda_file=conda)
        self.assertIn(f"conda_file {conda}: these packages are not installed on this machine: ",
                      msg)
        self.assertIn("definitely-not-installed-inferd", msg)
        self.assertNotIn("joblib", msg)
        self.assertNotIn("numpy", msg)
        self.assertIn("inferd does not install packages", msg)
        self.assertIn("apt", msg)
        self.assertIn("--break-system-packages", msg)
        self.assertIn("docs/python.md", msg)

    def test_module_name_shown_when_it_differs(self):
        self.assertEqual(runtime._with_module("scikit-image"), "scikit-image (module skimage)")
        self.assertEqual(runtime._with_module("my-lib"), "my-lib")

    def test_installed_packages_load(self):
        conda = self.write("conda.yml", "dependencies:\n  - numpy\n  - pip:\n    - pandas\n"
                                        "    - PyYAML\n    - scikit-learn\n")
        s = self.scorer("def run(d):\n    return d\n", conda_file=conda)
        self.assertReply(self.post(s, "x"), 200, "x")

    def test_package_in_code_folder_counts(self):
        self.write("vendored_pkg_inferd/__init__.py", "")
        conda = self.write("conda.yml", "dependencies:\n  - pip:\n    - vendored-pkg-inferd\n")
        self.scorer("def run(d):\n    return d\n", conda_file=conda)

    def test_unreadable_and_invalid_conda_file(self):
        msg = self.load_error("def run(d):\n    return d\n",
                              conda_file=os.path.join(self.dir, "none.yml"))
        self.assertIn("none.yml: cannot read it", msg)
        bad = self.write("bad.yml", "dependencies: [a\n")
        msg = self.load_error("def run(d):\n    return d\n", conda_file=bad)
        self.assertIn("bad.yml: not valid YAML", msg)
        self.assertNotIn("\n", msg)


# ---- scoring ----


class PlainRunTest(RuntimeCase):
    SOURCE = """\
        def run(raw_data):
            return {'raw': raw_data, 'type': type(raw_data).__name__}
        """

    def test_post_body_is_a_str(self):
        s = self.scorer(self.SOURCE)
        reply = self.post(s, '{"data": [1, 2]}')
        self.assertEqual(reply[1], "application/json")
        self.assertEqual(reply[3], [])
        self.assertReply(reply, 200, {"raw": '{"data": [1, 2]}', "type": "str"})
        self.assertReply(self.post(s, "caf\u00e9"), 200, {"raw": "caf\u00e9", "type": "str"})

    def test_post_without_content_type_and_other_methods(self):
        s = self.scorer(self.SOURCE)
        reply = s.score("put", "/score", "", "", [], b"body", "r")
        self.assertReply(reply, 200, {"raw": "body", "type": "str"})

    def test_bad_utf8_is_400(self):
        s = self.scorer(self.SOURCE)
        self.assertMessage(self.post(s, b"ab\xc3("), 400,
                           "the request body is not valid UTF-8 (byte 0xc3 at offset 2)")

    def test_get_passes_query_as_json_string(self):
        s = self.scorer(self.SOURCE)
        reply = self.get(s, "a=1&b=%5B1%2C%202%5D&c=text&d=%7B%22k%22%3A%20null%7D&e=&f=true")
        raw = json.loads(reply[2])["raw"]
        self.assertEqual(json.loads(raw), {"a": 1, "b": [1, 2], "c": "text", "d": {"k": None},
                                           "e": "", "f": True})
        self.assertReply(self.get(s, ""), 200, {"raw": "{}", "type": "str"})

    def test_query_values(self):
        self.assertEqual(runtime.query_values("x=1&x=2&y=%22s%22&z=1.5e3"),
                         {"x": 2, "y": "s", "z": 1500.0})

    def test_request_headers_parameter(self):
        s = self.scorer("def run(data, request_headers):\n"
                        "    return {'data': data, 'headers': request_headers}\n")
        headers = [("Content-Type", "text/plain"), ("X-Twice", "a"), ("X-Twice", "b")]
        self.assertReply(self.post(s, "d", headers=headers), 200,
                         {"data": "d", "headers": {"Content-Type": "text/plain",
                                                   "X-Twice": "a, b"}})

    def test_return_values(self):
        s = self.scorer("""\
            import datetime
            import numpy as np
            import pandas as pd
            def run(kind):
                return {
                    'str': 'hello',
                    'none': None,
                    'array': np.array([[1, 2], [3, 4]]),
                    'int64': np.int64(3),
                    'bool': np.bool_(True),
                    'float32': np.float32(0.5),
                    'frame': pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']}),
                    'series': pd.Series([1.5, 2.5]),
                    'when': datetime.date(2024, 1, 2),
                    'stamp': pd.Timestamp('2024-01-02T03:04:05'),
                }[kind]
            """)
        expected = {"str": b'"hello"', "none": b"null", "array": b"[[1, 2], [3, 4]]",
                    "int64": b"3", "bool": b"true", "float32": b"0.5",
                    "frame": b'[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]',
                    "series": b"[1.5, 2.5]", "when": b'"2024-01-02"',
                    "stamp": b'"2024-01-02T03:04:05"'}
        for kind, body in expected.items():
            reply = self.post(s, kind)
            self.assertEqual(reply[:3], (200, "application/json", body), kind)

    def test_non_serialisable_return_is_500_naming_the_type(self):
        s = self.scorer("class Model:\n    pass\ndef run(d):\n    return {'m': Model()}\n")
        self.assertMessage(self.post(s, ""), 500, "Object of type Model is not JSON serializable")
        self.assertIn("cannot be serialised to JSON", self.err.getvalue())

    def test_exception_is_500_with_traceback_prefixed(self):
        s = self.scorer("def run(d):\n    raise KeyError('boom')\n")
        reply = self.post(s, "x", request_id="req-9")
        self.assertEqual(reply, (500, "application/json", CRASH, []))
        log = self.err.getvalue()
        self.assertIn("[req-9] Traceback (most recent call last):\n", log)
        self.assertIn("[req-9] KeyError: 'boom'\n", log)
        for line in log.strip().split("\n"):
            self.assertTrue(line.startswith("[req-9] "), line)

    def test_system_exit_in_run_is_500(self):
        s = self.scorer("import sys\ndef run(d):\n    sys.exit(1)\n")
        self.assertEqual(self.post(s, "x"), (500, "application/json", CRASH, []))

    def test_output_prefixed_only_during_requests(self):
        s = self.scorer("""\
            import logging, sys
            print('loading')
            def run(d):
                print('first')
                print('partial', end='')
                sys.stdout.write(' line\\nnext')
                logging.getLogger('x').error('bad thing')
                return 1
            """)
        self.post(s, "", request_id="abc")
        print("after")
        self.assertEqual(self.out.getvalue(),
                         "loading\n[abc] first\n[abc] partial line\n[abc] next\nafter\n")
        self.assertEqual(self.err.getvalue(), "[abc] bad thing\n")


class SchemaRunTest(RuntimeCase):
    SOURCE = schema_source("""\
        @input_schema('data', NumpyParameterType(np.array([[1.0, 2.0]])))
        @input_schema('factor', StandardPythonParameterType(2.0))
        @output_schema(NumpyParameterType(np.array([1.0])))
        def run(data, factor=1.0, request_headers=None):
            assert isinstance(data, np.ndarray) and data.dtype == np.float64
            assert isinstance(factor, float)
            return data.sum(axis=1) * factor
        """)

    def test_post(self):
        s = self.scorer(self.SOURCE)
        self.assertEqual(s.mode, "schema")
        self.assertReply(self.post(s, '{"data": [[1, 2], [3, 4]]}'), 200, [3.0, 7.0])
        self.assertReply(self.post(s, '{"data": [[1, 2]], "factor": 3}',
                                   content_type="application/json; charset=utf-8"), 200, [9.0])
        self.assertReply(self.post(s, '{"data": [[1, 2]]}', content_type=" Application/JSON "),
                         200, [3.0])

    def test_content_type_must_be_json(self):
        s = self.scorer(self.SOURCE)
        self.assertMessage(self.post(s, '{"data": [[1, 2]]}', content_type="text/plain"), 415,
                           "Content-Type must be application/json")
        self.assertMessage(self.post(s, '{"data": [[1, 2]]}', content_type=""), 415, "got none")
        self.assertMessage(self.post(s, '{"data": [[1, 2]]}',
                                     content_type="application/jsonx"), 415, "application/jsonx")

    def test_body_errors(self):
        s = self.scorer(self.SOURCE)
        self.assertMessage(self.post(s, '{"factor": 2}'), 400, "missing input 'data'")
        self.assertMessage(self.post(s, '{"data": [[1, 2]], "bogus": 1}'), 400,
                           "unknown input 'bogus': run() has no such parameter (parameters: "
                           "data, factor)")
        self.assertMessage(self.post(s, '{"data": [[1, 2]], "request_headers": {}}'), 400,
                           "unknown input 'request_headers'")
        self.assertMessage(self.post(s, '[[1, 2]]'), 400, "got a JSON array")
        self.assertMessage(self.post(s, '"x"'), 400, "got a JSON string")
        self.assertMessage(self.post(s, '{"data": '), 400, "not valid JSON")
        self.assertMessage(self.post(s, b'{"data": "\xff"}'), 400, "not valid UTF-8")
        self.assertMessage(self.post(s, '{"data": [[1, 2, 3]]}'), 400,
                           "input 'data': the input has shape (1, 3), the schema expects (n, 2)")
        self.assertMessage(self.post(s, '{"data": [["a", "b"]]}'), 400,
                           "input 'data': cannot convert the input to a float64 array")
        self.assertMessage(self.post(s, '{"data": 5}'), 400, "input 'data': expected a JSON array")

    def test_get_maps_query_to_parameters(self):
        s = self.scorer(self.SOURCE)
        self.assertReply(self.get(s, "data=[[1,1]]&factor=4"), 200, [8.0])
        self.assertMessage(self.get(s, "factor=4"), 400, "missing input 'data'")

    def test_kwargs_accept_unknown_keys(self):
        s = self.scorer(schema_source("""\
            @input_schema('a', StandardPythonParameterType(1))
            def run(a, **extra):
                return {'a': a, 'extra': extra}
            """))
        self.assertReply(self.post(s, '{"a": 1, "b": [2], "c": null}'), 200,
                         {"a": 1, "extra": {"b": [2], "c": None}})

    def test_request_headers_with_schema(self):
        s = self.scorer(schema_source("""\
            @input_schema('a', StandardPythonParameterType('s'))
            def run(a, request_headers):
                return [a, request_headers['x-id']]
            """))
        self.assertReply(self.post(s, '{"a": "v"}', headers=[("x-id", "9")]), 200, ["v", "9"])

    def test_convert_false_passes_json(self):
        s = self.scorer(schema_source("""\
            @input_schema('data', NumpyParameterType(np.array([1])), convert_to_provided_type=False)
            def run(data):
                return type(data).__name__
            """))
        self.assertReply(self.post(s, '{"data": [1, 2]}'), 200, "list")

    def test_pandas_input(self):
        s = self.scorer(schema_source("""\
            sample = pd.DataFrame({'age': [30], 'name': ['x'], 'score': [1.5]})
            @input_schema('frame', PandasParameterType(sample))
            def run(frame):
                assert list(frame.columns) == ['age', 'name', 'score']
                return {'dtypes': [str(t) for t in frame.dtypes], 'rows': len(frame)}
            """))
        body = '{"frame": [{"name": "a", "score": 2, "age": 40}, {"name": "b", "score": 3.5, "age": 1}]}'
        self.assertReply(self.post(s, body), 200,
                         {"dtypes": ["int64", "object", "float64"], "rows": 2})
        self.assertMessage(self.post(s, '{"frame": [{"name": "a", "score": 2}]}'), 400,
                           "input 'frame': missing column(s) 'age'")
        self.assertMessage(self.post(s, '{"frame": [{"name": "a", "score": 2, "age": "old"}]}'),
                           400, "input 'frame': column 'age': cannot convert to int64")

    def test_run_exception_is_500(self):
        s = self.scorer(schema_source("""\
            @input_schema('a', StandardPythonParameterType(1))
            def run(a):
                return 1 / 0
            """))
        self.assertEqual(self.post(s, '{"a": 1}'), (500, "application/json", CRASH, []))


class RawHttpTest(RuntimeCase):
    SOURCE = """\
        from azureml.contrib.services.aml_request import AMLRequest, rawhttp
        from azureml.contrib.services.aml_response import AMLResponse
        @rawhttp
        def run(request):
            kind = request.headers.get('x-kind')
            if kind == 'echo':
                return {
                    'method': request.method, 'path': request.path,
                    'full_path': request.full_path, 'url': request.url,
                    'n': request.args.get('n', type=int), 'missing': request.args.get('m', 'dflt'),
                    'content_type': request.content_type, 'text': request.get_data(as_text=True),
                    'data_len': len(request.data), 'host': request.headers['HOST'],
                }
            if kind == 'json':
                return AMLResponse({'doubled': [2 * v for v in request.get_json()['v']]}, 200,
                                   json_str=True)
            if kind == 'headers':
                return AMLResponse('made', 201, {'X-Model': 'v2', 'Content-Length': '99',
                                                 'x-request-id': 'mine'})
            if kind == 'bytes':
                return AMLResponse(b'\\x89PNG', 200, {'Content-Type': 'image/png'})
            if kind == 'bad-status':
                return AMLResponse('x', 999)
            if kind == 'get-json':
                return request.get_json()
            return AMLResponse(None, 204)
        """

    def call(self, s, kind, body=b"", content_type="", query="", method="POST"):
        headers = [("Host", "example.org"), ("x-kind", kind)]
        return s.score(method, "/score", query, content_type, headers, body, "r1")

    def test_request(self):
        s = self.scorer(self.SOURCE)
        self.assertEqual(s.mode, "raw")
        reply = self.call(s, "echo", b"caf\xc3\xa9", "text/plain", "n=5&x=%20")
        self.assertReply(reply, 200, {
            "method": "POST", "path": "/score", "full_path": "/score?n=5&x=%20",
            "url": "http://example.org/score?n=5&x=%20", "n": 5, "missing": "dflt",
            "content_type": "text/plain", "text": "caf\u00e9", "data_len": 5,
            "host": "example.org"})
        reply = self.call(s, "echo", method="GET")
        self.assertEqual(json.loads(reply[2])["full_path"], "/score?")
        self.assertEqual(json.loads(reply[2])["url"], "http://example.org/score")

    def test_responses(self):
        s = self.scorer(self.SOURCE)
        self.assertEqual(self.call(s, "json", b'{"v": [1, 2]}', "application/json"),
                         (200, "application/json", b'{"doubled": [2, 4]}', []))
        # Headers the worker writes itself are dropped; the others are passed on.
        self.assertEqual(self.call(s, "headers"),
                         (201, "text/html; charset=utf-8", b"made", [("X-Model", "v2")]))
        self.assertEqual(self.call(s, "bytes"), (200, "image/png", b"\x89PNG", []))
        self.assertEqual(self.call(s, "none"), (204, "text/html; charset=utf-8", b"", []))
        self.assertMessage(self.call(s, "bad-status"), 500, "status 999")

    def test_get_json_needs_json_content_type(self):
        s = self.scorer(self.SOURCE)
        self.assertMessage(self.call(s, "get-json", b'{"a": 1}', "text/plain"), 400,
                           "expected Content-Type application/json, got text/plain")
        self.assertMessage(self.call(s, "get-json", b'{"a": ', "application/json"), 400,
                           "not valid JSON")
        self.assertReply(self.call(s, "get-json", b'{"a": 1}', "application/json"), 200,
                         {"a": 1})


# ---- swagger ----


class SwaggerTest(RuntimeCase):
    def doc(self, s, version):
        reply = s.swagger(version)
        self.assertEqual(reply[0], 200, reply[2])
        self.assertEqual(reply[1], "application/json")
        return json.loads(reply[2])

    def test_generated_from_decorators(self):
        s = self.scorer(SchemaRunTest.SOURCE)
        v2 = self.doc(s, 2)
        self.assertEqual(v2["swagger"], "2.0")
        service_input = v2["definitions"]["ServiceInput"]
        self.assertEqual(list(service_input["properties"]), ["data", "factor"])
        self.assertEqual(service_input["required"], ["data"])
        self.assertEqual(service_input["properties"]["data"],
                         {"type": "array", "items": {"type": "array",
                                                     "items": {"type": "number",
                                                               "format": "double"}}})
        self.assertEqual(service_input["properties"]["factor"],
                         {"type": "number", "format": "double"})
        self.assertEqual(service_input["example"], {"data": [[1.0, 2.0]], "factor": 2.0})
        self.assertEqual(v2["definitions"]["ServiceOutput"],
                         {"type": "array", "items": {"type": "number", "format": "double"},
                          "example": [1.0]})
        score = v2["paths"]["/score"]
        self.assertEqual(score["post"]["parameters"][0]["schema"],
                         {"$ref": "#/definitions/ServiceInput"})
        self.assertEqual([p["name"] for p in score["get"]["parameters"]], ["data", "factor"])
        self.assertEqual([p["required"] for p in score["get"]["parameters"]], [True, False])

        v3 = self.doc(s, 3)
        self.assertEqual(v3["openapi"], "3.0.1")
        self.assertEqual(v3["components"]["schemas"]["ServiceInput"], service_input)
        body = v3["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
        self.assertEqual(body["schema"], {"$ref": "#/components/schemas/ServiceInput"})
        self.assertIn("Bearer", v3["components"]["securitySchemes"])

    def test_undecorated(self):
        s = self.scorer("def run(d):\n    return d\n")
        for version in (2, 3):
            doc = self.doc(s, version)
            schemas = doc["definitions"] if version == 2 else doc["components"]["schemas"]
            self.assertEqual(schemas["ServiceInput"], {"type": "object", "example": {}})
            self.assertEqual(schemas["ServiceOutput"], {"type": "object", "example": {}})

    def test_optional_input_is_not_required(self):
        s = self.scorer(schema_source("""\
            @input_schema('a', StandardPythonParameterType(1), optional=True)
            @input_schema('b', StandardPythonParameterType('x'))
            def run(a, b):
                return a
            """))
        self.assertEqual(self.doc(s, 2)["definitions"]["ServiceInput"]["required"], ["b"])

    def test_files_beside_the_script(self):
        self.write("swagger.json", '{"file": "swagger.json"}')
        s = self.scorer("def run(d):\n    return d\n")
        self.assertEqual(s.swagger(2)[2], b'{"file": "swagger.json"}')
        self.assertEqual(self.doc(s, 3)["openapi"], "3.0.1")  # swagger.json is version 2 only

        self.write("swagger2.json", '{"file": "swagger2.json"}')
        self.write("swagger3.json", '{"file": "swagger3.json"}')
        s = self.scorer("def run(d):\n    return d\n")
        self.assertEqual(s.swagger(2)[2], b'{"file": "swagger2.json"}')
        self.assertEqual(s.swagger(3)[2], b'{"file": "swagger3.json"}')
        self.assertEqual(s.swagger(7)[2], b'{"file": "swagger2.json"}')  # default: version 2

    def test_script_hook(self):
        s = self.scorer("def run(d):\n    return d\n"
                        "def inferd_swagger(version):\n"
                        "    return {'hook': version} if version == 3 else None\n")
        self.assertEqual(self.doc(s, 3), {"hook": 3})
        self.assertEqual(self.doc(s, 2)["swagger"], "2.0")  # None: generated

    def test_hook_failure_is_500(self):
        s = self.scorer("def run(d):\n    return d\n"
                        "def inferd_swagger(version):\n    raise ValueError('no')\n")
        self.assertMessage(s.swagger(2), 500, "cannot build the Swagger document: ValueError: no")


# ---- streams ----


class StreamTest(unittest.TestCase):
    def test_prefix_and_partial_lines(self):
        target = io.StringIO()
        stream = RequestLineStream(target)
        stream.write("before\n")
        stream.set_request("id1")
        stream.write("a\nb")
        stream.write("c\n\n")
        stream.write("tail")
        self.assertEqual(target.getvalue(), "before\n[id1] a\n[id1] bc\n[id1] \n")
        stream.set_request(None)  # the partial line ends with the request
        stream.write("after")
        self.assertEqual(target.getvalue(), "before\n[id1] a\n[id1] bc\n[id1] \n[id1] tail\nafter")

    def test_is_a_text_stream(self):
        stream = RequestLineStream(io.StringIO())
        self.assertIsInstance(stream, io.TextIOBase)
        self.assertTrue(stream.writable())
        self.assertEqual(stream.write("x"), 1)
        with self.assertRaises(TypeError):
            stream.write(b"bytes")
        stream.close()  # only flushes
        stream.write("still open")


# ---- inference_schema ----


class NumpyTypeTest(unittest.TestCase):
    def test_deserialize(self):
        t = NumpyParameterType(np.array([[1.0, 2.0, 3.0]]))
        a = t.deserialize_input([[1, 2, 3], [4, 5, 6]])
        self.assertEqual(a.dtype, np.float64)
        self.assertEqual(a.shape, (2, 3))
        same = np.zeros((1, 3))
        self.assertIs(t.deserialize_input(same), same)
        with self.assertRaisesRegex(ValueError, r"shape \(2,\), the schema expects \(n, 3\)"):
            t.deserialize_input([1, 2])
        with self.assertRaisesRegex(ValueError, "cannot convert the input to a float64 array"):
            t.deserialize_input([[1, 2], [3]])
        with self.assertRaisesRegex(ValueError, "expected a JSON array"):
            t.deserialize_input({"a": 1})

    def test_flags_off(self):
        t = NumpyParameterType(np.array([[1, 2]], dtype=np.int32), enforce_column_type=False,
                               enforce_shape=False)
        a = t.deserialize_input([1.5, 2.5, 3.5])
        self.assertEqual(a.dtype, np.float64)
        self.assertEqual(a.shape, (3,))

    def test_structured(self):
        sample = np.array([(1, 2.5, "a")], dtype=[("id", "i4"), ("v", "f8"), ("s", "U5")])
        t = NumpyParameterType(sample)
        a = t.deserialize_input([{"id": 7, "v": 1, "s": "x"}, [8, 2, "y"]])
        self.assertEqual(a.dtype, sample.dtype)
        self.assertEqual(a["id"].tolist(), [7, 8])
        swagger = t.input_to_swagger()
        self.assertEqual(swagger["items"], {"type": "object", "properties": {
            "id": {"type": "integer", "format": "int32"},
            "v": {"type": "number", "format": "double"},
            "s": {"type": "string"}}})
        self.assertEqual(swagger["example"], [{"id": 1, "v": 2.5, "s": "a"}])

    def test_swagger_formats(self):
        cases = [(np.array([1], dtype=np.int64), {"type": "integer", "format": "int64"}),
                 (np.array([1], dtype=np.int16), {"type": "integer", "format": "int32"}),
                 (np.array([1.0], dtype=np.float32), {"type": "number", "format": "float"}),
                 (np.array([True]), {"type": "boolean"}),
                 (np.array(["x"]), {"type": "string"}),
                 (np.array(["2024-01-02T03:04"], dtype="datetime64[m]"),
                  {"type": "string", "format": "date-time"})]
        for sample, items in cases:
            swagger = NumpyParameterType(sample).input_to_swagger()
            self.assertEqual(swagger["type"], "array")
            self.assertEqual(swagger["items"], items, sample.dtype)
        self.assertEqual(NumpyParameterType(np.array([[1, 2]])).input_to_swagger()["example"],
                         [[1, 2]])
        self.assertEqual(NumpyParameterType(np.array(["2024-01-02"], dtype="datetime64[D]"))
                         .input_to_swagger()["example"], ["2024-01-02"])

    def test_sample_must_be_an_array(self):
        with self.assertRaisesRegex(TypeError, "must be a numpy array"):
            NumpyParameterType([1, 2])


class PandasTypeTest(unittest.TestCase):
    SAMPLE = pd.DataFrame({"a": [1], "b": [0.5], "c": ["x"]})

    def test_records(self):
        t = PandasParameterType(self.SAMPLE)
        f = t.deserialize_input([{"c": "y", "b": 2, "a": 3}])
        self.assertEqual(list(f.columns), ["a", "b", "c"])
        self.assertEqual([str(d) for d in f.dtypes], ["int64", "float64", "object"])
        empty = t.deserialize_input([])
        self.assertEqual(list(empty.columns), ["a", "b", "c"])
        self.assertEqual(len(empty), 0)
        with self.assertRaisesRegex(ValueError, "missing column"):
            t.deserialize_input([{"a": 1, "b": 2}])
        with self.assertRaisesRegex(ValueError, "unexpected column.*'d'"):
            t.deserialize_input([{"a": 1, "b": 2, "c": "x", "d": 0}])
        with self.assertRaisesRegex(ValueError, "column 'a': cannot convert to int64"):
            t.deserialize_input([{"a": None, "b": 2, "c": "x"}])
        with self.assertRaisesRegex(ValueError, "expected a JSON array of rows"):
            t.deserialize_input({"a": 1})
        frame = pd.DataFrame({"z": [1]})
        self.assertIs(t.deserialize_input(frame), frame)

    def test_no_enforcement(self):
        t = PandasParameterType(self.SAMPLE, enforce_column_type=False, enforce_shape=False)
        f = t.deserialize_input([{"z": "q"}])
        self.assertEqual(list(f.columns), ["z"])

    def test_orients(self):
        split = PandasParameterType(self.SAMPLE, orient="split")
        f = split.deserialize_input({"columns": ["a", "b", "c"], "index": [7],
                                     "data": [[1, 2.0, "x"]]})
        self.assertEqual(f.index.tolist(), [7])
        with self.assertRaisesRegex(ValueError, "orient 'split' expects"):
            split.deserialize_input({"columns": ["a"], "rows": []})

        values = PandasParameterType(self.SAMPLE, orient="values", apply_column_names=True)
        f = values.deserialize_input([[1, 2.0, "x"], [2, 3.0, "y"]])
        self.assertEqual(list(f.columns), ["a", "b", "c"])
        self.assertEqual(f["a"].tolist(), [1, 2])

        columns = PandasParameterType(self.SAMPLE, orient="columns")
        f = columns.deserialize_input({"a": {"0": 1}, "b": {"0": 2.0}, "c": {"0": "x"}})
        self.assertEqual(f["c"].tolist(), ["x"])

        index = PandasParameterType(self.SAMPLE, orient="index")
        f = index.deserialize_input({"r1": {"a": 1, "b": 2.0, "c": "x"}})
        self.assertEqual(f.index.tolist(), ["r1"])

        table = PandasParameterType(self.SAMPLE, orient="table")
        doc = json.loads(self.SAMPLE.to_json(orient="table"))
        self.assertEqual(table.deserialize_input(doc)["a"].tolist(), [1])

        with self.assertRaisesRegex(ValueError, "orient 'sideways' is not one of"):
            PandasParameterType(self.SAMPLE, orient="sideways")

    def test_swagger(self):
        swagger = PandasParameterType(self.SAMPLE).input_to_swagger()
        self.assertEqual(swagger["type"], "array")
        self.assertEqual(swagger["items"]["required"], ["a", "b", "c"])
        self.assertEqual(swagger["items"]["properties"]["a"], {"type": "integer", "format": "int64"})
        self.assertEqual(swagger["items"]["properties"]["c"], {"type": "object"})
        self.assertEqual(swagger["example"], [{"a": 1, "b": 0.5, "c": "x"}])
        split = PandasParameterType(self.SAMPLE, orient="split").input_to_swagger()
        self.assertEqual(split["type"], "object")
        self.assertEqual(split["example"]["columns"], ["a", "b", "c"])
        for orient in ("values", "columns", "index", "table"):
            swagger = PandasParameterType(self.SAMPLE, orient=orient).input_to_swagger()
            json.dumps(swagger)
            self.assertIn("example", swagger)


class StandardTypeTest(unittest.TestCase):
    def test_plain_values(self):
        self.assertEqual(StandardPythonParameterType(1.0).deserialize_input(3), 3.0)
        self.assertIsInstance(StandardPythonParameterType(1.0).deserialize_input(3), float)
        self.assertIs(StandardPythonParameterType(1.0).deserialize_input(True), True)
        self.assertEqual(StandardPythonParameterType("s").deserialize_input("t"), "t")
        self.assertEqual(StandardPythonParameterType({"k": 1}).deserialize_input({"x": 2}),
                         {"x": 2})
        when = StandardPythonParameterType(datetime.datetime(2020, 1, 1))
        self.assertEqual(when.deserialize_input("2024-05-06T07:08:09"),
                         datetime.datetime(2024, 5, 6, 7, 8, 9))
        with self.assertRaisesRegex(ValueError, "not an ISO 8601"):
            when.deserialize_input("yesterday")

    def test_nested_types(self):
        t = StandardPythonParameterType({
            "input1": NumpyParameterType(np.array([1.0, 2.0])),
            "input2": PandasParameterType(pd.DataFrame({"a": [1]})),
            "flag": True,
        })
        out = t.deserialize_input({"input1": [3, 4], "input2": [{"a": 5}], "flag": False})
        self.assertIsInstance(out["input1"], np.ndarray)
        self.assertIsInstance(out["input2"], pd.DataFrame)
        self.assertIs(out["flag"], False)
        self.assertIs(t.deserialize_input(out)["input1"], out["input1"])  # idempotent
        with self.assertRaisesRegex(ValueError, "input1: expected a JSON array"):
            t.deserialize_input({"input1": 3})
        with self.assertRaisesRegex(ValueError, "expected a JSON object"):
            t.deserialize_input([1])

        listed = StandardPythonParameterType([NumpyParameterType(np.array([1]))])
        out = listed.deserialize_input([[1, 2], [3]])
        self.assertEqual([a.tolist() for a in out], [[1, 2], [3]])

    def test_swagger(self):
        t = StandardPythonParameterType({"n": 1, "x": 1.5, "s": "a", "b": True, "l": ["q"],
                                         "d": datetime.date(2024, 1, 2),
                                         "arr": NumpyParameterType(np.array([1.0]))})
        swagger = t.input_to_swagger()
        self.assertEqual(swagger["type"], "object")
        props = swagger["properties"]
        self.assertEqual(props["n"], {"type": "integer", "format": "int64"})
        self.assertEqual(props["x"], {"type": "number", "format": "double"})
        self.assertEqual(props["s"], {"type": "string"})
        self.assertEqual(props["b"], {"type": "boolean"})
        self.assertEqual(props["l"], {"type": "array", "items": {"type": "string"}})
        self.assertEqual(props["d"], {"type": "string", "format": "date"})
        self.assertEqual(props["arr"]["items"], {"type": "number", "format": "double"})
        self.assertEqual(swagger["example"], {"n": 1, "x": 1.5, "s": "a", "b": True, "l": ["q"],
                                              "d": "2024-01-02", "arr": [1.0]})
        json.dumps(swagger)


class DecoratorTest(unittest.TestCase):
    def test_direct_calls_convert_and_record(self):
        @input_schema("data", NumpyParameterType(np.array([[1.0]])))
        @input_schema("opts", StandardPythonParameterType({"k": 1}))
        @output_schema(StandardPythonParameterType(1.0))
        def run(data, opts=None):
            return type(data).__name__

        self.assertEqual(run([[1]]), "ndarray")                 # positional
        self.assertEqual(run(data=[[1]]), "ndarray")            # keyword
        self.assertEqual(run(np.zeros((1, 1))), "ndarray")      # already typed
        self.assertEqual(list(run.__inferd_input_schema__), ["opts", "data"])
        self.assertEqual(run.__inferd_input_convert__, {"opts": True, "data": True})
        self.assertIsInstance(run.__inferd_output_schema__, StandardPythonParameterType)
        self.assertEqual(run.__name__, "run")
        self.assertEqual(set(schema_util.get_input_schema(run)), {"data", "opts"})
        self.assertIsNotNone(schema_util.get_output_schema(run))
        self.assertTrue(schema_util.is_schema_decorated(run))

    def test_stacking_does_not_share_records(self):
        def base(a, b):
            return a, b

        one = input_schema("a", StandardPythonParameterType(1))(base)
        two = input_schema("b", StandardPythonParameterType(2))(one)
        self.assertEqual(list(one.__inferd_input_schema__), ["a"])
        self.assertEqual(list(two.__inferd_input_schema__), ["a", "b"])

    def test_errors_at_decoration(self):
        with self.assertRaisesRegex(ValueError, r"run\(\) has no parameter 'x'"):
            @input_schema("x", StandardPythonParameterType(1))
            def run(data):
                return data
        with self.assertRaisesRegex(TypeError, "must be an AbstractParameterType"):
            input_schema("data", [1, 2])
        with self.assertRaisesRegex(TypeError, "must be an AbstractParameterType"):
            output_schema("x")

        @input_schema("anything", StandardPythonParameterType(1))
        def takes_kwargs(**kwargs):
            return kwargs

        self.assertEqual(takes_kwargs(anything=1.0), {"anything": 1.0})

    def test_custom_parameter_type(self):
        class Upper(AbstractParameterType):
            def deserialize_input(self, input_data):
                return input_data.upper()

            def input_to_swagger(self):
                return {"type": "string", "example": self.sample_input}

        @input_schema("s", Upper("abc"))
        def run(s):
            return s

        self.assertEqual(run("x"), "X")
        with self.assertRaises(TypeError):
            AbstractParameterType(1)


# ---- azureml compatibility ----


class AzuremlModulesTest(unittest.TestCase):
    def test_new_import_path_is_the_same_classes(self):
        from azureml_inference_server_http.api.aml_request import AMLRequest as NewRequest
        from azureml_inference_server_http.api.aml_request import rawhttp as new_rawhttp
        from azureml_inference_server_http.api.aml_response import AMLResponse as NewResponse
        self.assertIs(NewRequest, AMLRequest)
        self.assertIs(NewResponse, AMLResponse)
        self.assertIs(new_rawhttp, rawhttp)

    def test_rawhttp_marks_the_function(self):
        def run(request):
            return request

        self.assertIs(rawhttp(run), run)
        self.assertTrue(run.__inferd_rawhttp__)

    def test_request(self):
        r = AMLRequest("post", "/score", "a=1&a=2&b=x", [("Content-Type", "application/json"),
                                                        ("X-Id", "7")], b'{"k": [1]}')
        self.assertEqual(r.method, "POST")
        self.assertEqual(r.content_type, "application/json")
        self.assertEqual(r.mimetype, "application/json")
        self.assertTrue(r.is_json)
        self.assertEqual(r.headers["x-id"], "7")
        self.assertIn("CONTENT-TYPE", r.headers)
        self.assertEqual(r.args["a"], "1")
        self.assertEqual(r.args.getlist("a"), ["1", "2"])
        self.assertEqual(r.args.get("a", type=int), 1)
        self.assertEqual(r.args.get("b", type=int, default=-1), -1)
        self.assertEqual(r.args.to_dict(), {"a": "1", "b": "x"})
        self.assertEqual(r.get_json(), {"k": [1]})
        self.assertEqual(r.json, {"k": [1]})
        self.assertEqual(r.get_data(), b'{"k": [1]}')
        self.assertEqual(r.get_data(False, True), '{"k": [1]}')
        self.assertEqual(r.stream.read(), b'{"k": [1]}')
        with self.assertRaises(KeyError):
            r.args["zzz"]

    def test_request_json_errors(self):
        r = AMLRequest("POST", "/score", "", [], b"not json", "text/plain")
        self.assertIsNone(r.get_json(silent=True))
        with self.assertRaises(BadRequest):
            r.get_json()
        with self.assertRaisesRegex(BadRequest, "not valid JSON"):
            r.get_json(force=True)
        self.assertIsNone(r.get_json(force=True, silent=True))
        vendor = AMLRequest("POST", "/score", "", [], b"[1]", "application/vnd.x+json")
        self.assertEqual(vendor.get_json(), [1])

    def test_response(self):
        r = AMLResponse({"a": np.int64(1)}, "201", {"X-A": "1"}, json_str=True)
        self.assertEqual(r.status_code, 201)
        self.assertEqual(r.get_data(), b'{"a": 1}')
        self.assertEqual(r.content_type, "application/json")
        self.assertEqual(r.headers.items(), [("X-A", "1"), ("Content-Type", "application/json")])
        text = AMLResponse("h\u00e9", 200)
        self.assertEqual(text.data, "h\u00e9".encode())
        self.assertEqual(text.get_data(as_text=True), "h\u00e9")
        self.assertEqual(text.mimetype, "text/html")
        self.assertEqual(AMLResponse(b"\x00\x01", 200).data, b"\x00\x01")
        self.assertEqual(AMLResponse([1, 2], 200).data, b"[1, 2]")
        own = AMLResponse("x", 200, {"content-type": "text/csv"})
        self.assertEqual(own.content_type, "text/csv")

    def test_headers_and_args_containers(self):
        h = Headers({"A": "1"})
        h.add("a", "2")
        self.assertEqual(h.getlist("A"), ["1", "2"])
        self.assertEqual(h.to_dict(), {"A": "1", "a": "2"})
        h["A"] = "3"
        self.assertEqual(h.items(), [("A", "3")])
        del h["a"]
        self.assertEqual(len(h), 0)
        with self.assertRaises(KeyError):
            h["a"]
        args = Args([("x", "1"), ("x", "2")])
        self.assertEqual(args.items(multi=True), [("x", "1"), ("x", "2")])
        self.assertEqual(args.to_dict(flat=False), {"x": ["1", "2"]})
        self.assertEqual(args.getlist("x", type=int), [1, 2])

    def test_namespace_stays_open(self):
        import azureml
        import azureml.contrib
        self.assertTrue(any(p.endswith(os.path.join("python", "azureml")) for p in azureml.__path__))


if __name__ == "__main__":
    unittest.main()
