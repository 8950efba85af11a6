/*
 * backend: the registry of backends a worker can run, and the response
 * helpers they share. Immutable tables; any thread.
 */
#include "backends/backend.h"

#include <stdlib.h>
#include <string.h>

#include "backends/mlflow.h"
#include "backends/native.h"
#include "backends/onnx_backend.h"
#include "backends/python.h"

static const struct backend_ops *const registry[] = {
    &native_backend_ops,
    &python_backend_ops,
    &mlflow_backend_ops,
    &onnx_backend_ops,
};

const struct backend_ops *backend_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

void backend_response_fini(struct backend_response *res)
{
    free(res->body);
    memset(res, 0, sizeof(*res));
}
