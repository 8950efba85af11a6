/*
 * run: translates `inferd run` flags into a worker that listens on TCP, then
 * runs it in this process. Main thread only.
 */
#include "worker/run.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/onnx_backend.h"
#include "core/util.h"
#include "worker/worker.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inferd run --entry-script FILE [--model-dir DIR]\n"
            "       inferd run --model DIR\n"
            "                  [--host ADDR] [--port N] [--worker-count N] [--timeout-ms N]\n"
            "\n"
            "Serves one scoring script (score.py, or a native score.so) or one MLflow model\n"
            "folder in the foreground, like Azure's local inference server:\n"
            "GET / (liveness), GET|POST /score, GET /swagger.json.\n"
            "  --entry-script FILE  the scoring script; its folder is the code folder\n"
            "  --model-dir DIR      AZUREML_MODEL_DIR, exactly this folder (default: empty)\n"
            "  --model DIR          an MLflow model folder (MLmodel file) or an ONNX model\n"
            "                       folder (one .onnx file), no script\n"
            "  --host ADDR          address to listen on (default 127.0.0.1)\n"
            "  --port N             port (default 5001)\n"
            "  --worker-count N     Python processes (default $WORKER_COUNT, else 1)\n"
            "  --timeout-ms N       scoring timeout (default $SCORING_TIMEOUT_MS, else 60000)\n");
}

/* The backend for an entry script, by its extension. */
static const char *backend_for(const char *script)
{
    size_t n = strlen(script);
    if (n > 3 && strcmp(script + n - 3, ".so") == 0)
        return "native";
    return "python";
}

/* The backend for a model folder with no script: MLflow when it has an
 * MLmodel file, else ONNX when it holds one .onnx file. */
static const char *model_backend(const char *dir)
{
    char *mlmodel = inf_asprintf("%s/MLmodel", dir);
    int is_mlflow = access(mlmodel, F_OK) == 0;
    free(mlmodel);
    if (is_mlflow)
        return "mlflow";
    char *path = NULL;
    struct inf_err err;
    if (onnx_backend_find_model(dir, &path, &err) == 0) {
        free(path);
        return "onnx";
    }
    return "mlflow"; /* its load error says what is missing */
}

int run_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"entry-script", required_argument, NULL, 'e'},
        {"model-dir", required_argument, NULL, 'm'},
        {"model", required_argument, NULL, 'M'},
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"worker-count", required_argument, NULL, 'w'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"help", no_argument, NULL, '?'},
        {NULL, 0, NULL, 0},
    };
    const char *entry = NULL, *model_dir = NULL, *mlflow = NULL, *host = "127.0.0.1";
    const char *port = "5001", *workers = getenv("WORKER_COUNT");
    const char *timeout = getenv("SCORING_TIMEOUT_MS");
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            entry = optarg;
            break;
        case 'm':
            model_dir = optarg;
            break;
        case 'M':
            mlflow = optarg;
            break;
        case 'h':
            host = optarg;
            break;
        case 'p':
            port = optarg;
            break;
        case 'w':
            workers = optarg;
            break;
        case 't':
            timeout = optarg;
            break;
        default:
            usage(c == '?' && optopt == 0 ? stdout : stderr);
            return c == '?' && optopt == 0 ? 0 : 2;
        }
    }
    if ((entry == NULL) == (mlflow == NULL) || optind < argc) {
        fprintf(stderr, "inferd run: give --entry-script FILE or --model DIR\n");
        usage(stderr);
        return 2;
    }
    long n;
    if (inf_parse_long(port, 1, 65535, &n) != 0) {
        fprintf(stderr, "inferd run: --port %s: expected 1 to 65535\n", port);
        return 2;
    }

    char entry_abs[PATH_MAX], model_abs[PATH_MAX];
    const char *what = entry != NULL ? entry : mlflow;
    if (realpath(what, entry_abs) == NULL) {
        fprintf(stderr, "inferd run: %s: not found\n", what);
        return 1;
    }
    const char *mdir = entry != NULL ? model_dir : mlflow;
    if (mdir != NULL && realpath(mdir, model_abs) == NULL) {
        fprintf(stderr, "inferd run: --model-dir %s: not found\n", mdir);
        return 1;
    }
    char *listen = strchr(host, ':') != NULL ? inf_asprintf("[%s]:%s", host, port)
                                             : inf_asprintf("%s:%s", host, port);
    char *code_dir = inf_strdup(entry_abs);
    char *script = inf_strdup(entry_abs);
    char *wc = inf_asprintf("--worker-count=%s", workers != NULL ? workers : "1");
    char *to = inf_asprintf("--timeout-ms=%s", timeout != NULL ? timeout : "60000");
    /* The local server sets AZUREML_MODEL_DIR to exactly the given folder. */
    const char *model = mdir != NULL ? model_abs : "/nonexistent-model-dir";
    setenv("AZUREML_MODEL_DIR", model, 1);

    char *wargv[16];
    int k = 0;
    wargv[k++] = "worker";
    wargv[k++] = "--listen";
    wargv[k++] = listen;
    wargv[k++] = "--backend";
    wargv[k++] = entry != NULL ? (char *)backend_for(entry_abs) : (char *)model_backend(model_abs);
    wargv[k++] = "--model-dir";
    wargv[k++] = (char *)model;
    if (entry != NULL) {
        wargv[k++] = "--code-dir";
        wargv[k++] = dirname(code_dir);
        wargv[k++] = "--script";
        wargv[k++] = basename(script);
    }
    wargv[k++] = wc;
    wargv[k++] = to;
    wargv[k] = NULL;
    printf("inferd run: serving %s on http://%s  (GET /, GET|POST /score, GET /swagger.json)\n",
           entry != NULL ? entry_abs : model_abs, listen);
    fflush(stdout);
    int rc = worker_main(k, wargv);
    free(listen);
    free(code_dir);
    free(script);
    free(wc);
    free(to);
    return rc;
}
