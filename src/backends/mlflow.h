/*
 * mlflow: no-code deployment of MLflow model folders (an MLmodel file, no
 * scoring script). It is the python backend running inferd's own scoring
 * script, python/inferd/mlflow_score.py, which reads MLmodel, loads the
 * flavor and accepts Azure's and MLflow's input formats.
 */
#ifndef INF_BACKENDS_MLFLOW_H
#define INF_BACKENDS_MLFLOW_H

#include "backends/backend.h"

/* Registered as "mlflow" by backend_find. */
extern const struct backend_ops mlflow_backend_ops;

#endif
