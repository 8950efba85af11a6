#!/usr/bin/python3.11
"""Write an MLflow-format iris classifier without the mlflow package.

Usage: make_model.py OUTDIR    (writes OUTDIR/model/)

The folder is laid out the way ``mlflow.sklearn.save_model`` lays it out
(MLmodel, model.pkl, conda.yaml, python_env.yaml, requirements.txt,
input_example.json), so inferd's no-code MLflow backend and Azure ML read
it the same way. The mlflow package is not available on Debian, which is
why this script writes the files itself.

It is also a small library for tests: ``save_sklearn_model`` writes any
fitted scikit-learn estimator as an MLflow folder, and ``column_signature``
and ``tensor_spec`` build signatures.

Reruns are cheap (about a second) and idempotent: the new folder is built
beside the old one and swapped in. The output is the same bytes on every
run on a given machine, except ``utc_time_created``, which is the current
time unless SOURCE_DATE_EPOCH is set (the reproducible-builds convention).
"""

import datetime
import hashlib
import importlib.metadata
import json
import os
import pickle
import platform
import shutil
import sys
import uuid

import yaml

# The MLflow release whose file layout this script reproduces.
MLFLOW_VERSION = "2.9.2"

# Rows of the iris data set used as the saved input example: one of each
# species (setosa, versicolor, virginica).
EXAMPLE_ROWS = (0, 50, 100)


def column_signature(inputs, outputs=None):
    """Return a signature for named columns.

    ``inputs`` and ``outputs`` are lists of (name, type) pairs, the type
    one of MLflow's column types (double, float, long, integer, boolean,
    string, binary, datetime); ``outputs`` may also be a ready list of
    specs, such as ``[tensor_spec("int64", [-1])]``.
    """
    signature = {"inputs": [_column_spec(name, kind) for name, kind in inputs]}
    if outputs is not None:
        signature["outputs"] = [
            spec if isinstance(spec, dict) else _column_spec(*spec) for spec in outputs
        ]
    return signature


def tensor_spec(dtype, shape, name=None):
    """Return one tensor spec, as MLflow writes it in a signature."""
    spec = {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": list(shape)}}
    if name is not None:
        spec["name"] = name
    return spec


def save_sklearn_model(
    sk_model,
    path,
    *,
    signature=None,
    input_example=None,
    serialization_format="pickle",
    created=None,
):
    """Write a fitted scikit-learn estimator as an MLflow model folder.

    Mirrors ``mlflow.sklearn.save_model(sk_model, path, signature=...,
    input_example=..., serialization_format=...)``. ``signature`` is a dict
    with "inputs" and optionally "outputs" (lists of specs, see
    ``column_signature``); ``input_example`` is a dict in pandas "split"
    form ({"columns": [...], "data": [[...]]}) or any JSON value for tensor
    models; ``created`` a timezone-aware datetime (default: now).

    Like mlflow, refuses to write into an existing non-empty folder.
    Raises FileExistsError or ValueError.
    """
    if serialization_format not in ("pickle", "cloudpickle"):
        raise ValueError(
            f"serialization_format {serialization_format!r}: expected 'pickle' or 'cloudpickle'"
        )
    if os.path.isdir(path) and os.listdir(path):
        raise FileExistsError(f"{path}: already exists and is not empty")
    os.makedirs(path, exist_ok=True)

    # cloudpickle writes ordinary pickles for importable classes, so a
    # model saved as "cloudpickle" here is what cloudpickle would produce
    # for a plain scikit-learn estimator.
    model_bytes = pickle.dumps(sk_model, protocol=pickle.DEFAULT_PROTOCOL)
    _write_bytes(path, "model.pkl", model_bytes)

    python_version = platform.python_version()
    sklearn_version = _installed_version("scikit-learn")
    requirements = [f"mlflow=={MLFLOW_VERSION}", f"scikit-learn=={sklearn_version}"]
    if serialization_format == "cloudpickle":
        requirements.append("cloudpickle")
    _write_text(path, "requirements.txt", "".join(line + "\n" for line in requirements))
    _write_yaml(path, "conda.yaml", _conda_env(python_version, requirements))
    _write_yaml(path, "python_env.yaml", _python_env(python_version), sort_keys=False)

    mlmodel = {
        "flavors": {
            "python_function": {
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.sklearn",
                "model_path": "model.pkl",
                "predict_fn": "predict",
                "python_version": python_version,
            },
            "sklearn": {
                "code": None,
                "pickled_model": "model.pkl",
                "serialization_format": serialization_format,
                "sklearn_version": sklearn_version,
            },
        },
        "mlflow_version": MLFLOW_VERSION,
        "model_size_bytes": len(model_bytes),
        # Derived from the model so that rewriting the same model gives the
        # same id; mlflow uses a random one.
        "model_uuid": uuid.UUID(bytes=hashlib.sha256(model_bytes).digest()[:16], version=4).hex,
        "utc_time_created": _format_time(created),
    }
    if signature is not None:
        mlmodel["signature"] = {
            "inputs": json.dumps(signature["inputs"]),
            "outputs": json.dumps(signature["outputs"]) if signature.get("outputs") else None,
            "params": None,
        }
    if input_example is not None:
        _write_text(path, "input_example.json", json.dumps(input_example))
        info = {"artifact_path": "input_example.json"}
        if isinstance(input_example, dict) and "columns" in input_example:
            info.update(pandas_orient="split", type="dataframe")
        else:
            info.update(type="ndarray", format="tf-serving")
        mlmodel["saved_input_example_info"] = info
    _write_yaml(path, "MLmodel", mlmodel)


def build_iris_model():
    """Train the example classifier; return (model, signature, input_example)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris(as_frame=True)
    features = iris.data  # a DataFrame with the four named columns
    model = LogisticRegression(max_iter=1000)
    model.fit(features, iris.target)

    signature = column_signature(
        [(name, "double") for name in features.columns],
        [tensor_spec("int64", [-1])],
    )
    example = {
        "columns": list(features.columns),
        "data": features.iloc[list(EXAMPLE_ROWS)].values.tolist(),
    }
    return model, signature, example


def write_iris_model(outdir):
    """Write OUTDIR/model/, replacing any previous one; return its path."""
    model, signature, example = build_iris_model()
    final = os.path.join(outdir, "model")
    staging = os.path.join(outdir, f".model.new-{os.getpid()}")
    retired = os.path.join(outdir, f".model.old-{os.getpid()}")
    os.makedirs(outdir, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        save_sklearn_model(
            model, staging, signature=signature, input_example=example, created=_build_time()
        )
        if os.path.exists(final):
            os.rename(final, retired)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return final


def _column_spec(name, kind):
    return {"type": kind, "name": name}


def _conda_env(python_version, requirements):
    return {
        "channels": ["conda-forge"],
        "dependencies": [f"python={python_version}", "pip", {"pip": requirements}],
        "name": "mlflow-env",
    }


def _python_env(python_version):
    build = ["pip", "setuptools", "wheel"]
    return {
        "python": python_version,
        "build_dependencies": [_pinned(name) for name in build],
        "dependencies": ["-r requirements.txt"],
    }


def _pinned(distribution):
    version = _installed_version(distribution)
    return f"{distribution}=={version}" if version else distribution


def _installed_version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _build_time():
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return None
    try:
        return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
    except (ValueError, OverflowError):
        raise SystemExit(f"SOURCE_DATE_EPOCH={epoch!r}: expected seconds since 1970") from None


def _format_time(created):
    created = created or datetime.datetime.now(datetime.timezone.utc)
    return created.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _write_bytes(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def _write_text(folder, name, text):
    _write_bytes(folder, name, text.encode("utf-8"))


def _write_yaml(folder, name, document, sort_keys=True):
    text = yaml.safe_dump(document, default_flow_style=False, sort_keys=sort_keys)
    _write_text(folder, name, text)


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        program = os.path.basename(argv[0])
        print(f"usage: {program} OUTDIR   (writes OUTDIR/model/)", file=sys.stderr)
        return 2
    print(write_iris_model(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
