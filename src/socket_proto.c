/*
 * socket_proto.c - the socket's protocol without the socket: line framing
 * and one request line -> one answer line.  Pure apart from the
 * operation a request runs, so tests/check_socket.c covers it directly.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ops.h"
#include "socket.h"
#include "util.h"

static char *answer_doc(json_t *id, json_t *result,
                        const struct problem *err, size_t *outlen);
static char *error_answer_v(json_t *id, int status, const char *code,
                            size_t *outlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
static char *error_answer(json_t *id, int status, const char *code,
                          size_t *outlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* --- line framing ---------------------------------------------------- */

void
socket_lines_init(struct socket_lines *l, size_t cap)
{
    memset(l, 0, sizeof(*l));
    buf_init(&l->partial, cap);
    l->cap = cap;
}

void
socket_lines_free(struct socket_lines *l)
{
    buf_free(&l->partial);
}

static int
emit_line(const char *line, size_t len, socket_emit_fn *emit, void *ctx)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return emit(ctx, SOCKET_LINE, line, len);
}

int
socket_lines_feed(struct socket_lines *l, const char *data, size_t len,
                  socket_emit_fn *emit, void *ctx)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        size_t used = nl ? n + 1 : n;

        if (l->discarding) {
            /* The tail of an oversize line: drop it up to its end. */
            if (nl != NULL)
                l->discarding = 0;
        } else if (l->partial.len + n > l->cap) {
            /* Report at once, so the client hears about it before it
             * has sent the whole line; then skip to the newline. */
            if (l->partial.size > 64 * 1024)
                buf_free(&l->partial);  /* keeps the cap */
            buf_reset(&l->partial);
            l->discarding = nl == NULL;
            if (emit(ctx, SOCKET_LINE_TOO_LONG, NULL, 0) < 0)
                return -1;
        } else if (nl == NULL) {
            buf_append(&l->partial, data, n);
        } else if (l->partial.len == 0) {
            if (emit_line(data, n, emit, ctx) < 0)
                return -1;
        } else {
            int rc;

            buf_append(&l->partial, data, n);
            rc = emit_line(l->partial.data, l->partial.len, emit, ctx);
            buf_reset(&l->partial);
            if (rc < 0)
                return -1;
        }
        data += used;
        len -= used;
    }
    return 0;
}

int
socket_lines_finish(struct socket_lines *l, socket_emit_fn *emit, void *ctx)
{
    int rc = 0;

    if (!l->discarding && l->partial.len > 0)
        rc = emit_line(l->partial.data, l->partial.len, emit, ctx);
    buf_reset(&l->partial);
    l->discarding = 0;
    return rc;
}

/* --- the protocol ---------------------------------------------------- */

/* {"id":..,"ok":..,"result"|"error":..} as one line; steals result. */
static char *
answer_doc(json_t *id, json_t *result, const struct problem *err,
           size_t *outlen)
{
    json_t *doc = json_object();
    char *text;
    size_t n;

    json_object_set(doc, "id", id != NULL ? id : json_null());
    if (err != NULL) {
        json_object_set_new(doc, "ok", json_false());
        json_object_set_new(doc, "error", problem_to_json(err));
        json_decref(result);
    } else {
        json_object_set_new(doc, "ok", json_true());
        json_object_set_new(doc, "result",
                            result != NULL ? result : json_null());
    }
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)           /* only on allocation failure */
        fatalx("socket: cannot encode an answer");
    n = strlen(text);
    text = xrealloc(text, n + 2);
    text[n] = '\n';
    text[n + 1] = '\0';
    *outlen = n + 1;
    return text;
}

static char *
error_answer_v(json_t *id, int status, const char *code, size_t *outlen,
               const char *fmt, va_list ap)
{
    struct problem p = {0};
    char *line;

    p.status = status;
    p.code = code;
    vsnprintf(p.detail, sizeof(p.detail), fmt, ap);
    line = answer_doc(id, NULL, &p, outlen);
    problem_clear(&p);
    return line;
}

static char *
error_answer(json_t *id, int status, const char *code, size_t *outlen,
             const char *fmt, ...)
{
    va_list ap;
    char *line;

    va_start(ap, fmt);
    line = error_answer_v(id, status, code, outlen, fmt, ap);
    va_end(ap);
    return line;
}

char *
socket_error_line(int status, const char *code, size_t *outlen,
                  const char *fmt, ...)
{
    va_list ap;
    char *line;

    va_start(ap, fmt);
    line = error_answer_v(NULL, status, code, outlen, fmt, ap);
    va_end(ap);
    return line;
}

static int
blank(const char *line, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return 0;
    return 1;
}

/*
 * Checks the envelope, resolves the operation (names and legacy aliases),
 * and runs it.  The arguments are already typed JSON, so they go to
 * ops_invoke() as they are: its validation is the only one, the same as
 * over HTTP.  Every error keeps the connection usable.
 */
char *
socket_answer(struct app *app, const char *line, size_t len,
              const char *request_id, size_t *outlen)
{
    return socket_answer_stream(app, line, len, request_id, outlen, NULL);
}

char *
socket_answer_line(json_t *id, json_t *result, const struct problem *err,
                   size_t *outlen)
{
    return answer_doc(id, result, err, outlen);
}

void
socket_stream_request_clear(struct socket_stream_request *stream)
{
    json_decref(stream->id);
    json_decref(stream->args);
    memset(stream, 0, sizeof(*stream));
}

char *
socket_answer_stream(struct app *app, const char *line, size_t len,
                     const char *request_id, size_t *outlen,
                     struct socket_stream_request *stream)
{
    json_t *doc, *id, *opname, *args, *v, *result = NULL;
    json_error_t jerr;
    const struct op *op;
    const char *key, *name;
    struct call call;
    char *out;

    if (stream != NULL)
        memset(stream, 0, sizeof(*stream));
    if (blank(line, len))
        return NULL;
    doc = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                     &jerr);
    if (doc == NULL)
        return error_answer(NULL, 400, "invalid_json", outlen,
                            "the line is not valid JSON: %s (column %d)",
                            jerr.text, jerr.column);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return error_answer(NULL, 400, "invalid_request", outlen,
                            "a request is a JSON object: "
                            "{\"id\":..,\"op\":\"..\",\"args\":{..}}");
    }
    id = json_object_get(doc, "id");
    if (json_is_object(id) || json_is_array(id)) {
        out = error_answer(NULL, 400, "invalid_request", outlen,
                           "the id must be a string, a number, a boolean "
                           "or null");
        goto out;
    }
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "id") && strcmp(key, "op") && strcmp(key, "args")) {
            out = error_answer(id, 400, "invalid_request", outlen,
                               "unknown member '%s': a request has id, op "
                               "and args", key);
            goto out;
        }
    }
    opname = json_object_get(doc, "op");
    name = json_string_value(opname);
    if (name == NULL || name[0] == '\0') {
        out = error_answer(id, 400, "missing_op", outlen,
                           "the request names no operation: give \"op\" "
                           "as a string, such as \"task.list\"");
        goto out;
    }
    op = ops_resolve(name);
    if (op == NULL) {
        out = error_answer(id, 404, "unknown_op", outlen,
                           "there is no operation '%s'", name);
        goto out;
    }
    args = json_object_get(doc, "args");
    if (args == NULL) {
        args = json_object();
        json_object_set_new(doc, "args", args);
    }
    /*
     * A stream the socket serves (OP_STREAM | OP_LOCAL, or an OP_FOLLOW
     * op asked to follow): checked like any request, then left to the
     * listener.  Other streams (events.stream,
     * the SSE one) run their handler, which refuses and names the way to
     * stream here.
     */
    if (stream != NULL && (((op->flags & OP_STREAM) &&
                            (op->flags & OP_LOCAL)) ||
                           ((op->flags & OP_FOLLOW) &&
                            json_is_true(json_object_get(args,
                                                         "follow"))))) {
        struct problem err = {0};

        if (ops_validate(op, args, &err) < 0) {
            out = answer_doc(id, NULL, &err, outlen);
            problem_clear(&err);
            goto out;
        }
        stream->op = op;
        stream->id = json_incref(id != NULL ? id : json_null());
        stream->args = json_incref(args);
        *outlen = 0;
        out = NULL;
        goto out;
    }

    memset(&call, 0, sizeof(call));
    call.op = op;
    call.app = app;
    call.args = args;
    call.request_id = request_id;
    if (ops_invoke(&call) < 0) {
        out = answer_doc(id, NULL, &call.err, outlen);
    } else {
        int status = call.status ? call.status : op->status;

        if (call.text != NULL)
            result = json_pack("{s:s}", "text", call.text);
        else if (status != 204 && call.result != NULL)
            result = json_incref(call.result);
        out = answer_doc(id, result, NULL, outlen);
    }
    call_finish(&call);
out:
    json_decref(doc);
    return out;
}
