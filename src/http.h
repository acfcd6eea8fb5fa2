/*
 * http.h - the HTTP(S) transport: libmicrohttpd in front of the
 * operations table.  The only module that includes microhttpd.h.
 *
 * It does the generic work once for every operation: Host check (before
 * anything else), routing (404, 405 + Allow), token check, body limits
 * (413), media type (415), JSON parsing (400), turning path, query, body
 * and If-Match into one argument object, and rendering results and RFC
 * 9457 problems.  One access-log line per request.
 */
#ifndef COLIBRI_HTTP_H
#define COLIBRI_HTTP_H

#include <stddef.h>

struct app;
struct http;
struct sse;

struct http_options {
    const char *host;           /* address to bind */
    int port;                   /* 0: any free port */
    const char *tls_cert_pem;   /* PEM text, or NULL for plain HTTP */
    const char *tls_key_pem;
    int threads;
    const char *token;          /* required as Bearer on all but OP_OPEN */
    char *const *allow_hosts;   /* extra Host names, NULL-terminated */
    struct sse *sse;            /* event streams (borrowed), or NULL */
    unsigned int max_connections;
    size_t connection_memory;   /* bytes per connection */
    const char *static_dir;     /* the dashboard's files, or NULL */
};

/* The dashboard's cookies and the header a cookie-authorized write must
 * carry (equal to the csrf cookie's value). */
#define HTTP_SESSION_COOKIE "colibri_session"
#define HTTP_CSRF_COOKIE "colibri_csrf"
#define HTTP_CSRF_HEADER "X-CSRF-Token"

/* Starts serving; new handle.  0, or -1 with the reason in err. */
int http_start(struct http **out, struct app *app,
               const struct http_options *opts, char *err, size_t errlen);

/* Mints a one-time dashboard login code (valid once, for ten minutes)
 * for the URL /login?t=CODE; out gets LOGIN_SECRET_HEX + 1 bytes (65).
 * 0, or -1. */
int http_login_code(struct http *h, char *out);

/* The port actually bound (useful with port 0). */
int http_port(const struct http *h);

/* Stops accepting, finishes requests in flight, frees.  Accepts NULL. */
void http_stop(struct http *h);

/* The MHD flags colibrid runs with; the benchmark's bare server uses the
 * same so the two are comparable. */
unsigned int http_daemon_flags(int tls);

const char *http_library_version(void);

#endif
