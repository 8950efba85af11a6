/*
 * onnx_backend: the backend for ONNX models deployed with no scoring script.
 * It runs the model on inferd's own engine (onnx/onnx.h) and speaks two
 * request forms: Azure's {"input_data": ...} and the Open Inference Protocol
 * (KServe v2) {"inputs": [{name, shape, datatype, data}]}. See docs/onnx.md,
 * "Deploying ONNX models".
 */
#ifndef INF_BACKENDS_ONNX_BACKEND_H
#define INF_BACKENDS_ONNX_BACKEND_H

#include <stdint.h>

#include "backends/backend.h"
#include "core/err.h"

/* The most tensor elements one request may carry, all inputs together;
 * more is a 413. */
#define ONNX_BACKEND_MAX_ELEMENTS ((int64_t)64 << 20)

/* The most bytes of JSON one response may take; more is a 413. */
#define ONNX_BACKEND_MAX_RESPONSE_BYTES ((size_t)1 << 30)

/* The onnx backend's operations, registered as "onnx" by backend_find.
 * In-process (flags 0): one engine session per worker, used by the worker's
 * event-loop thread only. */
extern const struct backend_ops onnx_backend_ops;

/* Finds the ONNX model file of a deployment. model_dir is $AZUREML_MODEL_DIR,
 * the folder that contains the model under its own name. The model folder
 * is model_dir itself when it holds an MLmodel or a *.onnx file, else the
 * one sub-folder that does. In the model folder an MLmodel file decides:
 * its onnx flavor names the file (key `data`, as MLflow writes it, or
 * `onnx_model`), unless the MLmodel also has a flavor the mlflow backend
 * serves (sklearn, or python_function with loader_module mlflow.sklearn).
 * Without an MLmodel the folder must hold exactly one *.onnx file.
 *
 * Returns 0 and *path (heap, the caller frees it); INF_ENOTFOUND when the
 * folder is not an ONNX model (no .onnx file, no onnx flavor, or an MLflow
 * model for the mlflow backend), with a message saying why; INF_EINVAL for
 * several .onnx files or model sub-folders (named), or an onnx flavor whose
 * file is missing or outside the folder. Messages name paths relative to
 * model_dir. Reads the filesystem; any thread. */
int onnx_backend_find_model(const char *model_dir, char **path, struct inf_err *err);

#endif
