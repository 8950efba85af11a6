import logging
import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    """Called once when the deployment starts: load the model into memory."""
    global model
    model_path = os.path.join(
        os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl"
    )
    model = joblib.load(model_path)
    logging.info("Init complete")


# The samples describe the request and the response: they make the swagger
# document, and the request's "data" arrives here already as a numpy array
# of rows of ten numbers.
@input_schema("data", NumpyParameterType(np.array([[0.0] * 10])))
@output_schema(NumpyParameterType(np.array([0.0])))
def run(data):
    """Called for every request: predict one value per row of data."""
    result = model.predict(data)
    logging.info("Request processed")
    return result.tolist()
