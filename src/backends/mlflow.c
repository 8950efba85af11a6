/*
 * mlflow: the python backend with inferd's MLflow scoring script in place
 * of a user's. Only load differs; every other operation is python's.
 * Same threading and lifecycle as the python backend.
 */
#include "backends/mlflow.h"

#include <stdlib.h>

#include "backends/python.h"
#include "core/util.h"

#define MLFLOW_SCRIPT "mlflow_score.py"

static int mlflow_load(const struct backend_config *cfg, void **state, struct inf_err *err)
{
    char *lib = NULL;
    if (python_lib_dir(&lib, err) != 0)
        return err->code;
    char *code_dir = inf_asprintf("%s/inferd", lib);
    struct backend_config ours = *cfg;
    ours.code_dir = code_dir;
    ours.script = MLFLOW_SCRIPT;
    int rc = python_backend_ops.load(&ours, state, err);
    free(code_dir);
    free(lib);
    return rc;
}

/* The rest is python's (a static initializer cannot copy another object's
 * fields, so these forward). */
static int mlflow_score(void *state, const struct backend_request *req,
                        struct backend_response *res)
{
    return python_backend_ops.score(state, req, res);
}

static void mlflow_unload(void *state)
{
    python_backend_ops.unload(state);
}

static int mlflow_swagger(void *state, int version, struct backend_response *res)
{
    return python_backend_ops.swagger(state, version, res);
}

static void mlflow_before_fork(void *state)
{
    python_backend_ops.before_fork(state);
}

static void mlflow_after_fork_parent(void *state)
{
    python_backend_ops.after_fork_parent(state);
}

static void mlflow_after_fork_child(void *state)
{
    python_backend_ops.after_fork_child(state);
}

const struct backend_ops mlflow_backend_ops = {
    .name = "mlflow",
    .load = mlflow_load,
    .score = mlflow_score,
    .unload = mlflow_unload,
    .swagger = mlflow_swagger,
    .before_fork = mlflow_before_fork,
    .after_fork_parent = mlflow_after_fork_parent,
    .after_fork_child = mlflow_after_fork_child,
    .flags = BACKEND_PREFORK,
};
