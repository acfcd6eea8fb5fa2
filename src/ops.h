/*
 * ops.h - the operations table: every thing Colibri can do, declared once.
 *
 * Each operation has a name ("task.claim"), an HTTP method and path, a
 * handler, flags, a one-line summary and the list of its arguments.  The
 * transports (HTTP, and later the Unix socket and MCP) are thin adapters:
 * they turn their input into one JSON object of arguments, call
 * ops_invoke(), and render the result or the problem.  The generic checks
 * (unknown op, argument types, required fields, ranges) happen once, in
 * ops_invoke(), before any handler runs.
 */
#ifndef COLIBRI_OPS_H
#define COLIBRI_OPS_H

#include <stddef.h>
#include <jansson.h>

#include "problem.h"

struct app;

/* Operation flags. */
#define OP_WRITE    0x01        /* changes state (goes through the writer) */
#define OP_STREAM   0x02        /* answers with a stream, not one result */
#define OP_LOCAL    0x04        /* only on local transports (socket) */
#define OP_ADMIN    0x08        /* administrative */
#define OP_OPEN     0x10        /* needs no token (health only) */
#define OP_TEXT     0x20        /* result is text (call.text), not JSON */
#define OP_NDJSON   0x40        /* also takes an application/x-ndjson body,
                                 * handed over raw (call.raw) */
#define OP_FOLLOW   0x80        /* answers a page, or over HTTP a stream
                                 * (SSE) when the client asks for one
                                 * (?follow=true, Accept:
                                 * text/event-stream) */

enum arg_type {
    ARG_STRING,
    ARG_INT,
    ARG_BOOL,
    ARG_STRINGS,                /* array of strings */
    ARG_INTS,                   /* array of integers */
    ARG_ANY                     /* any JSON value */
};

/* Where an argument may come from over HTTP. */
#define ARG_IN_PATH     0x01
#define ARG_IN_QUERY    0x02
#define ARG_IN_BODY     0x04
#define ARG_IN_HEADER   0x08    /* version from If-Match */

/* Argument flags. */
#define ARG_REQUIRED    0x01
#define ARG_NULLABLE    0x02    /* JSON null is accepted (clears a field) */
#define ARG_SLUG        0x04    /* strings: [A-Za-z0-9][A-Za-z0-9._-]* */
#define ARG_SKILL_NAME  0x08    /* strings: [a-z0-9-], no edge or double '-' */

struct arg_spec {
    const char *name;
    enum arg_type type;
    unsigned in;                /* ARG_IN_* */
    unsigned flags;             /* ARG_REQUIRED, ARG_NULLABLE */
    long long min, max;         /* ints: value; strings: length; arrays:
                                 * item count (and item length/value in
                                 * item_min/item_max); max 0 = unbounded */
    long long item_min, item_max;
    const char *const *choices; /* strings: allowed values, NULL-ended */
    const char *summary;
};

struct call;

struct op {
    const char *name;           /* "task.claim" */
    const char *method;         /* "POST" */
    const char *path;           /* "/api/v1/tasks/{id}/claim" */
    int (*handler)(struct call *);
    unsigned flags;             /* OP_* */
    int status;                 /* success status: 200, 201, 204 */
    const char *summary;
    const struct arg_spec *args;    /* ends with a NULL name */
};

/*
 * One invocation.  The transport fills op, app, args and the request id;
 * the handler fills result (or text) or err.
 */
struct call {
    const struct op *op;
    struct app *app;            /* borrowed */
    json_t *args;               /* borrowed, validated */
    int version_from_header;    /* "version" came from If-Match */
    const char *raw;            /* borrowed NDJSON body (OP_NDJSON), or
                                 * NULL */
    size_t raw_len;
    const char *request_id;

    json_t *result;             /* new; JSON answer */
    char *text;                 /* new; OP_TEXT answer */
    const char *content_type;   /* OP_TEXT content type */
    int status;                 /* 0 = the op's success status */
    char location[128];         /* Location header for 201 */
    char etag[64];              /* ETag header, when the result has one */
    struct problem err;
};

/* The table, and its size. */
extern const struct op ops_table[];
extern const size_t ops_count;

/* Finds an operation by name; NULL when unknown. */
const struct op *ops_find(const char *name);
/* op's argument called name; NULL when it has none. */
const struct arg_spec *ops_find_arg(const struct op *op, const char *name);

/*
 * Legacy command names of the original daemon ("Ping", "SpawnAgent")
 * stand for operations; the table of them is data in ops_alias.c.  An
 * alias may name an operation that does not exist (yet): it resolves
 * through ops_find() at run time, so it simply answers "unknown" until
 * the operation is added.
 */
struct op_alias {
    const char *legacy;         /* "ClaimTask" */
    const char *name;           /* "task.claim" */
};
extern const struct op_alias ops_aliases[];
extern const size_t ops_alias_count;

/* The operation name a legacy name stands for (borrowed), or NULL. */
const char *ops_find_alias(const char *legacy);

/* An operation by name, else by legacy name; NULL when neither. */
const struct op *ops_resolve(const char *name);

/*
 * Matches method and path against the table.  On a match, *op is set and
 * path parameters are added to params (strings; a last "{name*}" segment
 * takes the rest of the path, "a/b/c").  Returns 0 on a match,
 * 404 when no path matches, 405 when the path matches other methods (then
 * allow gets "GET, HEAD, ..." ).
 */
int ops_route(const char *method, const char *path, const struct op **op,
              json_t *params, char *allow, size_t allowlen);

/*
 * Converts a string from a path or query into the JSON type the argument
 * declares; NULL (with err filled) when it does not parse.  Unknown names
 * are an error too.
 */
json_t *ops_coerce(const struct op *op, const char *name, const char *value,
                   unsigned in, struct problem *err);

/* True when op takes argument name from the place in (ARG_IN_*). */
int ops_arg_in(const struct op *op, const char *name, unsigned in);

/* The name rules ARG_SLUG and ARG_SKILL_NAME check. */
int ops_is_slug(const char *s);
int ops_is_skill_name(const char *s);

/* Checks args against the op's declaration: unknown names, types,
 * required, ranges, choices.  0 or -1 with err (400/422). */
int ops_validate(const struct op *op, json_t *args,
                 struct problem *err);

/* Validates and runs the handler.  0 or -1 (then call->err is set). */
int ops_invoke(struct call *call);

/* Releases what a call produced. */
void call_finish(struct call *call);

/* The JSON Schema of an op's arguments (new reference). */
json_t *ops_input_schema(const struct op *op);

/* The whole table as JSON (name, method, path, flags, summary, schema). */
json_t *ops_describe(void);

/* Argument accessors for handlers (after validation). */
const char *call_str(const struct call *c, const char *name);
long long call_int(const struct call *c, const char *name, long long dflt);
int call_bool(const struct call *c, const char *name, int dflt);
json_t *call_arg(const struct call *c, const char *name);

#endif
