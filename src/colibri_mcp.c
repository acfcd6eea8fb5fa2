/*
 * colibri-mcp - the MCP server on stdio for editors and agents.
 *
 * One JSON-RPC message per line on stdin, one answer per line on stdout
 * and nothing else there (logs go to stderr).  Every tool call runs on
 * the daemon, over its Unix socket (--socket, default the daemon's
 * default socket) or over HTTP (--url with --token-file).  The protocol
 * itself is src/mcp.c.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "cli_client.h"
#include "config.h"
#include "limits.h"
#include "mcp.h"
#include "socket.h"
#include "util.h"

struct mcp_main {
    struct mcp_backend backend;
    int write_failed;
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: colibri-mcp [--socket PATH | --url URL --token-file F]"
            " [--cacert F]\n"
            "MCP server on stdio: Colibri's operations as tools, skills as "
            "resources.\n");
}

/* The backend: the daemon, through the CLI's client. */
static int
daemon_call(void *ctx, const struct op *op, json_t *args, json_t **result,
            json_t **problem)
{
    const struct cli_endpoint *ep = ctx;
    struct cli_error err;

    if (cli_call(ep, op, args, result, &err) == 0)
        return 0;
    *problem =
        json_pack("{s:i, s:s, s:s}", "status", err.status ? err.status : 502,
                  "code", err.code, "detail", err.detail);
    return -1;
}

static int
write_line(const char *text)
{
    if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF ||
        fflush(stdout) == EOF)
        return -1;
    return 0;
}

static int
on_line(void *ctx, enum socket_line_kind kind, const char *line, size_t len)
{
    struct mcp_main *m = ctx;
    enum mcp_kind what;
    char *answer;
    size_t i;

    if (kind == SOCKET_LINE_TOO_LONG) {
        answer = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
                           "{\"code\":%d,\"message\":\"the message is "
                           "longer than %d bytes\"}}",
                           MCP_INVALID_REQUEST, LIMIT_SOCKET_LINE);
    } else {
        for (i = 0; i < len; i++)
            if (line[i] != ' ' && line[i] != '\t')
                break;
        if (i == len)
            return 0;
        answer = mcp_handle(&m->backend, line, len, &what);
    }
    if (answer != NULL && write_line(answer) < 0) {
        m->write_failed = 1;
        free(answer);
        return -1;
    }
    free(answer);
    return 0;
}

int
main(int argc, char **argv)
{
    struct cli_link link;
    struct socket_lines lines;
    struct mcp_main m;
    const char *token_file = NULL, *url = NULL, *socket_path = NULL;
    const char *cacert = NULL;
    char chunk[65536];
    int i, rc = 1;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("colibri-mcp %s\n", PACKAGE_VERSION);
            return 0;
        }
        if (i + 1 >= argc ||
            (strcmp(a, "--socket") && strcmp(a, "--url") &&
             strcmp(a, "--token-file") && strcmp(a, "--cacert"))) {
            usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--socket"))
            socket_path = argv[++i];
        else if (!strcmp(a, "--url"))
            url = argv[++i];
        else if (!strcmp(a, "--token-file"))
            token_file = argv[++i];
        else
            cacert = argv[++i];
    }
    if (url != NULL && socket_path != NULL) {
        fprintf(stderr, "colibri-mcp: give --socket or --url, not both\n");
        return 2;
    }
    if (cli_link_open(&link, argv[0], url, socket_path, token_file, cacert,
                      "colibri-mcp", "token_unreadable") < 0) {
        cli_link_close(&link);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(&m, 0, sizeof(m));
    m.backend.call = daemon_call;
    m.backend.ctx = &link.ep;
    socket_lines_init(&lines, LIMIT_SOCKET_LINE);
    for (;;) {
        ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "colibri-mcp: reading stdin: %s\n",
                    strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (socket_lines_feed(&lines, chunk, (size_t)n, on_line, &m) < 0)
            goto out;
    }
    if (socket_lines_finish(&lines, on_line, &m) < 0)
        goto out;
    rc = 0;
out:
    if (m.write_failed)
        fprintf(stderr, "colibri-mcp: cannot write to stdout\n");
    socket_lines_free(&lines);
    curl_global_cleanup();
    cli_link_close(&link);
    return rc;
}
