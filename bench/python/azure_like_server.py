"""The architecture of Azure ML's inference server, for side-by-side
benchmarks: a Flask app served by gunicorn sync workers that imports the
entry script, calls init() once per worker, and run(raw_data) per request,
JSON-serialising the result. Written for inferd's benchmarks; it is not
Azure's code.

    AZUREML_ENTRY_SCRIPT=score.py AZUREML_MODEL_DIR=... \
        gunicorn -w N -b 127.0.0.1:PORT --chdir bench/python azure_like_server:app
"""
import importlib.util
import json
import os
import sys

from flask import Flask, Response, request

script = os.environ["AZUREML_ENTRY_SCRIPT"]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
spec = importlib.util.spec_from_file_location("entry_module", script)
entry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(entry)
entry.init()

app = Flask(__name__)


@app.route("/", methods=["GET"])
def health():
    return "Healthy"


@app.route("/score", methods=["POST"])
def score():
    try:
        result = entry.run(request.get_data(as_text=True))
    except Exception:
        body = {"message": "An unexpected error occurred in scoring script. Check the logs for more info."}
        return Response(json.dumps(body), status=500, mimetype="application/json")
    return Response(json.dumps(result), status=200, mimetype="application/json")
