/*
 * cli_inventory.c - `colibri inventory`: this host's runtime manifest,
 * computed here by the same library code runtime.get runs in the daemon
 * (so it works with no daemon at all), printed as JSON; with --report it
 * is also pushed to a daemon's host.report over the usual endpoint.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_client.h"
#include "cli_format.h"
#include "ops.h"
#include "runtime.h"
#include "util.h"

void
cli_inventory_help(FILE *out)
{
    fprintf(out,
"usage: colibri [--socket PATH | --url URL] inventory [--report] "
"[--tools LIST]\n"
"Prints this host's runtime manifest as JSON: OS, release, arch, CPUs,\n"
"memory, load, free disk of the data directory, agent runtimes on PATH\n"
"with their versions, jails (FreeBSD).  Computed locally, the same way\n"
"the daemon's runtime.get does (GET /api/v1/runtime).\n"
"  --report      also send it to the daemon (host.report), so the\n"
"                daemon lists this host in host.list\n"
"  --tools LIST  programs to look for (comma list; default %s)\n",
            "pi,node,npm,git,python3,claude,codex,gh");
}

/* Splits a comma list into a NULL-terminated array (new; items point
 * into the new copy kept in *store). */
static char **
split_tools(const char *list, char **store)
{
    size_t n = 1, i = 0;
    char *p, *save, **out;
    const char *q;

    for (q = list; *q != '\0'; q++)
        n += *q == ',';
    out = xcalloc(n + 1, sizeof(*out));
    *store = xstrdup(list);
    for (p = strtok_r(*store, ",", &save); p != NULL;
         p = strtok_r(NULL, ",", &save))
        out[i++] = p;
    out[i] = NULL;
    return out;
}

int
cli_inventory_main(const struct cli_endpoint *ep, int argc, char **argv,
                   const char *data_dir)
{
    struct runtime_options o;
    struct cli_error err;
    const struct op *op;
    char **tools = NULL, *tools_store = NULL;
    json_t *m = NULL, *result = NULL;
    int i, report = 0, rc = CLI_OK;

    memset(&o, 0, sizeof(o));
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--report")) {
            report = 1;
        } else if (!strcmp(argv[i], "--tools") && i + 1 < argc) {
            free(tools);
            free(tools_store);
            tools = split_tools(argv[++i], &tools_store);
        } else if (!strncmp(argv[i], "--tools=", 8)) {
            free(tools);
            free(tools_store);
            tools = split_tools(argv[i] + 8, &tools_store);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_inventory_help(stdout);
            goto out;
        } else {
            fprintf(stderr, "colibri: inventory: unknown argument '%s'\n",
                    argv[i]);
            rc = CLI_USAGE;
            goto out;
        }
    }
    o.data_dir = data_dir;
    o.tools = (const char *const *)tools;
    o.role = "colibri";
    m = runtime_manifest(&o, 1);
    /* Printed first: a report that fails does not lose the manifest. */
    cli_format_json(stdout, m);
    if (fflush(stdout) != 0)
        rc = CLI_ERROR;
    if (report) {
        op = ops_find("host.report");
        if (op == NULL) {
            fprintf(stderr, "colibri: this build has no host.report\n");
            rc = CLI_ERROR;
            goto out;
        }
        if (cli_call(ep, op, m, &result, &err) < 0) {
            fprintf(stderr, "colibri: %s (%s)\n", err.detail, err.code);
            rc = cli_exit_status(err.status, err.code);
            goto out;
        }
    }
out:
    json_decref(m);
    json_decref(result);
    free(tools);
    free(tools_store);
    return rc;
}
