/*
 * cli: the command-line client, `inferd online-endpoint ...` and
 * `inferd online-deployment ...`. A client of the REST API only
 * (docs/rest-api.md, docs/cli.md); it never touches the server's store.
 */
#ifndef INF_CLI_CLI_H
#define INF_CLI_CLI_H

/* 1 if `name` is a command group cli_main handles ("online-endpoint",
 * "online-deployment"), else 0. */
int cli_is_group(const char *name);

/* Runs one CLI command. argv[0] is the group name, argv[1] the verb, the
 * rest its options. Prints JSON results on stdout and "inferd: ..." errors
 * on stderr. Returns the process exit status: 0 success, 1 error (including
 * an error reported by the server), 2 usage error. Main thread only; reads
 * INFERD_URL, INFERD_TOKEN and INFERD_HOME. */
int cli_main(int argc, char **argv);

#endif
