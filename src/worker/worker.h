/*
 * worker: the `inferd worker` process, one per deployment instance. It loads
 * one deployment through a backend and serves it over HTTP/1.1 on a Unix
 * socket (`/score`, `/health/live`, `/health/ready`, `/`) for the gateway,
 * or, as a batch instance (--batch), `POST /batch` for the batch scheduler.
 */
#ifndef INF_WORKER_WORKER_H
#define INF_WORKER_WORKER_H

/* Exit statuses of `inferd worker`, for the supervisor. */
enum worker_exit {
    WORKER_EXIT_OK = 0,          /* stopped by SIGTERM/SIGINT or the parent's death */
    WORKER_EXIT_FAILED = 1,      /* could not serve: the socket, the event loop */
    WORKER_EXIT_USAGE = 2,       /* bad flags */
    WORKER_EXIT_LOAD_FAILED = 3, /* the backend could not load the model/code */
};

/* Runs the worker: argv[0] is "worker", then
 *   (--socket PATH | --listen HOST:PORT) --backend NAME --model-dir DIR
 *   [--code-dir DIR --script NAME] [--conda-file PATH]
 *   [--max-body-bytes N (default 100 MiB)] [--worker-count N (default 1)]
 *   [--timeout-ms N (default 5000; at most 180000, or 86400000 with --batch)]
 *   [--batch] [--process-log-dir DIR]
 * --batch serves POST /batch instead of /score (python and mlflow backends:
 * the body, a mini-batch as JSON, goes to score() with path "/batch").
 * --process-log-dir DIR: each scoring process appends its stdout and stderr
 * to DIR/process-<pid>.stdout.txt and .stderr.txt (DIR is created 0700).
 * Loads the backend before listening, so a listening worker is ready. Serves
 * until SIGTERM or SIGINT (also sent when the parent dies), then stops
 * accepting, finishes the requests in progress, unloads the backend and
 * removes the socket. Returns an enum worker_exit status. Logs key=value
 * lines on stderr. Main thread only; installs signal handlers. */
int worker_main(int argc, char **argv);

#endif
