/*
 * cli_client.c - the colibri CLI's two transports.  Both build the
 * request from the operation's row of the table alone, so an operation
 * added to the table is reachable from the CLI without code here.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <curl/curl.h>

#include "cli_client.h"
#include "config.h"
#include "limits.h"
#include "util.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

int
cli_error_set(struct cli_error *err, int status, const char *code,
              const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    return -1;
}

/* Fills err from a problem document (the socket's "error" member or an
 * HTTP problem+json body). */
static int
problem_fail(struct cli_error *err, const json_t *problem, int status)
{
    const char *code = json_string_value(json_object_get(problem, "code"));
    const char *detail = json_string_value(json_object_get(problem,
                                                           "detail"));
    json_t *st = json_object_get(problem, "status");

    return cli_error_set(err, json_is_integer(st) ? (int)json_integer_value(st)
                                             : status,
                         code ? code : "error", "%s",
                         detail ? detail : "the daemon reported an error");
}

/* --- the socket ------------------------------------------------------ */

static int
socket_call(const struct cli_endpoint *ep, const struct op *op,
            json_t *args, json_t **result, struct cli_error *err)
{
    struct sockaddr_un addr;
    json_t *req, *answer = NULL;
    json_error_t jerr;
    struct buf in;
    char *line, chunk[65536], *nl = NULL;
    size_t len, off = 0;
    int fd = -1, rc = -1, send_errno = 0;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(ep->socket_path) >= sizeof(addr.sun_path))
        return cli_error_set(err, 0, "unreachable",
                             "the socket path %s is too "
                             "long", ep->socket_path);
    memcpy(addr.sun_path, ep->socket_path, strlen(ep->socket_path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cli_error_set(err, 0, "unreachable", "socket: %s",
                             strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;

        close(fd);
        if (e == EACCES || e == EPERM)
            return cli_error_set(err, 403, "permission_denied",
                                 "cannot connect to %s: %s", ep->socket_path,
                                 strerror(e));
        return cli_error_set(err, 0, "unreachable", "cannot connect to the "
                             "daemon at %s: %s (is colibrid running?)",
                             ep->socket_path, strerror(e));
    }

    req = json_pack("{s:i, s:s, s:O}", "id", 1, "op", op->name, "args",
                    args);
    line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    len = strlen(line);
    line = xrealloc(line, len + 2);
    line[len++] = '\n';
    while (off < len) {
        ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            /* The daemon may have answered and closed already (a
             * refused peer): what it said is still there to read. */
            send_errno = errno;
            break;
        }
        off += (size_t)n;
    }
    free(line);

    buf_init(&in, LIMIT_CLI_RESPONSE);
    while (nl == NULL) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (send_errno != 0)
                cli_error_set(err, 0, "unreachable", "cannot send to %s: %s",
                              ep->socket_path, strerror(send_errno));
            else
                cli_error_set(err, 0, "unreachable", "the daemon closed the "
                              "connection without answering");
            goto out;
        }
        if (buf_append(&in, chunk, (size_t)n) < 0) {
            cli_error_set(err, 0, "bad_answer", "the answer is larger than %d "
                          "bytes", LIMIT_CLI_RESPONSE);
            goto out;
        }
        nl = memchr(in.data, '\n', in.len);
    }
    answer = json_loadb(in.data, (size_t)(nl - in.data), 0, &jerr);
    if (!json_is_object(answer)) {
        cli_error_set(err, 0, "bad_answer",
                      "the daemon's answer is not a JSON "
                      "object");
        goto out;
    }
    if (!json_is_true(json_object_get(answer, "ok"))) {
        problem_fail(err, json_object_get(answer, "error"), 0);
        goto out;
    }
    *result = json_incref(json_object_get(answer, "result"));
    if (*result == NULL)
        *result = json_null();
    rc = 0;
out:
    json_decref(answer);
    buf_free(&in);
    close(fd);
    return rc;
}

/* --- HTTP ------------------------------------------------------------ */

/* keep_slash: a "{name*}" segment, which spans several segments. */
static void
percent_encode(struct buf *out, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
            ch == '_' || ch == '~' || (keep_slash && ch == '/'))
            buf_append(out, s, 1);
        else
            buf_printf(out, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
    }
}

/* A JSON value as it is written in a path or query: strings as they are,
 * arrays as comma lists, everything else as JSON text. */
static char *
plain_text(const json_t *v)
{
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_array(v)) {
        struct buf b;
        size_t i;

        buf_init(&b, LIMIT_BODY_BYTES);
        for (i = 0; i < json_array_size(v); i++) {
            char *item = plain_text(json_array_get(v, i));

            buf_printf(&b, "%s%s", i ? "," : "", item);
            free(item);
        }
        return b.data ? b.data : xstrdup("");
    }
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int
has_body(const struct op *op)
{
    return strcmp(op->method, "GET") && strcmp(op->method, "HEAD") &&
           strcmp(op->method, "DELETE");
}

char *
cli_http_target(const struct op *op, json_t *args, json_t **body)
{
    struct buf url;
    const char *p = op->path, *key;
    json_t *v;
    int nquery = 0;

    *body = has_body(op) ? json_object() : NULL;
    buf_init(&url, LIMIT_BODY_BYTES);
    while (*p != '\0') {
        const char *open = strchr(p, '{'), *close;
        char name[64];
        json_t *arg;
        int rest;

        if (open == NULL || (close = strchr(open, '}')) == NULL) {
            buf_append(&url, p, strlen(p));
            break;
        }
        buf_append(&url, p, (size_t)(open - p));
        snprintf(name, sizeof(name), "%.*s", (int)(close - open - 1),
                 open + 1);
        rest = name[0] != '\0' && name[strlen(name) - 1] == '*';
        if (rest)
            name[strlen(name) - 1] = '\0';
        arg = json_object_get(args, name);
        if (arg != NULL) {
            char *text = plain_text(arg);

            percent_encode(&url, text, rest);
            free(text);
        }
        p = close + 1;
    }
    json_object_foreach(args, key, v) {
        char *text;

        if (ops_arg_in(op, key, ARG_IN_PATH))
            continue;
        /* The body when the method has one and the argument may be
         * there (or is unknown: the daemon will say so); else the
         * query. */
        if (*body != NULL && (ops_arg_in(op, key, ARG_IN_BODY) ||
                              !ops_arg_in(op, key, ARG_IN_QUERY))) {
            json_object_set(*body, key, v);
            continue;
        }
        text = plain_text(v);
        buf_append(&url, nquery++ ? "&" : "?", 1);
        percent_encode(&url, key, 0);
        buf_append(&url, "=", 1);
        percent_encode(&url, text, 0);
        free(text);
    }
    return url.data ? url.data : xstrdup("");
}

struct http_answer {
    struct buf body;
    int too_large;
};

static size_t
on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct http_answer *a = ctx;

    if (buf_append(&a->body, data, size * n) < 0) {
        a->too_large = 1;
        return 0;
    }
    return size * n;
}

/* raw: a body sent as it is (application/x-ndjson) instead of the JSON
 * object of the arguments that do not go in the path. */
static int
http_call(const struct cli_endpoint *ep, const struct op *op, json_t *args,
          const char *raw, size_t raw_len, json_t **result,
          struct cli_error *err)
{
    struct curl_slist *headers = NULL;
    struct http_answer answer;
    json_t *body = NULL, *doc = NULL;
    char *target, *url, *payload = NULL, *auth = NULL, curl_err[256];
    const char *ctype = NULL;
    size_t baselen = strlen(ep->url);
    long status = 0;
    CURLcode cc;
    CURL *curl;
    int rc = -1;

    while (baselen > 0 && ep->url[baselen - 1] == '/')
        baselen--;
    target = cli_http_target(op, args, &body);
    url = xasprintf("%.*s%s", (int)baselen, ep->url, target);
    free(target);
    buf_init(&answer.body, LIMIT_CLI_RESPONSE);
    answer.too_large = 0;
    curl_err[0] = '\0';

    curl = curl_easy_init();
    if (curl == NULL) {
        cli_error_set(err, 0, "http_error", "cannot initialise libcurl");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (ep->cacert != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, ep->cacert);
    headers = curl_slist_append(headers, "Accept: application/json");
    if (ep->token != NULL) {
        auth = xasprintf("Authorization: Bearer %s", ep->token);
        headers = curl_slist_append(headers, auth);
    }
    if (raw != NULL) {
        headers = curl_slist_append(headers,
                                    "Content-Type: application/x-ndjson");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, raw);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)raw_len);
    } else if (body != NULL) {
        payload = json_dumps(body, JSON_COMPACT);
        headers = curl_slist_append(headers,
                                    "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
                         (long)strlen(payload));
    }
    if (strcmp(op->method, "GET") && strcmp(op->method, "POST"))
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, op->method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(cc);

        if (answer.too_large)
            cli_error_set(err, 0, "bad_answer", "the answer is larger than %d "
                          "bytes", LIMIT_CLI_RESPONSE);
        else if (cc == CURLE_COULDNT_CONNECT ||
                 cc == CURLE_COULDNT_RESOLVE_HOST ||
                 cc == CURLE_OPERATION_TIMEDOUT ||
                 cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR ||
                 cc == CURLE_SEND_ERROR)
            cli_error_set(err, 0, "unreachable", "cannot reach the daemon at "
                          "%.*s: %s", (int)baselen, ep->url, why);
        else
            cli_error_set(err, 0, "http_error", "%.*s: %s", (int)baselen,
                          ep->url, why);
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype);
    if (ctype != NULL && (!strncasecmp(ctype, "application/json", 16) ||
                          !strncasecmp(ctype, "application/problem+json",
                                       24)))
        doc = json_loadb(answer.body.data ? answer.body.data : "",
                         answer.body.len, JSON_DECODE_ANY, NULL);
    if (status < 200 || status > 299) {
        if (json_is_object(doc))
            problem_fail(err, doc, (int)status);
        else
            cli_error_set(err, (int)status, "http_error",
                          "the daemon answered "
                          "HTTP %ld", status);
        goto out;
    }
    if (status == 204 || answer.body.len == 0)
        *result = json_null();
    else if (doc != NULL)
        *result = json_incref(doc);
    else if (op->flags & OP_TEXT)
        *result = json_pack("{s:s%}", "text", answer.body.data,
                            answer.body.len);
    else {
        cli_error_set(err, 0, "bad_answer", "the daemon's answer is not JSON");
        goto out;
    }
    rc = 0;
out:
    if (auth != NULL)
        explicit_bzero(auth, strlen(auth));
    free(auth);
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    free(payload);
    free(url);
    json_decref(body);
    json_decref(doc);
    buf_free(&answer.body);
    return rc;
}

int
cli_call(const struct cli_endpoint *ep, const struct op *op, json_t *args,
         json_t **result, struct cli_error *err)
{
    memset(err, 0, sizeof(*err));
    *result = NULL;
    if (ep->url != NULL) {
        if (op->path == NULL)
            return cli_error_set(err, 0, "local_only", "%s is served on the "
                                 "socket only; leave out --url", op->name);
        return http_call(ep, op, args, NULL, 0, result, err);
    }
    return socket_call(ep, op, args, result, err);
}

int
cli_call_ndjson(const struct cli_endpoint *ep, const struct op *op,
                json_t *args, const char *text, size_t len, json_t **result,
                struct cli_error *err)
{
    memset(err, 0, sizeof(*err));
    *result = NULL;
    if (ep->url == NULL || op->path == NULL || !(op->flags & OP_NDJSON))
        return cli_error_set(err, 0, "bad_request", "%s takes no NDJSON body "
                             "here", op->name);
    return http_call(ep, op, args, text, len, result, err);
}

/* --- finding the daemon ---------------------------------------------- */

/* The socket when none is named: the daemon's default, computed the same
 * way; an installed program run by a user also finds a system daemon's
 * socket. */
static char *
default_socket(const char *argv0, const char *data_dir)
{
    static const char system_path[] = COLIBRI_SYSTEM_RUN_DIR "/colibri.sock";
    char *path = config_default_socket_path(argv0, data_dir);
    struct stat st;

    if (stat(path, &st) < 0 && stat(system_path, &st) == 0) {
        free(path);
        return xstrdup(system_path);
    }
    return path;
}

int
cli_link_open(struct cli_link *link, const char *argv0, const char *url,
              const char *socket_path, const char *token_file,
              const char *cacert, const char *who, const char *code)
{
    const char *env;
    char *data_dir, *path;
    int rc = 0;

    memset(link, 0, sizeof(*link));
    env = getenv("COLIBRI_DATA_DIR");
    data_dir = env != NULL && *env != '\0' ? xstrdup(env)
                                           : config_default_data_dir(argv0);
    link->data_dir = data_dir;
    if (url == NULL && socket_path == NULL &&
        (env = getenv("COLIBRI_URL")) != NULL && *env != '\0')
        url = env;
    if (url != NULL) {
        env = getenv("COLIBRI_TOKEN");
        if (token_file == NULL && env != NULL && *env != '\0') {
            link->token = xstrdup(env);
        } else {
            path = token_file ? xstrdup(token_file)
                              : xasprintf("%s/token", data_dir);
            link->token = util_read_secret(path, 4096);
            if (link->token == NULL && token_file != NULL) {
                fprintf(stderr, "%s: cannot read the token file %s: %s "
                        "(%s)\n", who, path, strerror(errno), code);
                rc = -1;
            }
            free(path);
        }
        link->ep.url = url;
        link->ep.token = link->token;
        link->ep.cacert = cacert ? cacert : getenv("COLIBRI_CACERT");
    } else {
        env = getenv("COLIBRI_SOCKET");
        if (socket_path != NULL)
            link->socket_path = xstrdup(socket_path);
        else if (env != NULL && *env != '\0')
            link->socket_path = xstrdup(env);
        else
            link->socket_path = default_socket(argv0, data_dir);
        link->ep.socket_path = link->socket_path;
    }
    return rc;
}

void
cli_link_close(struct cli_link *link)
{
    if (link == NULL)
        return;
    if (link->token != NULL)
        explicit_bzero(link->token, strlen(link->token));
    free(link->token);
    free(link->socket_path);
    free(link->data_dir);
    memset(link, 0, sizeof(*link));
}
