/*
 * http.c - libmicrohttpd adapter over the operations table.
 *
 * Per request, MHD calls the access handler several times: once when the
 * headers are in (we decide everything we can: Host, route, token, media
 * type, declared size), once per chunk of body (buffered up to the cap),
 * and once at the end (parse, build arguments, invoke, respond).  The
 * completion callback writes the access-log line and the metrics.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "app.h"
#include "http.h"
#include "limits.h"
#include "log.h"
#include "login.h"
#include "mcp.h"
#include "metrics.h"
#include "ops.h"
#include "sse.h"
#include "sse_session.h"
#include "static.h"
#include "util.h"

/* How long shutdown waits for requests in flight. */
#define HTTP_DRAIN_US (10 * 1000000)

struct http {
    struct MHD_Daemon *daemon;
    struct app *app;
    int listen_fd;
    int port;
    char token[128];
    size_t token_len;
    char **hosts;               /* allowed Host names, NULL-terminated */
    uint32_t id_prefix;         /* random per daemon run */
    uint64_t id_counter;
    struct sse *sse;
    int inflight;               /* requests at work (not refused for
                                 * shutdown) and not yet completed */
    int closing;                /* set by http_stop: answer 503, close */
    int tls;
    struct login *login;        /* dashboard codes and sessions */
    char static_root[PATH_MAX]; /* resolved; "" = no dashboard */
};

/* Per-request state (MHD's con_cls). */
struct request {
    struct http *http;
    int64_t start_us;
    char id[LIMIT_REQUEST_ID_CHARS + 1];
    char method[16];
    char path[160];             /* for the access log, truncated */
    const struct op *op;
    json_t *params;             /* path parameters */
    struct buf body;
    int has_body;
    int ndjson;                 /* an OP_NDJSON op got x-ndjson */
    int counted;                /* in http->inflight (not a refusal) */
    int mcp;                    /* POST /mcp: no op, an MCP message */
    int too_large;
    int answered;               /* a response was queued early */
    int page;                   /* not an operation: login or a file */
    int status;
    size_t bytes;
};

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *con,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size,
                                      void **con_cls);
static void request_completed(void *cls, struct MHD_Connection *con,
                              void **con_cls,
                              enum MHD_RequestTerminationCode toe);

const char *
http_library_version(void)
{
    return MHD_get_version();
}

unsigned int
http_daemon_flags(int tls)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

    if (tls)
        flags |= MHD_USE_TLS;
    return flags;
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t len;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    /* A client that goes away mid-response (an event stream closed by
     * its reader) is normal life, not a warning. */
    if (strstr(msg, "closed by remote peer") != NULL ||
        strstr(msg, "no longer available") != NULL)
        log_debug("http: %s", msg);
    else
        log_warnx("http: %s", msg);
}

/* --- responses ------------------------------------------------------- */

/* Headers every answer carries. */
static void
common_headers(struct MHD_Response *resp, const struct request *r)
{
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (__atomic_load_n(&r->http->closing, __ATOMIC_RELAXED))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

static char *
dump_json(const json_t *doc, size_t *len)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n = strlen(text);

    text = xrealloc(text, n + 2);
    text[n] = '\n';
    text[n + 1] = '\0';
    *len = n + 1;
    return text;
}

/* Queues an RFC 9457 problem, with the headers some statuses need. */
static enum MHD_Result
respond_problem(struct MHD_Connection *con, struct request *r,
                const struct problem *p, const char *allow)
{
    struct MHD_Response *resp;
    json_t *doc = problem_to_json(p);
    enum MHD_Result ret;
    size_t len;
    char *text;

    if (doc == NULL) {
        log_warnx("http: cannot build a problem document for %s",
                  p->code ? p->code : "?");
        return MHD_NO;
    }
    json_object_set_new(doc, "request_id", json_string(r->id));
    text = dump_json(doc, &len);
    json_decref(doc);
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/problem+json");
    common_headers(resp, r);
    if (p->status == 405 && allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (p->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"colibri\"");
    if (p->status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    r->status = p->status;
    r->bytes = len;
    r->answered = 1;
    ret = MHD_queue_response(con, (unsigned int)p->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result
refuse(struct MHD_Connection *con, struct request *r, int status,
       const char *code, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result
refuse(struct MHD_Connection *con, struct request *r, int status,
       const char *code, const char *allow, const char *fmt, ...)
{
    struct problem p = {0};
    enum MHD_Result ret;
    va_list ap;

    p.status = status;
    p.code = code;
    va_start(ap, fmt);
    vsnprintf(p.detail, sizeof(p.detail), fmt, ap);
    va_end(ap);
    ret = respond_problem(con, r, &p, allow);
    problem_clear(&p);
    return ret;
}

static enum MHD_Result
respond_call(struct MHD_Connection *con, struct request *r,
             struct call *call)
{
    struct MHD_Response *resp;
    int status = call->status ? call->status : call->op->status;
    enum MHD_Result ret;
    char *body = NULL;
    size_t len = 0;
    const char *type = NULL;

    if (call->text != NULL) {
        body = call->text;
        call->text = NULL;
        len = strlen(body);
        type = call->content_type;
    } else if (status != 204 && call->result != NULL) {
        body = dump_json(call->result, &len);
        type = "application/json";
    }
    resp = MHD_create_response_from_buffer(len, body,
                                           MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    common_headers(resp, r);
    if (call->etag[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, call->etag);
    if (call->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
                                call->location);
    r->status = status;
    r->bytes = len;
    ret = MHD_queue_response(con, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* --- checks ---------------------------------------------------------- */

/* True when the Host header (without its port) is an allowed name. */
static int
host_allowed(const struct http *h, const char *host)
{
    char name[256];
    const char *end;
    size_t len, i;

    if (host == NULL)
        return 0;
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (end == NULL)
            return 0;
        host++;
        len = (size_t)(end - host);
    } else {
        end = strchr(host, ':');
        len = end ? (size_t)(end - host) : strlen(host);
    }
    if (len == 0 || len >= sizeof(name))
        return 0;
    memcpy(name, host, len);
    name[len] = '\0';
    for (i = 0; h->hosts[i] != NULL; i++)
        if (!strcasecmp(h->hosts[i], name))
            return 1;
    return 0;
}

/*
 * A browser names the page that made a request in Origin; a page from
 * another site must not drive the API with a user's cookie or through a
 * rebound DNS name.  Absent Origin (curl, agents) is fine; a present one
 * must be http(s)://<allowed host>[:port].
 */
static int
origin_allowed(const struct http *h, const char *origin)
{
    const char *host;

    if (origin == NULL)
        return 1;
    if (strncasecmp(origin, "http://", 7) == 0)
        host = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        host = origin + 8;
    else
        return 0;
    if (strchr(host, '/') != NULL)
        return 0;
    return host_allowed(h, host);
}

static int
token_ok(const struct http *h, const char *authorization)
{
    static const char prefix[] = "Bearer ";

    if (authorization == NULL ||
        strncasecmp(authorization, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    authorization += sizeof(prefix) - 1;
    return util_equal_ct(authorization, strlen(authorization), h->token,
                         h->token_len);
}

/* JSON, with or without parameters ("application/json; charset=utf-8"). */
static int
is_ndjson_type(const char *type)
{
    static const char ndjson[] = "application/x-ndjson";
    size_t n = sizeof(ndjson) - 1;

    if (type == NULL || strncasecmp(type, ndjson, n) != 0)
        return 0;
    return type[n] == '\0' || type[n] == ';' || type[n] == ' ';
}

static int
is_json_type(const char *type)
{
    static const char json[] = "application/json";
    size_t n = sizeof(json) - 1;

    if (type == NULL || strncasecmp(type, json, n) != 0)
        return 0;
    return type[n] == '\0' || type[n] == ';' || type[n] == ' ';
}

static void
request_id(struct http *h, struct MHD_Connection *con, struct request *r)
{
    const char *given = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                    "X-Request-Id");
    size_t i, len;

    if (given != NULL && (len = strlen(given)) > 0 &&
        len <= LIMIT_REQUEST_ID_CHARS) {
        for (i = 0; i < len; i++) {
            char ch = given[i];

            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                  ch == '.'))
                break;
        }
        if (i == len) {
            memcpy(r->id, given, len + 1);
            return;
        }
    }
    snprintf(r->id, sizeof(r->id), "%08x%08llx", h->id_prefix,
             (unsigned long long)__atomic_add_fetch(&h->id_counter, 1,
                                                    __ATOMIC_RELAXED));
}

/* --- arguments ------------------------------------------------------- */

struct query_ctx {
    const struct op *op;
    json_t *args;
    struct problem *err;
};

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
              const char *value)
{
    struct query_ctx *q = cls;
    json_t *v;

    (void)kind;
    if (q->err->status != 0)
        return MHD_NO;
    if (json_object_get(q->args, key) != NULL) {
        problem_set(q->err, 400, "duplicate_argument",
                    "'%s' is given twice in the query", key);
        return MHD_NO;
    }
    v = ops_coerce(q->op, key, value ? value : "", ARG_IN_QUERY, q->err);
    if (v == NULL)
        return MHD_NO;
    json_object_set_new(q->args, key, v);
    return MHD_YES;
}

/* Parses an If-Match value: "7", W/"7" or 7. */
static int
parse_if_match(const char *value, long long *version)
{
    char digits[32];
    size_t len;

    if (strncmp(value, "W/", 2) == 0)
        value += 2;
    len = strlen(value);
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
        value++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(digits))
        return -1;
    memcpy(digits, value, len);
    digits[len] = '\0';
    return util_parse_ll(digits, 1, INT64_MAX, version);
}

/*
 * Builds the argument object: the JSON body (an object), then path
 * parameters, query parameters and If-Match.  A name given twice is an
 * error rather than a silent choice.
 */
static json_t *
build_args(struct MHD_Connection *con, struct request *r, struct call *call)
{
    const struct op *op = r->op;
    struct query_ctx q;
    json_t *args, *v;
    json_error_t jerr;
    const char *key, *if_match;

    if (r->ndjson) {
        /* Lines are the handler's to parse: a bad one must not spoil
         * the others. */
        call->raw = r->body.data ? r->body.data : "";
        call->raw_len = r->body.len;
        args = json_object();
    } else if (r->has_body && r->body.len > 0 &&
               (r->op->flags & OP_NDJSON)) {
        /* A JSON array of events. */
        args = json_loadb(r->body.data, r->body.len, 0, &jerr);
        if (args == NULL) {
            problem_set(&call->err, 400, "invalid_json",
                        "the body is not valid JSON: %s (line %d, column "
                        "%d)", jerr.text, jerr.line, jerr.column);
            return NULL;
        }
        if (json_is_array(args)) {
            json_t *wrapped = json_pack("{s:o}", "events", args);

            args = wrapped;
        }
        if (!json_is_object(args)) {
            json_decref(args);
            problem_set(&call->err, 400, "invalid_body",
                        "the body must be a JSON array of events (or "
                        "NDJSON)");
            return NULL;
        }
    } else if (r->has_body && r->body.len > 0) {
        args = json_loadb(r->body.data, r->body.len,
                          JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (args == NULL) {
            problem_set(&call->err, 400, "invalid_json",
                        "the body is not valid JSON: %s (line %d, column "
                        "%d)", jerr.text, jerr.line, jerr.column);
            return NULL;
        }
        if (!json_is_object(args)) {
            json_decref(args);
            problem_set(&call->err, 400, "invalid_body",
                        "the body must be a JSON object");
            return NULL;
        }
        json_object_foreach(args, key, v) {
            if (json_object_get(r->params, key) != NULL) {
                problem_set(&call->err, 400, "duplicate_argument",
                            "'%s' is given by the path; leave it out of "
                            "the body", key);
                goto fail;
            }
            if (!ops_arg_in(op, key, ARG_IN_BODY)) {
                problem_set(&call->err, 400, "unknown_argument",
                            "'%s' is not a body argument of %s%s", key,
                            op->name, ops_arg_in(op, key, ARG_IN_QUERY |
                                                 ARG_IN_PATH)
                                ? " (it belongs in the path or query)"
                                : "");
                problem_extra(&call->err, "argument", json_string(key));
                goto fail;
            }
        }
    } else {
        args = json_object();
    }
    json_object_foreach(r->params, key, v) {
        json_t *typed;

        typed = ops_coerce(op, key, json_string_value(v), ARG_IN_PATH,
                           &call->err);
        if (typed == NULL) {
            /* A path segment that is not a valid id names nothing. */
            problem_clear(&call->err);
            problem_set(&call->err, 404, "not_found",
                        "no resource at this path");
            goto fail;
        }
        json_object_set_new(args, key, typed);
    }
    q.op = op;
    q.args = json_object();
    q.err = &call->err;
    MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    if (call->err.status != 0) {
        json_decref(q.args);
        goto fail;
    }
    json_object_foreach(q.args, key, v) {
        if (json_object_get(args, key) != NULL) {
            problem_set(&call->err, 400, "duplicate_argument",
                        "'%s' is given twice (query and body or path)", key);
            json_decref(q.args);
            goto fail;
        }
    }
    json_object_update(args, q.args);
    json_decref(q.args);

    if_match = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                           MHD_HTTP_HEADER_IF_MATCH);
    if (if_match != NULL) {
        long long version;

        if (!ops_arg_in(op, "version", ARG_IN_HEADER)) {
            problem_set(&call->err, 400, "invalid_header",
                        "If-Match does not apply to %s", op->name);
            goto fail;
        }
        if (json_object_get(args, "version") != NULL) {
            problem_set(&call->err, 400, "duplicate_argument",
                        "'version' is given twice (If-Match and %s)",
                        ops_arg_in(op, "version", ARG_IN_BODY) ? "body"
                                                                : "query");
            goto fail;
        }
        if (parse_if_match(if_match, &version) < 0) {
            problem_set(&call->err, 400, "invalid_header",
                        "If-Match must be the task's ETag, like \"3\"");
            goto fail;
        }
        json_object_set_new(args, "version", json_integer(version));
        call->version_from_header = 1;
    }
    return args;
fail:
    json_decref(args);
    return NULL;
}

/* --- dashboard: files and login -------------------------------------- */

/* Headers of every dashboard answer (files, login redirect): the page
 * may load only its own files and talk only to this daemon, and no other
 * site may frame it. */
static void
page_headers(struct MHD_Response *resp, const struct request *r)
{
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, "Content-Security-Policy", STATIC_CSP);
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (__atomic_load_n(&r->http->closing, __ATOMIC_RELAXED))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* GET/HEAD of a dashboard file: 200, 304 on a matching If-None-Match,
 * else 404 (whatever the reason: a probe learns nothing). */
static enum MHD_Result
serve_file(struct http *h, struct MHD_Connection *con, struct request *r,
           const char *url)
{
    struct static_file f;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned int status = MHD_HTTP_OK;
    int fd = -1;

    if (h->static_root[0] == '\0' || static_resolve(h->static_root, url,
                                                    &f) < 0)
        return refuse(con, r, 404, "not_found", NULL,
                      "no resource at this path");
    if (static_etag_matches(MHD_lookup_connection_value(
                                con, MHD_HEADER_KIND,
                                MHD_HTTP_HEADER_IF_NONE_MATCH),
                            f.etag)) {
        status = MHD_HTTP_NOT_MODIFIED;
        resp = MHD_create_response_from_buffer(0, NULL,
                                               MHD_RESPMEM_PERSISTENT);
    } else {
        fd = open(f.path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return refuse(con, r, 404, "not_found", NULL,
                          "no resource at this path");
        resp = MHD_create_response_from_fd((uint64_t)f.size, fd);
    }
    if (resp == NULL) {
        if (fd >= 0)
            close(fd);
        return MHD_NO;
    }
    if (status == MHD_HTTP_OK)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f.mime);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, f.etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            f.cache_control);
    page_headers(resp, r);
    r->status = (int)status;
    r->bytes = status == MHD_HTTP_OK ? (size_t)f.size : 0;
    r->answered = 1;
    ret = MHD_queue_response(con, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/*
 * GET /login?t=CODE: trades a one-time code for a session cookie
 * (HttpOnly: scripts cannot read it) and a CSRF cookie (readable: the
 * page echoes it in X-CSRF-Token on writes), then 303 to "/" so the code
 * leaves the address bar and the history.
 */
static enum MHD_Result
serve_login(struct http *h, struct MHD_Connection *con, struct request *r)
{
    const char *code = MHD_lookup_connection_value(con,
                                                   MHD_GET_ARGUMENT_KIND,
                                                   "t");
    char sid[LOGIN_SECRET_HEX + 1], csrf[LOGIN_SECRET_HEX + 1];
    char cookie[LOGIN_SECRET_HEX + 96];
    const char *secure = h->tls ? "; Secure" : "";
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (code == NULL || login_redeem(h->login, code, util_now_ms(), sid,
                                     csrf) < 0)
        return refuse(con, r, 403, "login_invalid", NULL,
                      "this login link is unknown, used or expired; "
                      "send colibrid SIGUSR1 and it logs a new one");
    resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; "
             "SameSite=Strict%s", HTTP_SESSION_COOKIE, sid, secure);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; SameSite=Strict%s",
             HTTP_CSRF_COOKIE, csrf, secure);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            "no-store");
    page_headers(resp, r);
    explicit_bzero(sid, sizeof(sid));
    explicit_bzero(csrf, sizeof(csrf));
    explicit_bzero(cookie, sizeof(cookie));
    r->status = 303;
    r->answered = 1;
    ret = MHD_queue_response(con, MHD_HTTP_SEE_OTHER, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Paths outside the operations table: the login exchange and the
 * dashboard's files, GET and HEAD only; everything else stays 404. */
static enum MHD_Result
serve_page(struct http *h, struct MHD_Connection *con, struct request *r,
           const char *url, const char *method)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

    if (!strncmp(url, "/api/", 5) || !strcmp(url, "/api"))
        return refuse(con, r, 404, "not_found", NULL,
                      "no resource at this path");
    if (!get)
        return refuse(con, r, 405, "method_not_allowed", "GET, HEAD",
                      "%s is not allowed here; use GET, HEAD", method);
    if (!strcmp(url, "/login")) {
        /* Only a real GET spends the code (not a HEAD from a link
         * checker). */
        if (strcmp(method, "GET") != 0)
            return refuse(con, r, 405, "method_not_allowed", "GET",
                          "%s is not allowed here; use GET", method);
        return serve_login(h, con, r);
    }
    return serve_file(h, con, r, url);
}

/*
 * Who may call a protected operation: the Bearer token (automation), or
 * a live dashboard session cookie; with the cookie, a write must also
 * echo the session's CSRF value in X-CSRF-Token (a page of another site
 * can make the browser send the cookie, but cannot read the value).
 * 0 = allowed, else the status to refuse with (401 or 403).
 */
static int
authorize(struct http *h, struct MHD_Connection *con, const char *method)
{
    const char *auth = MHD_lookup_connection_value(
        con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *sid, *given;
    char csrf[LOGIN_SECRET_HEX + 1];
    int rc = 401;

    if (auth != NULL)
        return token_ok(h, auth) ? 0 : 401;
    sid = MHD_lookup_connection_value(con, MHD_COOKIE_KIND,
                                      HTTP_SESSION_COOKIE);
    if (sid == NULL || login_check(h->login, sid, util_now_ms(), csrf) < 0)
        return 401;
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
        rc = 0;
    else {
        given = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                            HTTP_CSRF_HEADER);
        rc = given != NULL && util_equal_ct(given, strlen(given), csrf,
                                            LOGIN_SECRET_HEX) ? 0 : 403;
    }
    explicit_bzero(csrf, sizeof(csrf));
    return rc;
}

int
http_login_code(struct http *h, char *out)
{
    return login_mint_code(h->login, util_now_ms(), out);
}

/* --- MCP: POST /mcp -------------------------------------------------- */

/*
 * The Streamable HTTP transport of MCP, JSON answers only (no method
 * here needs a stream, so GET, which would open one, is 405).  Not an
 * operation of the table: it carries them.  Same Host/Origin checks
 * (done before this) and the same authorization as the API.
 */
static enum MHD_Result
mcp_first_call(struct http *h, struct MHD_Connection *con,
               struct request *r, const char *method)
{
    const char *length, *type;
    long long declared;
    int denied;

    if (strcmp(method, "POST") != 0)
        return refuse(con, r, 405, "method_not_allowed", "POST",
                      "%s is not allowed here; MCP messages are POSTed "
                      "(no event stream is offered)", method);
    denied = authorize(h, con, method);
    if (denied == 401)
        return refuse(con, r, 401, "unauthorized", NULL,
                      "send the API token as 'Authorization: Bearer "
                      "<token>'");
    if (denied != 0)
        return refuse(con, r, 403, "csrf_required", NULL,
                      "a write with the session cookie must carry the "
                      "session's %s header", HTTP_CSRF_HEADER);
    type = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!is_json_type(type))
        return refuse(con, r, 415, "unsupported_media_type", NULL,
                      "an MCP message is application/json");
    length = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length != NULL &&
        util_parse_ll(length, 0, INT64_MAX, &declared) == 0 &&
        declared > LIMIT_BODY_BYTES)
        return refuse(con, r, 413, "body_too_large", NULL,
                      "the body is larger than %d bytes", LIMIT_BODY_BYTES);
    r->mcp = 1;
    r->has_body = 1;
    buf_init(&r->body, LIMIT_BODY_BYTES);
    return MHD_YES;
}

/* The MCP backend in process: the operation runs here, as over /api. */
static int
mcp_invoke(void *ctx, const struct op *op, json_t *args, json_t **result,
           json_t **problem)
{
    struct request *r = ctx;
    struct call call;
    int status, rc = 0;

    memset(&call, 0, sizeof(call));
    call.op = op;
    call.app = r->http->app;
    call.args = args;
    call.request_id = r->id;
    if (ops_invoke(&call) < 0) {
        *problem = problem_to_json(&call.err);
        rc = -1;
    } else {
        status = call.status ? call.status : op->status;
        if (call.text != NULL)
            *result = json_pack("{s:s}", "text", call.text);
        else if (status != 204 && call.result != NULL)
            *result = json_incref(call.result);
        else
            *result = json_null();
    }
    call_finish(&call);
    return rc;
}

/* One message in, its answer out: 200 with the JSON-RPC answer, 400 when
 * the body is no JSON-RPC message, 202 without a body for a
 * notification. */
static enum MHD_Result
mcp_final_call(struct MHD_Connection *con, struct request *r)
{
    struct mcp_backend backend = {mcp_invoke, r};
    struct MHD_Response *resp;
    enum mcp_kind kind;
    enum MHD_Result ret;
    char *text;
    size_t len;
    int status;

    if (r->too_large)
        return refuse(con, r, 413, "body_too_large", NULL,
                      "the body is larger than %d bytes", LIMIT_BODY_BYTES);
    text = mcp_handle(&backend, r->body.data ? r->body.data : "",
                      r->body.len, &kind);
    len = text != NULL ? strlen(text) : 0;
    status = text == NULL ? 202 : kind == MCP_REJECTED ? 400 : 200;
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    if (text != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json");
    common_headers(resp, r);
    r->status = status;
    r->bytes = len;
    ret = MHD_queue_response(con, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* --- the handler ----------------------------------------------------- */

static enum MHD_Result
first_call(struct http *h, struct MHD_Connection *con, struct request *r,
           const char *url, const char *method)
{
    char allow[64];
    const char *length, *type, *chunked;
    int route, denied;

    if (!r->counted)
        return refuse(con, r, 503, "shutting_down", NULL,
                      "the daemon is shutting down");
    if (!host_allowed(h, MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_HOST)))
        return refuse(con, r, 403, "host_not_allowed", NULL,
                      "the Host header names a host this daemon does not "
                      "serve (see --allow-host)");
    if (!origin_allowed(h, MHD_lookup_connection_value(
                               con, MHD_HEADER_KIND, "Origin")))
        return refuse(con, r, 403, "origin_not_allowed", NULL,
                      "the Origin header names a site this daemon does not "
                      "serve (see --allow-host)");
    if (strlen(url) >= LIMIT_PATH_BUF)
        return refuse(con, r, 414, "uri_too_long", NULL,
                      "the path is longer than %d bytes",
                      LIMIT_PATH_BUF - 1);
    if (!strcmp(url, "/mcp"))
        return mcp_first_call(h, con, r, method);
    r->params = json_object();
    route = ops_route(method, url, &r->op, r->params, allow, sizeof(allow));
    if (route == 404) {
        /* Answered once the request is complete: a response queued
         * this early would cost the connection its keep-alive. */
        r->page = 1;
        return MHD_YES;
    }
    if (route == 405)
        return refuse(con, r, 405, "method_not_allowed", allow,
                      "%s is not allowed here; use %s", method, allow);
    denied = (r->op->flags & OP_OPEN) ? 0 : authorize(h, con, method);
    if (denied == 401)
        return refuse(con, r, 401, "unauthorized", NULL,
                      "send the API token as 'Authorization: Bearer "
                      "<token>' (or log in to the dashboard)");
    if (denied != 0)
        return refuse(con, r, 403, "csrf_required", NULL,
                      "a write with the session cookie must carry the "
                      "session's %s header", HTTP_CSRF_HEADER);

    length = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
    chunked = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                          MHD_HTTP_HEADER_TRANSFER_ENCODING);
    r->has_body = (length != NULL && strcmp(length, "0") != 0) ||
                  chunked != NULL;
    if (r->has_body) {
        long long declared;

        type = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                           MHD_HTTP_HEADER_CONTENT_TYPE);
        r->ndjson = (r->op->flags & OP_NDJSON) && is_ndjson_type(type);
        if (!is_json_type(type) && !r->ndjson)
            return refuse(con, r, 415, "unsupported_media_type", NULL,
                          "the body must be application/json%s",
                          (r->op->flags & OP_NDJSON)
                              ? " or application/x-ndjson" : "");
        if (length != NULL &&
            util_parse_ll(length, 0, INT64_MAX, &declared) == 0 &&
            declared > LIMIT_BODY_BYTES)
            return refuse(con, r, 413, "body_too_large", NULL,
                          "the body is larger than %d bytes",
                          LIMIT_BODY_BYTES);
    }
    buf_init(&r->body, LIMIT_BODY_BYTES);
    return MHD_YES;
}

/*
 * A streaming op (GET /api/v1/events): validated like any other, then
 * handed to the SSE module instead of a handler.  The resume point is
 * ?last_event_id= or the Last-Event-ID header a reconnecting EventSource
 * sends.
 */
static enum MHD_Result
start_stream(struct http *h, struct MHD_Connection *con, struct request *r,
             struct call *call)
{
    const char *header = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                     "Last-Event-ID");
    long long last = call_int(call, "last_event_id", -1);
    char detail[256];
    int status;

    if (ops_validate(r->op, call->args, &call->err) < 0)
        return respond_problem(con, r, &call->err, NULL);
    if (h->sse == NULL)
        return refuse(con, r, 503, "streams_unavailable", NULL,
                      "event streams are not enabled");
    if (header != NULL && last < 0 &&
        util_parse_ll(header, 0, INT64_MAX, &last) < 0)
        return refuse(con, r, 400, "invalid_header", NULL,
                      "Last-Event-ID must be an event id");
    status = sse_start(h->sse, con, call_str(call, "types"),
                       call_str(call, "agent"), last, r->id, detail,
                       sizeof(detail));
    if (status == 0) {
        r->status = 200;
        r->answered = 1;
        return MHD_YES;
    }
    return refuse(con, r, status, status == 503 ? "too_many_subscribers"
                                                : "invalid_argument",
                  NULL, "%s", detail);
}

/*
 * An OP_FOLLOW op (session.entries) becomes a stream when the client asks
 * for one: ?follow=true, or Accept: text/event-stream without ?follow.  The resume point
 * is ?after= or the Last-Event-ID a reconnecting EventSource sends.
 */
static int
wants_follow(struct MHD_Connection *con, struct call *call)
{
    const char *accept = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                     "Accept");

    int follow = call_bool(call, "follow", -1);

    if (follow >= 0)
        return follow;          /* said explicitly: ?follow=false pages */
    return accept != NULL && strstr(accept, "text/event-stream") != NULL;
}

static enum MHD_Result
start_follow(struct http *h, struct MHD_Connection *con, struct request *r,
             struct call *call)
{
    const char *header = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                     "Last-Event-ID");
    const char *after = call_str(call, "after");
    long long offset = 0;

    if (ops_validate(r->op, call->args, &call->err) < 0)
        return respond_problem(con, r, &call->err, NULL);
    if (h->app->sessions == NULL)
        return refuse(con, r, 503, "sessions_unavailable", NULL,
                      "session logs are not enabled");
    if (after == NULL)
        after = header;
    if (after != NULL && util_parse_ll(after, 0, INT64_MAX, &offset) < 0)
        return refuse(con, r, 400, "invalid_cursor", NULL,
                      "'after' (or Last-Event-ID) must be a cursor the "
                      "session gave");
    if (sse_session_start(h->app->sessions, h->app->store, con,
                          call_int(call, "id", 0), offset, r->id,
                          &call->err) < 0)
        return respond_problem(con, r, &call->err, NULL);
    r->status = 200;
    r->answered = 1;
    return MHD_YES;
}

static enum MHD_Result
final_call(struct http *h, struct MHD_Connection *con, struct request *r)
{
    struct call call;
    enum MHD_Result ret;

    if (r->mcp)
        return mcp_final_call(con, r);
    if (r->too_large)
        return refuse(con, r, 413, "body_too_large", NULL,
                      "the body is larger than %d bytes", LIMIT_BODY_BYTES);
    memset(&call, 0, sizeof(call));
    call.op = r->op;
    call.app = h->app;
    call.request_id = r->id;
    call.args = build_args(con, r, &call);
    if (call.args != NULL && (r->op->flags & OP_STREAM))
        ret = start_stream(h, con, r, &call);
    else if (call.args != NULL && (r->op->flags & OP_FOLLOW) &&
             wants_follow(con, &call))
        ret = start_follow(h, con, r, &call);
    else if (call.args == NULL || ops_invoke(&call) < 0)
        ret = respond_problem(con, r, &call.err, NULL);
    else
        ret = respond_call(con, r, &call);
    json_decref(call.args);
    call_finish(&call);
    return ret;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *con, const char *url,
               const char *method, const char *version,
               const char *upload_data, size_t *upload_data_size,
               void **con_cls)
{
    struct http *h = cls;
    struct request *r = *con_cls;

    (void)version;
    if (r == NULL) {
        r = xcalloc(1, sizeof(*r));
        r->http = h;
        r->start_us = util_mono_us();
        /* Counted first, then checked: http_stop sets closing, then waits
         * for the count, so a request either is waited for or sees
         * closing and is refused (first_call). */
        __atomic_add_fetch(&h->inflight, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&h->closing, __ATOMIC_SEQ_CST))
            __atomic_sub_fetch(&h->inflight, 1, __ATOMIC_SEQ_CST);
        else
            r->counted = 1;
        snprintf(r->method, sizeof(r->method), "%s", method);
        snprintf(r->path, sizeof(r->path), "%s", url);
        request_id(h, con, r);
        *con_cls = r;
        return first_call(h, con, r, url, method);
    }
    if (r->answered)
        return MHD_YES;
    if (*upload_data_size > 0) {
        if (!r->too_large &&
            buf_append(&r->body, upload_data, *upload_data_size) < 0) {
            r->too_large = 1;
            buf_free(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->page)
        return serve_page(h, con, r, url, r->method);
    return final_call(h, con, r);
}

static void
request_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                  enum MHD_RequestTerminationCode toe)
{
    struct http *h = cls;
    struct request *r = *con_cls;
    int64_t micros;
    size_t op_index;
    int counted;

    (void)con;
    if (r == NULL)
        return;
    micros = util_mono_us() - r->start_us;
    op_index = r->op ? (size_t)(r->op - ops_table) : ops_count;
    metrics_observe(h->app->metrics, op_index, r->status, micros);
    log_info("access %s %s %d %zu %lldus rid=%s%s", r->method, r->path,
             r->status, r->bytes, (long long)micros, r->id,
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
                                                        : " aborted");
    counted = r->counted;
    json_decref(r->params);
    buf_free(&r->body);
    free(r);
    *con_cls = NULL;
    if (counted)
        __atomic_sub_fetch(&h->inflight, 1, __ATOMIC_SEQ_CST);
}

/* --- lifecycle ------------------------------------------------------- */

static int
open_listener(const char *host, int port, int *out_port, char *err,
              size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    char portstr[16];
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "--listen %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 1024) == 0)
            break;
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port,
                 strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0) {
        if (bound.ss_family == AF_INET)
            *out_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        else if (bound.ss_family == AF_INET6)
            *out_port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    }
    return fd;
}

static void
hosts_add(struct http *h, size_t *n, const char *name)
{
    h->hosts = xrealloc(h->hosts, (*n + 2) * sizeof(*h->hosts));
    h->hosts[(*n)++] = xstrdup(name);
    h->hosts[*n] = NULL;
}

int
http_start(struct http **out, struct app *app,
           const struct http_options *opts, char *err, size_t errlen)
{
    struct http *h = xcalloc(1, sizeof(*h));
    size_t n = 0, i;
    int tls = opts->tls_cert_pem != NULL;

    h->app = app;
    h->sse = opts->sse;
    h->listen_fd = -1;
    h->tls = tls;
    h->login = login_new();
    if (opts->static_dir != NULL &&
        realpath(opts->static_dir, h->static_root) == NULL) {
        log_warn("dashboard folder %s", opts->static_dir);
        h->static_root[0] = '\0';
    }
    snprintf(h->token, sizeof(h->token), "%s", opts->token);
    h->token_len = strlen(h->token);
    util_random(&h->id_prefix, sizeof(h->id_prefix));
    hosts_add(h, &n, "localhost");
    hosts_add(h, &n, "127.0.0.1");
    hosts_add(h, &n, "::1");
    if (strcmp(opts->host, "0.0.0.0") != 0 && strcmp(opts->host, "::") != 0)
        hosts_add(h, &n, opts->host);
    for (i = 0; opts->allow_hosts && opts->allow_hosts[i]; i++)
        hosts_add(h, &n, opts->allow_hosts[i]);

    h->listen_fd = open_listener(opts->host, opts->port, &h->port, err,
                                 errlen);
    if (h->listen_fd < 0)
        goto fail;
    if (tls)
        h->daemon = MHD_start_daemon(
            http_daemon_flags(1), 0, NULL, NULL, access_handler, h,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
            MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opts->threads,
            MHD_OPTION_CONNECTION_LIMIT, opts->max_connections,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, opts->connection_memory,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
            MHD_OPTION_NOTIFY_COMPLETED, request_completed, h,
            MHD_OPTION_HTTPS_MEM_CERT, opts->tls_cert_pem,
            MHD_OPTION_HTTPS_MEM_KEY, opts->tls_key_pem,
            MHD_OPTION_END);
    else
        h->daemon = MHD_start_daemon(
            http_daemon_flags(0), 0, NULL, NULL, access_handler, h,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
            MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opts->threads,
            MHD_OPTION_CONNECTION_LIMIT, opts->max_connections,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, opts->connection_memory,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
            MHD_OPTION_NOTIFY_COMPLETED, request_completed, h,
            MHD_OPTION_END);
    if (h->daemon == NULL) {
        snprintf(err, errlen, "cannot start the HTTP%s server on %s:%d%s",
                 tls ? "S" : "", opts->host, h->port,
                 tls ? " (check the certificate and key)" : "");
        goto fail;
    }
    *out = h;
    return 0;
fail:
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    h->listen_fd = -1;
    http_stop(h);
    return -1;
}

int
http_port(const struct http *h)
{
    return h->port;
}

void
http_stop(struct http *h)
{
    size_t i;

    if (h == NULL)
        return;
    if (h->daemon != NULL) {
        int64_t deadline = util_mono_us() + HTTP_DRAIN_US;

        /* Let every request at work finish and its answer reach the
         * client: a write that committed is also acknowledged.  Requests
         * that start meanwhile get 503 and "Connection: close".  (No
         * MHD_quiesce_daemon: with a thread pool on epoll it raced the
         * workers over the listen socket and aborted the daemon.) */
        __atomic_store_n(&h->closing, 1, __ATOMIC_SEQ_CST);
        /* Streams never finish by themselves: end them first (this
         * resumes every suspended one, which MHD needs before stopping). */
        sse_close(h->sse);
        while (__atomic_load_n(&h->inflight, __ATOMIC_SEQ_CST) > 0 &&
               util_mono_us() < deadline)
            usleep(5000);
        if (__atomic_load_n(&h->inflight, __ATOMIC_SEQ_CST) > 0)
            log_warnx("http: %d requests still running after %d s; "
                      "closing them", h->inflight, HTTP_DRAIN_US / 1000000);
        MHD_stop_daemon(h->daemon);
        h->listen_fd = -1;      /* MHD_stop_daemon closed it */
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    for (i = 0; h->hosts && h->hosts[i]; i++)
        free(h->hosts[i]);
    free(h->hosts);
    login_free(h->login);
    explicit_bzero(h->token, sizeof(h->token));
    free(h);
}
