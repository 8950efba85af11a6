/*
 * main: parses the subcommand and hands over. Nothing else lives here.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"
#include "worker/run.h"
#include "worker/worker.h"

#ifndef INFERD_VERSION
#define INFERD_VERSION "0.1.0"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "inferd %s: serve machine-learning models behind endpoints and deployments\n"
            "\n"
            "usage: inferd <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve                 run the server (control plane, gateway, supervisor)\n"
            "  online-endpoint ...   create|show|list|update|delete|invoke|get-credentials|\n"
            "                        regenerate-keys\n"
            "  online-deployment ... create|show|list|update|delete|get-logs\n"
            "  batch-endpoint ...    create|show|list|update|delete|invoke|list-jobs|\n"
            "                        get-credentials\n"
            "  batch-deployment ...  create|show|list|update|delete\n"
            "  job ...               show|list|stream|cancel|download (batch jobs)\n"
            "  run ...               serve one scoring script or MLflow model locally, in the\n"
            "                        foreground (like Azure's local inference server)\n"
            "  worker ...            run one instance (started by the server)\n"
            "  version               print the version\n"
            "\n"
            "`inferd <command> --help` shows a command's options.\n",
            INFERD_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "worker") == 0)
        return worker_main(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return run_main(argc - 1, argv + 1);
    if (strcmp(cmd, "online-endpoint") == 0 || strcmp(cmd, "online-deployment") == 0 ||
        strcmp(cmd, "batch-endpoint") == 0 || strcmp(cmd, "batch-deployment") == 0 ||
        strcmp(cmd, "job") == 0)
        return cli_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("inferd %s\n", INFERD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "inferd: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
