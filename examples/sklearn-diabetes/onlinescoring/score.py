import json
import logging
import os

import joblib
import numpy


def init():
    """Called once when the deployment starts: load the model into memory.

    AZUREML_MODEL_DIR is the folder that contains the registered model under
    its own name, so the file of model-1/model/ is found under model/.
    """
    global model
    model_path = os.path.join(
        os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl"
    )
    model = joblib.load(model_path)
    logging.info("Init complete")


def run(raw_data):
    """Called for every request: predict one value per row of "data".

    raw_data is the request body, {"data": [[10 numbers], ...]}; the list
    returned is sent back as JSON.
    """
    logging.info("Request received")
    data = json.loads(raw_data)["data"]
    data = numpy.array(data)
    result = model.predict(data)
    logging.info("Request processed")
    return result.tolist()
