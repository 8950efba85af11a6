"""Tests of inferd's no-code MLflow scoring script (python/inferd/mlflow_score.py).

Run from the repository root:
    /usr/bin/python3.11 -m unittest discover -s python/tests -t python

Model folders are written to temporary directories by the iris example's
generator (examples/mlflow-iris/make_model.py), used as a library.
"""

import contextlib
import importlib.util
import io
import json
import os
import pickle
import shutil
import sys
import tempfile
import types
import unittest
import warnings
from unittest import mock

import numpy as np
import yaml
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from inferd import batch, mlflow_score
from inferd.batch import MiniBatchResult
from inferd.mlflow_score import BadRequest, ColumnSpec, ModelLoadError, TensorSpec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAKE_MODEL = os.path.join(REPO, "examples", "mlflow-iris", "make_model.py")
SAMPLE_REQUEST = os.path.join(REPO, "examples", "mlflow-iris", "sample-request.json")


def _load_make_model():
    spec = importlib.util.spec_from_file_location("make_model", MAKE_MODEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_model = _load_make_model()

IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
# One flower of each species: the iris model answers [0, 1, 2].
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]]
IRIS_CLASSES = [0, 1, 2]


def input_data_schema(document):
    """Return the schema of input_data in a swagger 2 or OpenAPI 3 document."""
    schemas = document.get("definitions") or document["components"]["schemas"]
    return schemas["ServiceInput"]["properties"]["input_data"]


class FakeAMLResponse:
    """Stands in for AMLResponse where inferd's azureml package is absent."""

    def __init__(self, message, status_code, response_headers=None, json_str=False):
        self.status_code = status_code
        self.body = json.dumps(message) if json_str else message

    def get_data(self, as_text=False):
        return self.body if as_text else self.body.encode()


def _aml_response_modules():
    """Return the sys.modules entries to patch: none if the real module loads."""
    try:
        importlib.import_module("azureml.contrib.services.aml_response")
    except ImportError:
        module = types.ModuleType("azureml.contrib.services.aml_response")
        module.AMLResponse = FakeAMLResponse
        return {module.__name__: module}
    return {}


class ModelFolders(unittest.TestCase):
    """Base: a temporary directory of model folders and a scoring helper."""

    @classmethod
    def setUpClass(cls):
        cls.modules = mock.patch.dict(sys.modules, _aml_response_modules())
        cls.modules.start()
        cls.tmp = tempfile.mkdtemp(prefix="test_mlflow_score.")
        cls.iris_model, cls.iris_signature, cls.iris_example = make_model.build_iris_model()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)
        cls.modules.stop()

    def tearDown(self):
        mlflow_score._model = None

    def new_root(self):
        """Return a fresh empty AZUREML_MODEL_DIR."""
        return tempfile.mkdtemp(dir=self.tmp)

    def save(self, model=None, folder="model", root=None, **options):
        """Save an MLflow folder ROOT/FOLDER (default: the iris model); return ROOT."""
        root = root or self.new_root()
        if model is None:
            model = self.iris_model
            options.setdefault("signature", self.iris_signature)
            options.setdefault("input_example", self.iris_example)
        make_model.save_sklearn_model(model, os.path.join(root, folder), **options)
        return root

    def edit_mlmodel(self, root, change, folder="model"):
        path = os.path.join(root, folder, "MLmodel")
        with open(path) as f:
            mlmodel = yaml.safe_load(f)
        change(mlmodel)
        with open(path, "w") as f:
            yaml.safe_dump(mlmodel, f)

    def set_flavor(self, root, flavor, **values):
        self.edit_mlmodel(root, lambda mlmodel: mlmodel["flavors"][flavor].update(values))

    def init(self, root):
        with mock.patch.dict(os.environ, {"AZUREML_MODEL_DIR": root}):
            mlflow_score.init()

    def score(self, body):
        return mlflow_score.run(body if isinstance(body, str) else json.dumps(body))

    def assertBadRequest(self, result, *fragments):
        self.assertTrue(hasattr(result, "status_code"), f"expected a 400, got {result!r}")
        self.assertEqual(result.status_code, 400)
        message = json.loads(result.get_data(as_text=True))["message"]
        self.assertNotIn("\n", message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message


class TestModelFolder(ModelFolders):
    def test_root_itself_holds_mlmodel(self):
        root = self.save()
        folder = os.path.join(root, "model")
        self.assertEqual(mlflow_score.find_model_folder(folder), folder)

    def test_single_sub_folder(self):
        root = self.save(folder="iris")
        os.mkdir(os.path.join(root, "notes"))
        os.mkdir(os.path.join(root, ".model.new-1"))  # hidden: ignored
        self.assertEqual(mlflow_score.find_model_folder(root), os.path.join(root, "iris"))

    def test_several_models_are_named(self):
        root = self.save(folder="first")
        self.save(root=root, folder="second")
        with self.assertRaisesRegex(ModelLoadError, "several MLflow models.*first, second"):
            mlflow_score.find_model_folder(root)

    def test_no_mlmodel(self):
        root = self.new_root()
        os.mkdir(os.path.join(root, "weights"))
        with open(os.path.join(root, "weights", "model.pkl"), "wb") as f:
            f.write(b"x")
        with self.assertRaisesRegex(ModelLoadError, r"no MLmodel file.*\(weights\)"):
            self.init(root)

    def test_model_dir_unset_or_missing(self):
        with mock.patch.dict(os.environ, clear=True):
            with self.assertRaisesRegex(ModelLoadError, "AZUREML_MODEL_DIR is not set"):
                mlflow_score.init()
        with self.assertRaisesRegex(ModelLoadError, "not a directory"):
            self.init(os.path.join(self.tmp, "missing"))


class TestLoading(ModelFolders):
    def test_iris_folder_loads(self):
        root = self.save()
        self.init(root)
        self.assertEqual(mlflow_score._model.flavor, "sklearn")
        self.assertEqual([s.name for s in mlflow_score._model.signature.inputs], IRIS_COLUMNS)
        self.assertEqual(self.score({"input_data": IRIS_ROWS}), IRIS_CLASSES)

    def test_unsupported_flavors_are_named(self):
        root = self.save()

        def tensorflow_only(mlmodel):
            mlmodel["flavors"] = {
                "tensorflow": {"saved_model_dir": "tfmodel"},
                "python_function": {"loader_module": "mlflow.tensorflow"},
            }

        self.edit_mlmodel(root, tensorflow_only)
        with self.assertRaises(ModelLoadError) as caught:
            self.init(root)
        message = str(caught.exception)
        self.assertIn("MLmodel", message)
        self.assertIn("tensorflow", message)
        self.assertIn("python_function (loader_module mlflow.tensorflow)", message)
        self.assertIn("supported flavors: sklearn", message)

    def test_other_unsupported_flavors(self):
        for flavor in ("pytorch", "onnx", "xgboost"):
            with self.subTest(flavor=flavor):
                root = self.save()
                self.edit_mlmodel(root, lambda m: m.update(flavors={flavor: {"data": "x"}}))
                with self.assertRaisesRegex(ModelLoadError, f"flavor {flavor} cannot be served"):
                    self.init(root)

    def test_python_function_with_sklearn_loader(self):
        root = self.save()
        self.edit_mlmodel(root, lambda m: m["flavors"].pop("sklearn"))
        self.init(root)
        self.assertEqual(mlflow_score._model.flavor, "python_function (mlflow.sklearn)")
        self.assertEqual(self.score({"input_data": IRIS_ROWS}), IRIS_CLASSES)

    def test_old_python_function_data_key(self):
        root = self.save()

        def old_layout(mlmodel):
            del mlmodel["flavors"]["sklearn"]
            mlmodel["flavors"]["python_function"]["data"] = "model.pkl"
            del mlmodel["flavors"]["python_function"]["model_path"]

        self.edit_mlmodel(root, old_layout)
        self.init(root)
        self.assertEqual(self.score({"input_data": IRIS_ROWS}), IRIS_CLASSES)

    def test_cloudpickle_format_is_read_with_pickle(self):
        root = self.save(serialization_format="cloudpickle")
        self.init(root)
        self.assertEqual(self.score({"input_data": IRIS_ROWS}), IRIS_CLASSES)

    def test_by_value_cloudpickle_needs_cloudpickle(self):
        root = self.save()
        # What cloudpickle writes for code saved by value: a reference to
        # one of its own functions.
        with open(os.path.join(root, "model", "model.pkl"), "wb") as f:
            f.write(b"ccloudpickle.cloudpickle\n_make_function\n.")
        self.set_flavor(root, "sklearn", serialization_format="cloudpickle")
        with self.assertRaisesRegex(ModelLoadError, "model.pkl: written by cloudpickle.*'pickle'"):
            self.init(root)

    def test_missing_module_is_named(self):
        root = self.save()
        with open(os.path.join(root, "model", "model.pkl"), "wb") as f:
            f.write(b"cxgboost_is_not_here\nBooster\n.")
        with self.assertRaisesRegex(ModelLoadError, "needs the Python module 'xgboost_is_not_"):
            self.init(root)

    def test_corrupt_pickle(self):
        root = self.save()
        with open(os.path.join(root, "model", "model.pkl"), "wb") as f:
            f.write(b"not a pickle")
        with self.assertRaisesRegex(ModelLoadError, r"model.pkl: cannot unpickle \(pickle\)"):
            self.init(root)

    def test_unknown_serialization_format(self):
        root = self.save()
        self.set_flavor(root, "sklearn", serialization_format="joblib")
        with self.assertRaisesRegex(ModelLoadError, "serialization_format 'joblib' is not supp"):
            self.init(root)

    def test_pickled_model_outside_the_folder(self):
        root = self.save()
        self.set_flavor(root, "sklearn", pickled_model="../x.pkl")
        with self.assertRaisesRegex(ModelLoadError, "pickled_model '../x.pkl' is outside"):
            self.init(root)

    def test_missing_pickle_file(self):
        root = self.save()
        os.remove(os.path.join(root, "model", "model.pkl"))
        with self.assertRaisesRegex(ModelLoadError, "model.pkl: cannot read the model"):
            self.init(root)

    def test_bad_yaml_and_bad_signature(self):
        root = self.save()
        with open(os.path.join(root, "model", "MLmodel"), "w") as f:
            f.write("flavors: [unclosed\n")
        with self.assertRaisesRegex(ModelLoadError, "MLmodel: not valid YAML"):
            self.init(root)
        root = self.save()
        self.edit_mlmodel(root, lambda m: m["signature"].update(inputs="[{broken"))
        with self.assertRaisesRegex(ModelLoadError, "signature.inputs: not valid JSON"):
            self.init(root)

    def test_predict_fn(self):
        root = self.save()
        self.set_flavor(root, "python_function", predict_fn="predict_proba")
        self.init(root)
        probabilities = self.score({"input_data": IRIS_ROWS})
        self.assertEqual(len(probabilities), 3)
        self.assertEqual([int(np.argmax(p)) for p in probabilities], IRIS_CLASSES)
        self.set_flavor(root, "python_function", predict_fn="fit")
        with self.assertRaisesRegex(ModelLoadError, "predict_fn 'fit' is not one of"):
            self.init(root)

    def test_run_before_init(self):
        with self.assertRaisesRegex(RuntimeError, "before init"):
            mlflow_score.run("{}")


class TestInputFormats(ModelFolders):
    def setUp(self):
        self.init(self.save())

    def records(self, rows=IRIS_ROWS, columns=IRIS_COLUMNS):
        return [dict(zip(columns, row)) for row in rows]

    def test_every_format(self):
        columns = {name: [row[i] for row in IRIS_ROWS] for i, name in enumerate(IRIS_COLUMNS)}
        split = {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}
        bodies = {
            "azure split": {"input_data": {**split, "index": [0, 1, 2]}},
            "azure split without index": {"input_data": split},
            "azure rows": {"input_data": IRIS_ROWS},
            "azure records": {"input_data": self.records()},
            "azure columns": {"input_data": columns},
            "dataframe_split": {"dataframe_split": split},
            "dataframe_records": {"dataframe_records": self.records()},
            "instances rows": {"instances": IRIS_ROWS},
            "instances records": {"instances": self.records()},
            "inputs rows": {"inputs": IRIS_ROWS},
            "inputs columns": {"inputs": columns},
            "with params": {"inputs": IRIS_ROWS, "params": {"x": 1}},
        }
        for name, body in bodies.items():
            with self.subTest(name):
                self.assertEqual(self.score(body), IRIS_CLASSES)

    def test_the_example_request(self):
        with open(SAMPLE_REQUEST) as f:
            self.assertEqual(self.score(f.read()), IRIS_CLASSES)

    def test_one_row_forms(self):
        self.assertEqual(self.score({"inputs": IRIS_ROWS[2]}), [2])
        self.assertEqual(self.score({"inputs": dict(zip(IRIS_COLUMNS, IRIS_ROWS[2]))}), [2])
        self.assertEqual(self.score({"input_data": [IRIS_ROWS[1]]}), [1])

    def test_columns_are_matched_by_name(self):
        order = [3, 1, 0, 2]
        columns = [IRIS_COLUMNS[i] for i in order] + ["colour"]
        rows = [[row[i] for i in order] + ["blue"] for row in IRIS_ROWS]
        body = {"input_data": {"columns": columns, "data": rows}}
        self.assertEqual(self.score(body), IRIS_CLASSES)

    def test_integers_for_double_columns(self):
        self.assertEqual(self.score({"input_data": [[5, 3, 1, 0]]}), [0])

    def test_bytes_body(self):
        self.assertEqual(mlflow_score.run(json.dumps({"inputs": IRIS_ROWS}).encode()), IRIS_CLASSES)

    def test_bad_bodies(self):
        cases = {
            "not json": ("request body is not valid JSON", '"input_data"', '"dataframe_split"'),
            "[1, 2]": ("request body is a JSON array", '"inputs"'),
            "{}": ("request body has keys none",),
            '{"data": [[1]]}': ("request body has keys 'data'", "input_data"),
            '{"inputs": [[1]], "instances": [[1]]}': ("keys 'inputs', 'instances'",),
            '{"input_data": 3}': ('"input_data" must be a list or an object, got a JSON number',),
            '{"dataframe_split": [[1]]}': ('"dataframe_split" must be an object with columns',),
            '{"dataframe_records": {"a": 1}}': ('"dataframe_records" must be a list of objects',),
            '{"dataframe_records": [{"a": 1}, 2]}': ("item 2 is a JSON number, expected an obj",),
            '{"instances": "x"}': ('"instances" must be a list, got a JSON string',),
            '{"input_data": []}': ('"input_data" is empty',),
            '{"inputs": {"a": [], "b": []}}': ('"inputs" has no values',),
            '{"dataframe_split": {"columns": ["a"]}}': ('"dataframe_split" has no "data"',),
            '{"dataframe_split": {"columns": "a", "data": [[1]]}}': ("columns\" must be a list",),
            '{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}': ("column twice",),
        }
        for body, fragments in cases.items():
            with self.subTest(body):
                self.assertBadRequest(self.score(body), *fragments)

    def test_bad_utf8(self):
        self.assertBadRequest(mlflow_score.run(b'{"inputs": "\xff"}'), "not valid UTF-8")

    def test_row_shapes(self):
        split = {"columns": IRIS_COLUMNS, "data": [IRIS_ROWS[0], IRIS_ROWS[1][:3]]}
        self.assertBadRequest(
            self.score({"input_data": split}),
            '"input_data.data" row 2 has 3 values, expected 4',
            "'petal width (cm)'",
        )
        self.assertBadRequest(
            self.score({"input_data": [IRIS_ROWS[0], IRIS_ROWS[1][:3]]}),
            "row 2 has 3 values, expected 4 like row 1",
        )
        self.assertBadRequest(
            self.score({"input_data": [[1.0, 2.0, 3.0]] * 2}),
            "each row must have 4 values",
            "'sepal length (cm)' (double)",
            "got 3",
        )
        self.assertBadRequest(
            self.score({"input_data": [IRIS_ROWS[0], 7]}), "row 2 is a JSON number"
        )
        split = {"columns": IRIS_COLUMNS, "index": [0], "data": IRIS_ROWS}
        self.assertBadRequest(
            self.score({"input_data": split}), '"input_data.index" has 1 entries for 3 rows'
        )
        columns = {"sepal length (cm)": [1.0, 2.0], "sepal width (cm)": [1.0]}
        self.assertBadRequest(
            self.score({"inputs": columns}),
            "column 'sepal width (cm)' has 1 values, the first column has 2",
        )


class TestSignatureValidation(ModelFolders):
    def setUp(self):
        self.init(self.save())

    def split(self, rows, columns=IRIS_COLUMNS):
        return {"input_data": {"columns": columns, "index": list(range(len(rows))), "data": rows}}

    def test_missing_column_is_named(self):
        message = self.assertBadRequest(
            self.score(self.split([row[:3] for row in IRIS_ROWS], IRIS_COLUMNS[:3])),
            "missing column 'petal width (cm)'",
        )
        self.assertIn("'sepal length (cm)' (double)", message)
        records = [dict(zip(IRIS_COLUMNS[1:], row[1:])) for row in IRIS_ROWS]
        self.assertBadRequest(
            self.score({"dataframe_records": records}), "missing column 'sepal length (cm)'"
        )

    def test_bad_value_names_column_and_value(self):
        rows = [IRIS_ROWS[0], [7.0, "wide", 4.7, 1.4]]
        self.assertBadRequest(
            self.score(self.split(rows)),
            "column 'sepal width (cm)' expects double",
            '"wide"',
            "row 2",
        )

    def test_booleans_nested_values_and_strings_are_not_numbers(self):
        cases = ((True, "true"), ([1.0], "[1.0]"), ({"v": 1}, '{"v": 1}'), ("3.5", '"3.5"'))
        for bad, shown in cases:
            with self.subTest(bad=bad):
                self.assertBadRequest(
                    self.score(self.split([[5.1, 3.5, bad, 0.2]])),
                    "column 'petal length (cm)' expects double",
                    f"got {shown} in row 1: not a number",
                )

    def test_null_in_double_column_reaches_the_model(self):
        # null is NaN for a double column; this model refuses NaN itself.
        self.assertBadRequest(
            self.score(self.split([[5.1, None, 1.4, 0.2]])),
            "the model cannot score this input",
            "NaN",
        )

    def test_positional_rows_with_bad_value(self):
        self.assertBadRequest(
            self.score({"instances": [[5.1, 3.5, 1.4, "x"]]}),
            "column 'petal width (cm)' expects double, got \"x\" in row 1",
        )


class TestColumnTypes(unittest.TestCase):
    """column_array() for every MLflow column type."""

    def check(self, kind, values):
        return mlflow_score.column_array(ColumnSpec("c", kind), values)

    def refuse(self, kind, values, *fragments):
        with self.assertRaises(BadRequest) as caught:
            self.check(kind, values)
        for fragment in ("column 'c' expects " + kind,) + fragments:
            self.assertIn(fragment, str(caught.exception))

    def test_double_and_float(self):
        array = self.check("double", [1, 2.5, None])
        self.assertEqual(array.dtype, np.float64)
        self.assertTrue(np.isnan(array[2]))
        self.assertEqual(self.check("float", [1, 2.5]).dtype, np.float32)
        self.refuse("float", [1.0, 1e300], "got 1e+300 in row 2: out of range")
        self.refuse("double", [1, 10**400], "row 2: out of range")
        self.refuse("double", [1, False], "got false in row 2: not a number")

    def test_long_and_integer(self):
        array = self.check("long", [1, 2.0, -(2**63)])
        self.assertEqual(array.dtype, np.int64)
        self.assertEqual(array.tolist(), [1, 2, -(2**63)])
        self.assertEqual(self.check("integer", [7, -8]).dtype, np.int32)
        self.refuse("long", [1, 2.5], "got 2.5 in row 2: not a whole number")
        self.refuse("long", [1, None], "got null in row 2: missing value")
        self.refuse("long", [2**63], "out of range for long")
        self.refuse("long", [1, 1e30], "row 2: out of range for long")
        self.refuse("integer", [1, 2**31], "got 2147483648 in row 2: out of range for integer")
        self.refuse("integer", ["1"], 'got "1" in row 1: not a number')

    def test_boolean(self):
        self.assertEqual(self.check("boolean", [True, False]).tolist(), [True, False])
        self.refuse("boolean", [True, 1], "got 1 in row 2: not true or false")

    def test_string(self):
        self.assertEqual(self.check("string", ["a", None]).tolist(), ["a", None])
        self.refuse("string", ["a", 3], "got 3 in row 2: not a string")

    def test_binary(self):
        self.assertEqual(self.check("binary", ["aGk=", None]).tolist(), [b"hi", None])
        self.refuse("binary", ["aGk=", "not base64!"], 'row 2: not base64 text')

    def test_datetime(self):
        array = self.check("datetime", ["2024-01-02T03:04:05", None])
        self.assertEqual(array.dtype, np.dtype("datetime64[ns]"))
        self.assertEqual(str(array[0])[:19], "2024-01-02T03:04:05")
        self.refuse("datetime", ["2024-01-02", "soonish"], '"soonish" in row 2: not a date-time')
        self.refuse("datetime", [20240102], "not a string")

    def test_long_values_are_shortened(self):
        with self.assertRaises(BadRequest) as caught:
            self.check("double", ["x" * 500])
        self.assertLess(len(str(caught.exception)), 200)


class TestTypedModel(ModelFolders):
    """A model whose signature mixes column types, end to end."""

    def setUp(self):
        model = DummyClassifier(strategy="most_frequent").fit([[0]] * 3, ["a", "b", "b"])
        signature = make_model.column_signature(
            [("count", "long"), ("flag", "boolean"), ("name", "string"), ("when", "datetime")],
            [("label", "string")],
        )
        self.init(self.save(model, signature=signature))

    def test_valid_rows(self):
        body = {
            "dataframe_records": [
                {"count": 1, "flag": True, "name": "x", "when": "2024-05-01"},
                {"count": 2, "flag": False, "name": "y", "when": "2024-05-02", "extra": 1},
            ]
        }
        self.assertEqual(self.score(body), ["b", "b"])

    def test_wrong_types(self):
        row = {"count": 1, "flag": True, "name": "x", "when": "2024-05-01"}
        for column, bad, fragment in (
            ("count", 1.5, "column 'count' expects long, got 1.5 in row 1: not a whole number"),
            ("flag", "yes", "column 'flag' expects boolean, got \"yes\""),
            ("name", 42, "column 'name' expects string, got 42"),
            ("when", "soon", "column 'when' expects datetime, got \"soon\""),
        ):
            with self.subTest(column=column):
                result = self.score({"dataframe_records": [{**row, column: bad}]})
                self.assertBadRequest(result, fragment)

    def test_swagger_mixed_types(self):
        v2 = mlflow_score.inferd_swagger(2)
        row = input_data_schema(v2)["properties"]["data"]["items"]
        self.assertEqual(row["items"], {})  # swagger 2 has no oneOf
        self.assertEqual(row["minItems"], 4)
        v3 = mlflow_score.inferd_swagger(3)
        row = input_data_schema(v3)["properties"]["data"]["items"]
        self.assertIn({"type": "string", "format": "date-time"}, row["items"]["oneOf"])
        self.assertIn({"type": "boolean"}, row["items"]["oneOf"])
        output = v3["components"]["schemas"]["ServiceOutput"]
        self.assertEqual(output, {"type": "array", "items": {"type": "string"}})


class TestNoSignature(ModelFolders):
    def setUp(self):
        self.init(self.save(self.iris_model, signature=None, input_example=None))
        # Unnamed columns for a model fitted with names: scikit-learn warns.
        warnings_filter = warnings.catch_warnings()
        warnings_filter.__enter__()
        self.addCleanup(warnings_filter.__exit__, None, None, None)
        warnings.simplefilter("ignore", UserWarning)

    def test_input_passes_through(self):
        self.assertIsNone(mlflow_score._model.signature)
        split = {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}
        self.assertEqual(self.score({"input_data": split}), IRIS_CLASSES)
        records = [dict(zip(IRIS_COLUMNS, IRIS_ROWS[1]))]
        self.assertEqual(self.score({"dataframe_records": records}), [1])
        self.assertEqual(self.score({"inputs": IRIS_ROWS}), IRIS_CLASSES)

    def test_model_errors_are_400(self):
        self.assertBadRequest(
            self.score({"inputs": [[1.0, 2.0]]}), "the model cannot score this input", "features"
        )
        self.assertBadRequest(
            self.score({"inputs": [["a", "b", "c", "d"]]}), "the model cannot score this input"
        )

    def test_swagger_without_signature(self):
        v2 = mlflow_score.inferd_swagger(2)
        self.assertEqual(v2["definitions"]["ServiceInput"], {"type": "object"})
        self.assertEqual(v2["definitions"]["ServiceOutput"], {"type": "array", "items": {}})


class TestTensorSignature(ModelFolders):
    def setUp(self):
        iris = load_iris()
        model = LogisticRegression(max_iter=1000).fit(iris.data, iris.target)
        signature = {
            "inputs": [make_model.tensor_spec("float64", [-1, 4])],
            "outputs": [make_model.tensor_spec("int64", [-1])],
        }
        self.init(self.save(model, signature=signature, input_example={"inputs": IRIS_ROWS[:1]}))

    def test_formats(self):
        self.assertEqual(self.score({"inputs": IRIS_ROWS}), IRIS_CLASSES)
        self.assertEqual(self.score({"instances": IRIS_ROWS}), IRIS_CLASSES)
        self.assertEqual(self.score({"input_data": IRIS_ROWS}), IRIS_CLASSES)
        self.assertEqual(self.score({"input_data": {"data": IRIS_ROWS}}), IRIS_CLASSES)
        records = [dict(zip(IRIS_COLUMNS, row)) for row in IRIS_ROWS]
        self.assertEqual(self.score({"dataframe_records": records}), IRIS_CLASSES)

    def test_errors(self):
        self.assertBadRequest(
            self.score({"inputs": [row[:3] for row in IRIS_ROWS]}),
            '"inputs" has shape (3, 3), the model expects tensor float64(-1, 4)',
        )
        self.assertBadRequest(self.score({"inputs": IRIS_ROWS[0]}), "has shape (4,)")
        self.assertBadRequest(
            self.score({"inputs": [[1.0, 2.0, "x", 4.0]]}),
            'expects float64, got "x" at inputs[0][2]: not a number',
        )
        self.assertBadRequest(self.score({"inputs": [[1.0, 2.0], [1.0]]}), '"inputs" is ragged')
        self.assertBadRequest(
            self.score({"inputs": {"a": [1.0]}}), '"inputs" must be a list for tensor float64(-1, 4'
        )

    def test_integer_tensors(self):
        spec = TensorSpec(None, np.dtype("int32"), (-1,))
        self.assertEqual(mlflow_score.tensor_array(spec, [1, 2.0], "inputs").dtype, np.int32)
        with self.assertRaisesRegex(BadRequest, r"int32, got 2.5 at inputs\[1\]: not an integer"):
            mlflow_score.tensor_array(spec, [1, 2.5], "inputs")
        with self.assertRaisesRegex(BadRequest, "got 1099511627776 in inputs: out of range"):
            mlflow_score.tensor_array(spec, [2**40], "inputs")

    def test_named_tensors(self):
        specs = (
            TensorSpec("a", np.dtype("float32"), (-1,)),
            TensorSpec("b", np.dtype("bool"), (-1,)),
        )
        signature = mlflow_score.Signature(specs, ())
        tensors = mlflow_score.build_tensors("inputs", {"a": [1, 2], "b": [True, False]}, signature)
        self.assertEqual(tensors["a"].dtype, np.float32)
        self.assertEqual(tensors["b"].tolist(), [True, False])
        with self.assertRaisesRegex(BadRequest, "missing tensor 'b'"):
            mlflow_score.build_tensors("inputs", {"a": [1]}, signature)
        with self.assertRaisesRegex(BadRequest, "got 1 at inputs.b\\[0\\]: not a boolean"):
            mlflow_score.build_tensors("inputs", {"a": [1], "b": [1]}, signature)

    def test_swagger(self):
        v2 = mlflow_score.inferd_swagger(2)
        data = v2["definitions"]["ServiceInput"]["properties"]["input_data"]
        self.assertEqual(data["type"], "array")
        self.assertEqual(data["items"]["minItems"], 4)
        self.assertEqual(data["items"]["items"], {"type": "number", "format": "double"})
        example = v2["definitions"]["ServiceInput"]["example"]
        self.assertEqual(example, {"input_data": IRIS_ROWS[:1]})
        self.assertEqual(
            v2["definitions"]["ServiceOutput"],
            {"type": "array", "items": {"type": "integer", "format": "int64"}},
        )


class TestSwagger(ModelFolders):
    def setUp(self):
        self.root = self.save()
        self.init(self.root)

    def resolve(self, document, ref):
        node = document
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def test_version_2(self):
        doc = mlflow_score.inferd_swagger(2)
        self.assertEqual(doc["swagger"], "2.0")
        post = doc["paths"]["/score"]["post"]
        body = post["parameters"][0]
        self.assertEqual(body["in"], "body")
        schema = self.resolve(doc, body["schema"]["$ref"])
        split = schema["properties"]["input_data"]
        self.assertEqual(split["properties"]["columns"]["items"]["enum"], IRIS_COLUMNS)
        self.assertEqual(split["required"], ["columns", "data"])
        row = split["properties"]["data"]["items"]
        self.assertEqual(row["items"], {"type": "number", "format": "double"})
        self.assertEqual((row["minItems"], row["maxItems"]), (4, 4))
        example = schema["example"]["input_data"]
        self.assertEqual(example["columns"], IRIS_COLUMNS)
        self.assertEqual(example["data"], IRIS_ROWS)
        self.assertEqual(example["index"], [0, 1, 2])
        output = self.resolve(doc, post["responses"]["200"]["schema"]["$ref"])
        self.assertEqual(output, {"type": "array", "items": {"type": "integer", "format": "int64"}})
        self.assertIn("ErrorResponse", post["responses"]["default"]["schema"]["$ref"])
        json.dumps(doc)  # serialisable as is

    def test_version_3(self):
        for version in (3, "3"):
            doc = mlflow_score.inferd_swagger(version)
            self.assertEqual(doc["openapi"], "3.0.1")
            self.assertNotIn("swagger", doc)
            post = doc["paths"]["/score"]["post"]
            ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            schema = self.resolve(doc, ref)
            columns = schema["properties"]["input_data"]["properties"]["columns"]
            self.assertEqual(columns["items"]["enum"], IRIS_COLUMNS)
            ref = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            self.assertEqual(self.resolve(doc, ref)["items"]["type"], "integer")
            self.assertIn("Bearer", doc["components"]["securitySchemes"])

    def test_example_is_a_valid_request(self):
        example = mlflow_score.inferd_swagger(2)["definitions"]["ServiceInput"]["example"]
        self.assertEqual(self.score(example), IRIS_CLASSES)

    def test_swagger_before_init_reads_metadata_only(self):
        mlflow_score._model = None
        with mock.patch.dict(os.environ, {"AZUREML_MODEL_DIR": self.root}):
            with mock.patch.object(pickle, "load", side_effect=AssertionError("unpickled")):
                doc = mlflow_score.inferd_swagger(2)
        self.assertEqual(doc["swagger"], "2.0")

    def test_example_forms(self):
        convert = mlflow_score.example_request
        split = {"input_data": {"columns": ["a"], "index": [0, 1], "data": [[1], [2]]}}
        self.assertEqual(convert({"columns": ["a"], "data": [[1], [2]]}, None), split)
        self.assertEqual(convert({"dataframe_split": split["input_data"]}, None), split)
        self.assertEqual(convert([{"a": 1}, {"a": 2}], None), split)
        self.assertEqual(convert({"inputs": [[1, 2]]}, None), {"input_data": [[1, 2]]})
        self.assertIsNone(convert(None, None))


class TestOutput(unittest.TestCase):
    def test_json_values(self):
        import pandas as pd

        self.assertEqual(mlflow_score.to_json_value(np.array([1.5, np.nan])), [1.5, None])
        self.assertEqual(mlflow_score.to_json_value(np.array([[1, 2]], dtype=np.int64)), [[1, 2]])
        self.assertEqual(mlflow_score.to_json_value(pd.Series(["a", "b"])), ["a", "b"])
        self.assertEqual(mlflow_score.to_json_value(pd.DataFrame({"p": [0.5]})), [{"p": 0.5}])
        self.assertIsInstance(mlflow_score.to_json_value(np.array([1]))[0], int)


class TestMakeModel(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test_make_model.")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def read_tree(self, folder):
        tree = {}
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                tree[name] = f.read()
        return tree

    def test_layout_and_idempotence(self):
        with mock.patch.dict(os.environ, {"SOURCE_DATE_EPOCH": "1700000000"}):
            folder = make_model.write_iris_model(self.tmp)
            first = self.read_tree(folder)
            make_model.write_iris_model(self.tmp)
        self.assertEqual(os.listdir(self.tmp), ["model"])
        self.assertEqual(self.read_tree(folder), first)
        files = ["MLmodel", "conda.yaml", "input_example.json", "model.pkl", "python_env.yaml"]
        self.assertEqual(sorted(first), files + ["requirements.txt"])
        mlmodel = yaml.safe_load(first["MLmodel"])
        pyfunc = mlmodel["flavors"]["python_function"]
        self.assertEqual(pyfunc["loader_module"], "mlflow.sklearn")
        self.assertEqual(pyfunc["env"], {"conda": "conda.yaml", "virtualenv": "python_env.yaml"})
        self.assertEqual(mlmodel["flavors"]["sklearn"]["serialization_format"], "pickle")
        self.assertEqual(mlmodel["utc_time_created"], "2023-11-14 22:13:20.000000")
        inputs = json.loads(mlmodel["signature"]["inputs"])
        self.assertEqual([c["name"] for c in inputs], IRIS_COLUMNS)
        self.assertEqual({c["type"] for c in inputs}, {"double"})
        self.assertEqual(mlmodel["saved_input_example_info"]["artifact_path"], "input_example.json")
        self.assertEqual(mlmodel["model_size_bytes"], len(first["model.pkl"]))

    def test_refuses_a_non_empty_folder(self):
        with open(os.path.join(self.tmp, "x"), "w"):
            pass
        with self.assertRaises(FileExistsError):
            make_model.save_sklearn_model(object(), self.tmp)


class TestBatch(ModelFolders):
    """inferd_batch_run: CSV files in, one row per input row out."""

    def setUp(self):
        self.files = tempfile.mkdtemp(dir=self.tmp)

    def csv(self, name, text):
        path = os.path.join(self.files, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def iris_csv(self, name, rows=IRIS_ROWS, columns=IRIS_COLUMNS):
        lines = [",".join(columns)] + [",".join(map(str, row)) for row in rows]
        return self.csv(name, "\n".join(lines) + "\n")

    def test_one_row_per_input_row_with_the_file_name(self):
        self.init(self.save())
        first = self.iris_csv("first.csv")
        second = self.iris_csv("sub/second.csv", rows=IRIS_ROWS[1:])
        result = mlflow_score.inferd_batch_run([first, second])
        self.assertIsInstance(result, MiniBatchResult)
        self.assertEqual(result.rows, [["first.csv", 0], ["first.csv", 1], ["first.csv", 2],
                                       ["second.csv", 1], ["second.csv", 2]])
        self.assertEqual((result.succeeded, result.errors), (2, []))

    def test_columns_by_name_extra_columns_dropped(self):
        self.init(self.save())
        columns = ["id"] + IRIS_COLUMNS[::-1]
        rows = [[i] + row[::-1] for i, row in enumerate(IRIS_ROWS)]
        path = self.iris_csv("shuffled.csv", rows=rows, columns=columns)
        result = mlflow_score.inferd_batch_run([path])
        self.assertEqual(result.rows, [["shuffled.csv", c] for c in IRIS_CLASSES])

    def test_failed_files_are_named_and_the_others_still_score(self):
        self.init(self.save())
        good = self.iris_csv("good.csv")
        header = ",".join(IRIS_COLUMNS)
        cases = [
            (self.iris_csv("wrong.csv", columns=["a", "b", "c", "d"]),
             "missing column 'sepal length (cm)'; the model's signature expects"),
            (self.csv("ragged.csv", header + "\n1,2,3,4\n1,2,3,4,5\n"), "not a valid CSV file"),
            (self.csv("longer.csv", header + "\n1,2,3,4,5\n"), "not a valid CSV file"),
            (self.csv("empty.csv", ""), "empty file"),
            (self.csv("header.csv", header + "\n"), "no data rows"),
            (self.csv("text.csv", header + "\n1,2,x,4\n"),
             "column 'petal length (cm)' expects double, got \"x\" in row 1: not a number"),
            (self.csv("binary.csv", "\ufffe"), None),
            (os.path.join(self.files, "missing.csv"), "cannot read it: No such file"),
        ]
        with open(cases[6][0], "wb") as f:
            f.write(b"\xff\xfe\x00junk")
        result = mlflow_score.inferd_batch_run([path for path, _ in cases] + [good])
        self.assertEqual(result.rows, [["good.csv", c] for c in IRIS_CLASSES])
        self.assertEqual(result.succeeded, 1)
        self.assertEqual(len(result.errors), len(cases))
        for (path, fragment), error in zip(cases, result.errors):
            with self.subTest(path=path):
                self.assertTrue(error.startswith(path + ": "), error)
                self.assertNotIn("\n", error)
                if fragment:
                    self.assertIn(fragment, error)
        self.assertIn("not UTF-8", result.errors[6])

    def test_missing_values(self):
        self.init(self.save())
        header = ",".join(IRIS_COLUMNS)
        # Scikit-learn refuses NaN: a model error, reported for the file.
        path = self.csv("gaps.csv", header + "\n5.1,,1.4,0.2\n")
        result = mlflow_score.inferd_batch_run([path])
        self.assertEqual(result.succeeded, 0)
        self.assertIn("the model cannot score this file", result.errors[0])

    def test_probabilities_are_several_fields(self):
        root = self.save()
        self.set_flavor(root, "python_function", predict_fn="predict_proba")
        self.init(root)
        result = mlflow_score.inferd_batch_run([self.iris_csv("p.csv")])
        self.assertEqual(len(result.rows), 3)
        for row, expected in zip(result.rows, IRIS_CLASSES):
            self.assertEqual(row[0], "p.csv")
            self.assertEqual(len(row), 4)
            self.assertEqual(int(np.argmax(row[1:])), expected)

    def test_text_columns_stay_text(self):
        model = DummyClassifier(strategy="most_frequent").fit([[0]] * 3, ["a", "b", "b"])
        signature = make_model.column_signature(
            [("count", "long"), ("name", "string"), ("when", "datetime")], [("label", "string")])
        self.init(self.save(model, signature=signature))
        good = self.csv("typed.csv", "count,name,when\n1,007,2024-05-01\n2,,2024-05-02\n")
        bad = self.csv("bad.csv", "count,name,when\n1.5,x,2024-05-01\n")
        result = mlflow_score.inferd_batch_run([good, bad])
        self.assertEqual(result.rows, [["typed.csv", "b"], ["typed.csv", "b"]])
        self.assertEqual(result.succeeded, 1)
        self.assertIn("column 'count' expects long, got 1.5 in row 1: not a whole number",
                      result.errors[0])

    def test_no_signature_passes_the_frame(self):
        self.init(self.save(self.iris_model, signature=None, input_example=None))
        result = mlflow_score.inferd_batch_run([self.iris_csv("plain.csv")])
        self.assertEqual(result.rows, [["plain.csv", c] for c in IRIS_CLASSES])

    def test_through_the_driver(self):
        self.init(self.save())
        good = self.iris_csv("good.csv")
        bad = self.csv("bad.csv", "x\n1\n")
        results = tempfile.mkdtemp(dir=self.tmp)
        body = json.dumps({"job": "batchjob-1", "mini_batch": 7, "attempt": 2,
                           "files": [good, bad], "output_action": "append_row",
                           "result_dir": results}).encode()
        with contextlib.redirect_stdout(io.StringIO()):
            status, _, payload, _ = batch.run_mini_batch(mlflow_score.inferd_batch_run, body)
        self.assertEqual(status, 200, payload)
        answer = json.loads(payload)
        self.assertEqual((answer["rows"], answer["succeeded"], answer["failed"]), (3, 1, 1))
        self.assertEqual(len(answer["errors"]), 1)
        self.assertTrue(answer["errors"][0].startswith(f"mini-batch 7: {bad}: missing column"))
        segment = os.path.join(results, answer["segment"])
        with open(segment) as f:
            f.seek(answer["offset"])
            self.assertEqual(f.read(answer["bytes"]), "good.csv,0\ngood.csv,1\ngood.csv,2\n")
        os.close(batch._segments.pop(segment))

    def test_before_init(self):
        with self.assertRaisesRegex(RuntimeError, "before init"):
            mlflow_score.inferd_batch_run([])


if __name__ == "__main__":
    unittest.main()
