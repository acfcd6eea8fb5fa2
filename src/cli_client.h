/*
 * cli_client.h - how the colibri CLI reaches the daemon: the Unix socket
 * (newline-delimited JSON) or HTTP(S) with the API token, both driven by
 * the operation's row of the table.
 */
#ifndef COLIBRI_CLI_CLIENT_H
#define COLIBRI_CLI_CLIENT_H

#include <jansson.h>

#include "ops.h"

/* Where the daemon is: socket_path, or url (then token, cacert). */
struct cli_endpoint {
    const char *socket_path;
    const char *url;            /* "http://127.0.0.1:7700", no /api/v1 */
    const char *token;          /* NULL: send none */
    const char *cacert;         /* PEM bundle for HTTPS; NULL: system's */
};

/*
 * An error, from the daemon (its problem document) or found here.  Local
 * errors use the codes "unreachable" (the daemon cannot be reached),
 * "permission_denied" (the socket refused us: status 403), and
 * "bad_answer" / "http_error" (status 0).
 */
struct cli_error {
    int status;                 /* HTTP status; 0 when local */
    char code[64];
    char detail[512];
};

/*
 * Where the daemon is, found the way colibri(1) documents it: url (else
 * COLIBRI_URL) with a token (token_file, else COLIBRI_TOKEN, else
 * DATA_DIR/token) and cacert (else COLIBRI_CACERT); without a URL, the
 * socket (socket_path, else COLIBRI_SOCKET, else the daemon's default; an
 * installed program run by a user also finds a system daemon's).
 * DATA_DIR is COLIBRI_DATA_DIR or the daemon's default.  All arguments
 * may be NULL but argv0.  0 with link filled (cli_link_close), or -1 when
 * token_file cannot be read ("WHO: cannot read the token file ..." on
 * stderr, with code).
 */
struct cli_link {
    struct cli_endpoint ep;
    char *token;                /* new, or NULL */
    char *socket_path;          /* new, or NULL */
    char *data_dir;             /* new: the DATA_DIR used */
};
int cli_link_open(struct cli_link *link, const char *argv0, const char *url,
                  const char *socket_path, const char *token_file,
                  const char *cacert, const char *who, const char *code);
/* Wipes the token and frees; NULL-safe. */
void cli_link_close(struct cli_link *link);

/* Fills err (status, code, a formatted detail) and returns -1. */
int cli_error_set(struct cli_error *err, int status, const char *code,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Runs op with args (borrowed; typed JSON, not validated here: the
 * daemon validates) on the daemon.  On success returns 0 and *result
 * (new): the operation's answer, JSON null for a 204, {"text": ...} for a
 * text answer.  On failure returns -1 with err filled.
 */
int cli_call(const struct cli_endpoint *ep, const struct op *op,
             json_t *args, json_t **result, struct cli_error *err);

/*
 * cli_call over HTTP with text (len bytes) as an application/x-ndjson
 * body (an OP_NDJSON operation, such as agent.events); args give the
 * path.  Same answer as cli_call.
 */
int cli_call_ndjson(const struct cli_endpoint *ep, const struct op *op,
                    json_t *args, const char *text, size_t len,
                    json_t **result, struct cli_error *err);

/*
 * The URL path and query of op with args over HTTP: path arguments
 * substituted (percent-encoded), and for a request without a body the
 * other arguments as the query.  *body (new, may be NULL) is the JSON
 * body of the other methods.  Exposed for tests.
 */
char *cli_http_target(const struct op *op, json_t *args, json_t **body);

#endif
