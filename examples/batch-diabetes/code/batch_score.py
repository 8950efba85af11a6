"""Azure ML batch scoring script for the diabetes regression.

init() loads the model once per instance (its scoring processes are forked
after it and share the model); run(mini_batch) gets a list
of CSV file paths (ten feature columns with a header row) and returns one
row per input row: the file's name, the row's index and the prediction.
"""
import glob
import os

import joblib
import pandas as pd

model = None


def init():
    global model
    # AZUREML_MODEL_DIR holds the model folder, as on Azure.
    path = glob.glob(os.path.join(os.environ["AZUREML_MODEL_DIR"], "*", "*.pkl"))
    path = path or glob.glob(os.path.join(os.environ["AZUREML_MODEL_DIR"], "*.pkl"))
    model = joblib.load(path[0])


def run(mini_batch):
    frames = []
    for path in mini_batch:
        data = pd.read_csv(path)
        predictions = model.predict(data.to_numpy())
        frames.append(pd.DataFrame({
            "file": os.path.basename(path),
            "row": range(len(data)),
            "prediction": predictions.round(4),
        }))
    return pd.concat(frames, ignore_index=True)
