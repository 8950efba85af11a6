/*
 * deploy: runs deployments as instance sets. Starting a generation brings
 * up a new set beside the serving one; when it is ready it takes over and
 * the old set drains and stops. A failed start leaves the old set serving
 * and marks the deployment Failed with the reason. State changes are
 * written to the store in the background. Event-loop thread only.
 */
#ifndef INF_CONTROL_DEPLOY_H
#define INF_CONTROL_DEPLOY_H

#include <jansson.h>

#include "core/util.h"

struct server;
struct deployment;

/* Appends to argv and env the command that runs one instance of a
 * deployment spec, online or batch (its model.path, code_configuration,
 * backend and environment_variables): `inferd worker --socket {socket}
 * --backend B --model-dir M [--code-dir C --script S]`, and the server's
 * environment (minus AZUREML_*) with AZUREML_MODEL_DIR,
 * AZUREML_ENTRY_SCRIPT, INFERD_ENDPOINT=endpoint, INFERD_DEPLOYMENT=name,
 * the spec's environment_variables and one math-library thread per
 * process. Callers add their own options (timeouts, process counts). */
void deploy_worker_command(const struct server *srv, const json_t *spec, const char *endpoint,
                           const char *name, struct inf_strv *argv, struct inf_strv *env);

/* Writes the conda file a deployment spec carries inline
 * (environment.conda_file) to <run_dir>/<tag>.conda.yml for the worker's
 * --conda-file check; returns its path (heap) or NULL when the spec has
 * none or it cannot be written (logged). Rewritten at every start from the
 * store, so no fsync. */
char *deploy_conda_file(const struct server *srv, const json_t *spec, const char *tag);

/* Starts instances for d's current spec and generation. */
void deploy_start(struct server *srv, struct deployment *d);
/* Stops every instance of d (serving and starting); d may be freed after. */
void deploy_stop(struct deployment *d);
/* Stops every deployment of every endpoint (shutdown). */
void deploy_stop_all(struct server *srv);

#endif
