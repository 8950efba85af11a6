/*
 * run: `inferd run`, the local edit-run loop of a data scientist, like
 * Azure's local inference server: one deployment served in the foreground
 * on a TCP port, no control plane, the same worker code path as an
 * instance.
 */
#ifndef INF_WORKER_RUN_H
#define INF_WORKER_RUN_H

/* argv[0] is "run":
 *   --entry-script FILE [--model-dir DIR] | --model DIR
 *   [--host ADDR (127.0.0.1)] [--port N (5001)] [--worker-count N] [--timeout-ms N]
 * Returns the process exit status. */
int run_main(int argc, char **argv);

#endif
