/*
 * ops.c - the machinery around the operations table: routing, argument
 * coercion and validation, invocation, and the table's self-description
 * (JSON Schemas for MCP and the OpenAPI cross-check).
 *
 * The table itself is data in ops_table.c.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "ops.h"
#include "skill_parse.h"
#include "util.h"

/* Segments of a path; a skill file path ("{path*}") may be deep. */
#define MAX_SEGMENTS 32

static int arg_problem(struct problem *err, int status, const char *code,
                       const char *argname, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int check_value(const struct op *op, const struct arg_spec *a,
                       const json_t *v, struct problem *err);

const struct op *
ops_find(const char *name)
{
    size_t i;

    for (i = 0; i < ops_count; i++)
        if (!strcmp(ops_table[i].name, name))
            return &ops_table[i];
    return NULL;
}

const char *
ops_find_alias(const char *legacy)
{
    size_t i;

    for (i = 0; i < ops_alias_count; i++)
        if (!strcmp(ops_aliases[i].legacy, legacy))
            return ops_aliases[i].name;
    return NULL;
}

const struct op *
ops_resolve(const char *name)
{
    const struct op *op = ops_find(name);
    const char *target;

    if (op != NULL)
        return op;
    target = ops_find_alias(name);
    return target != NULL ? ops_find(target) : NULL;
}

const struct arg_spec *
ops_find_arg(const struct op *op, const char *name)
{
    const struct arg_spec *a;

    for (a = op->args; a != NULL && a->name != NULL; a++)
        if (!strcmp(a->name, name))
            return a;
    return NULL;
}

/* Splits path at '/' into at most MAX_SEGMENTS pieces of buf; -1 when
 * there are more, or when a piece is empty (e.g. "//"). */
static int
split_path(const char *path, char *buf, size_t buflen, char **seg)
{
    size_t len = strlen(path);
    int n = 0;
    char *p;

    if (len + 1 > buflen || path[0] != '/')
        return -1;
    memcpy(buf, path, len + 1);
    if (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    if (len == 1)
        return 0;
    p = buf + 1;
    for (;;) {
        char *slash = strchr(p, '/');

        if (n == MAX_SEGMENTS)
            return -1;
        if (slash)
            *slash = '\0';
        if (*p == '\0')
            return -1;
        seg[n++] = p;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return n;
}

/* True for a "{name*}" segment: it takes the rest of the path. */
static int
is_rest_param(const char *pseg)
{
    size_t len = strlen(pseg);

    return pseg[0] == '{' && len >= 4 && pseg[len - 2] == '*';
}

/* Segments from..nseg-1 joined with '/' again. */
static json_t *
join_segments(char **seg, int from, int nseg)
{
    char buf[LIMIT_PATH_BUF];
    size_t n = 0;
    int i;

    buf[0] = '\0';
    /* The request path fit in LIMIT_PATH_BUF, so its rest does too. */
    for (i = from; i < nseg && n < sizeof(buf); i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
                              i > from ? "/" : "", seg[i]);
    return json_string(buf);
}

/*
 * Matches one route pattern against the request's segments.  Returns the
 * number of literal segments that matched (the route's specificity), or
 * -1.  On a match with params != NULL, "{name}" segments are stored.  A
 * last segment "{name*}" matches one or more segments and stores them
 * joined with '/' ("a/b/c").
 */
static int
match_route(const char *pattern, char **seg, int nseg, json_t *params)
{
    char pbuf[256], *pseg[MAX_SEGMENTS];
    int n, i, rest, literal = 0;

    n = split_path(pattern, pbuf, sizeof(pbuf), pseg);
    rest = n > 0 && is_rest_param(pseg[n - 1]);
    if (rest ? nseg < n : n != nseg)
        return -1;
    for (i = 0; i < n; i++) {
        if (pseg[i][0] == '{')
            continue;
        if (strcmp(pseg[i], seg[i]) != 0)
            return -1;
        literal++;
    }
    for (i = 0; params != NULL && i < n; i++) {
        if (pseg[i][0] == '{') {
            size_t len = strlen(pseg[i]);

            if (rest && i == n - 1) {
                pseg[i][len - 2] = '\0';
                json_object_set_new(params, pseg[i] + 1,
                                    join_segments(seg, i, nseg));
                continue;
            }
            pseg[i][len - 1] = '\0';
            json_object_set_new(params, pseg[i] + 1, json_string(seg[i]));
        }
    }
    return literal;
}

/* The path in OpenAPI's form: "{path*}" is written "{path}". */
static void
openapi_path(const char *path, char *out, size_t outlen)
{
    size_t n = 0;

    for (; *path != '\0' && n + 1 < outlen; path++)
        if (!(path[0] == '*' && path[1] == '}'))
            out[n++] = *path;
    out[n] = '\0';
}

static void
allow_add(char *allow, size_t allowlen, const char *method)
{
    if (strstr(allow, method) != NULL)
        return;
    if (allow[0] != '\0')
        strncat(allow, ", ", allowlen - strlen(allow) - 1);
    strncat(allow, method, allowlen - strlen(allow) - 1);
}

int
ops_route(const char *method, const char *path, const struct op **op,
          json_t *params, char *allow, size_t allowlen)
{
    char buf[LIMIT_PATH_BUF], *seg[MAX_SEGMENTS];
    const char *want = strcmp(method, "HEAD") ? method : "GET";
    int nseg, best = -1;
    size_t i;

    *op = NULL;
    allow[0] = '\0';
    /* Path segments become JSON strings: a path that is not UTF-8 names
     * nothing here. */
    if (!util_utf8_valid(path, strlen(path)))
        return 404;
    nseg = split_path(path, buf, sizeof(buf), seg);
    if (nseg < 0)
        return 404;
    /* The most specific pattern wins: /tasks/ready over /tasks/{id}. */
    for (i = 0; i < ops_count; i++) {
        int score;

        if (ops_table[i].path == NULL)
            continue;
        score = match_route(ops_table[i].path, seg, nseg, NULL);
        if (score > best)
            best = score;
    }
    if (best < 0)
        return 404;
    for (i = 0; i < ops_count; i++) {
        const struct op *o = &ops_table[i];

        if (o->path == NULL || match_route(o->path, seg, nseg, NULL) != best)
            continue;
        allow_add(allow, allowlen, o->method);
        if (!strcmp(o->method, "GET"))
            allow_add(allow, allowlen, "HEAD");
        if (*op == NULL && !strcmp(o->method, want))
            *op = o;
    }
    if (*op == NULL)
        return 405;
    match_route((*op)->path, seg, nseg, params);
    return 0;
}

int
ops_arg_in(const struct op *op, const char *name, unsigned in)
{
    const struct arg_spec *a = ops_find_arg(op, name);

    return a != NULL && (a->in & in) != 0;
}

static const char *
type_name(enum arg_type t)
{
    switch (t) {
    case ARG_STRING: return "a string";
    case ARG_INT: return "an integer";
    case ARG_BOOL: return "a boolean";
    case ARG_STRINGS: return "an array of strings";
    case ARG_INTS: return "an array of integers";
    default: return "a JSON value";
    }
}

static int
arg_problem(struct problem *err, int status, const char *code,
            const char *argname, const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    problem_extra(err, "argument", json_string(argname));
    return -1;
}

json_t *
ops_coerce(const struct op *op, const char *name, const char *value,
           unsigned in, struct problem *err)
{
    const struct arg_spec *a = ops_find_arg(op, name);
    long long v;

    if (a == NULL || (a->in & in) == 0) {
        arg_problem(err, 400, "unknown_argument", name,
                    "'%s' is not a parameter of %s", name, op->name);
        return NULL;
    }
    switch (a->type) {
    case ARG_INT:
        if (util_parse_ll(value, a->min || a->max ? a->min : INT64_MIN + 1,
                          a->min || a->max ? a->max : INT64_MAX, &v) < 0) {
            arg_problem(err, 400, "invalid_argument", name,
                        "'%s' of %s must be an integer from %lld to %lld",
                        name, op->name, a->min, a->max);
            return NULL;
        }
        return json_integer(v);
    case ARG_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1"))
            return json_true();
        if (!strcmp(value, "false") || !strcmp(value, "0"))
            return json_false();
        arg_problem(err, 400, "invalid_argument", name,
                    "'%s' of %s must be true or false", name, op->name);
        return NULL;
    case ARG_STRINGS: {
        json_t *arr = json_array();
        const char *p = value;

        while (*p != '\0') {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);

            json_array_append_new(arr, json_stringn(p, len));
            if (comma == NULL)
                break;
            p = comma + 1;
        }
        return arr;
    }
    default:
        return json_string(value);
    }
}

int
ops_is_slug(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || s[0] == '.' || s[0] == '_' ||
        s[0] == '-')
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '-'))
            return 0;
    }
    return 1;
}

int
ops_is_skill_name(const char *s)
{
    return s != NULL && skill_name_check(s, NULL, 0) == 0;
}

static int
check_int(const struct op *op, const struct arg_spec *a, const json_t *v,
          long long min, long long max, struct problem *err)
{
    long long x;

    if (!json_is_integer(v))
        return arg_problem(err, 400, "invalid_argument", a->name,
                           "'%s' of %s must be an integer", a->name,
                           op->name);
    x = json_integer_value(v);
    if ((min != 0 || max != 0) && (x < min || x > max))
        return arg_problem(err, 400, "invalid_argument", a->name,
                           "'%s' of %s must be an integer from %lld to "
                           "%lld", a->name, op->name, min, max);
    return 0;
}

static int
check_string(const struct op *op, const struct arg_spec *a, const json_t *v,
             long long min, long long max, struct problem *err)
{
    size_t len;
    int i;

    if (!json_is_string(v))
        return arg_problem(err, 400, "invalid_argument", a->name,
                           "'%s' of %s must be a string", a->name,
                           op->name);
    len = util_utf8_chars(json_string_value(v), json_string_length(v));
    if ((long long)len < min || (max > 0 && (long long)len > max))
        return arg_problem(err, 400, "invalid_argument", a->name,
                           "'%s' of %s must be a string of %lld to %lld "
                           "characters", a->name, op->name, min, max);
    if ((a->flags & ARG_SLUG) && !ops_is_slug(json_string_value(v)))
        return arg_problem(err, 400, "invalid_argument", a->name,
                           "'%s' of %s must start with a letter or digit "
                           "and hold only letters, digits, '.', '_' and "
                           "'-'", a->name, op->name);
    if ((a->flags & ARG_SKILL_NAME) &&
        !ops_is_skill_name(json_string_value(v)))
        return arg_problem(err, 400, "invalid_argument", a->name,
                           "'%s' of %s must be a skill name: lower-case "
                           "letters, digits and single inner hyphens",
                           a->name, op->name);
    if (a->choices == NULL)
        return 0;
    for (i = 0; a->choices[i] != NULL; i++)
        if (!strcmp(a->choices[i], json_string_value(v)))
            return 0;
    return arg_problem(err, 400, "invalid_argument", a->name,
                       "'%s' of %s cannot be '%s'", a->name, op->name,
                       json_string_value(v));
}

static int
check_value(const struct op *op, const struct arg_spec *a, const json_t *v,
            struct problem *err)
{
    size_t i;

    if (json_is_null(v)) {
        if (a->flags & ARG_NULLABLE || a->type == ARG_ANY)
            return 0;
        return arg_problem(err, 400, "invalid_argument", a->name,
                           "'%s' of %s must not be null", a->name,
                           op->name);
    }
    switch (a->type) {
    case ARG_STRING:
        return check_string(op, a, v, a->min, a->max, err);
    case ARG_INT:
        return check_int(op, a, v, a->min, a->max, err);
    case ARG_BOOL:
        if (!json_is_boolean(v))
            return arg_problem(err, 400, "invalid_argument", a->name,
                               "'%s' of %s must be a boolean", a->name,
                               op->name);
        return 0;
    case ARG_STRINGS:
    case ARG_INTS:
        if (!json_is_array(v) ||
            (a->max > 0 && (long long)json_array_size(v) > a->max) ||
            (long long)json_array_size(v) < a->min)
            return arg_problem(err, 400, "invalid_argument", a->name,
                               "'%s' of %s must be %s of at most %lld "
                               "items", a->name, op->name,
                               type_name(a->type), a->max);
        for (i = 0; i < json_array_size(v); i++) {
            const json_t *item = json_array_get(v, i);
            int rc = a->type == ARG_STRINGS
                ? check_string(op, a, item, a->item_min, a->item_max, err)
                : check_int(op, a, item, a->item_min, a->item_max, err);

            if (rc < 0)
                return -1;
        }
        return 0;
    case ARG_ANY:
        return 0;
    }
    return 0;
}

int
ops_validate(const struct op *op, json_t *args, struct problem *err)
{
    const struct arg_spec *a;
    const char *key;
    json_t *v;

    if (!json_is_object(args))
        return problem_set(err, 400, "invalid_arguments",
                           "the arguments of %s must be a JSON object",
                           op->name);
    json_object_foreach(args, key, v) {
        a = ops_find_arg(op, key);
        if (a == NULL)
            return arg_problem(err, 400, "unknown_argument", key,
                               "'%s' is not an argument of %s", key,
                               op->name);
        if (check_value(op, a, v, err) < 0)
            return -1;
    }
    for (a = op->args; a != NULL && a->name != NULL; a++)
        if ((a->flags & ARG_REQUIRED) && json_object_get(args, a->name) ==
            NULL)
            return arg_problem(err, 400, "missing_argument", a->name,
                               "'%s' is required by %s", a->name,
                               op->name);
    return 0;
}

int
ops_invoke(struct call *call)
{
    if (ops_validate(call->op, call->args, &call->err) < 0)
        return -1;
    if (call->op->handler(call) < 0) {
        if (call->err.status == 0)
            problem_set(&call->err, 500, "internal",
                        "%s failed without saying why", call->op->name);
        return -1;
    }
    return 0;
}

void
call_finish(struct call *call)
{
    json_decref(call->result);
    call->result = NULL;
    free(call->text);
    call->text = NULL;
    problem_clear(&call->err);
}

json_t *
call_arg(const struct call *c, const char *name)
{
    return json_object_get(c->args, name);
}

const char *
call_str(const struct call *c, const char *name)
{
    return json_string_value(json_object_get(c->args, name));
}

long long
call_int(const struct call *c, const char *name, long long dflt)
{
    json_t *v = json_object_get(c->args, name);

    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

int
call_bool(const struct call *c, const char *name, int dflt)
{
    json_t *v = json_object_get(c->args, name);

    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static json_t *
scalar_schema(const struct arg_spec *a, enum arg_type t, long long min,
              long long max)
{
    json_t *s = json_object();
    int i;

    switch (t) {
    case ARG_STRING:
        json_object_set_new(s, "type", json_string("string"));
        if (min > 0)
            json_object_set_new(s, "minLength", json_integer(min));
        if (max > 0)
            json_object_set_new(s, "maxLength", json_integer(max));
        if (a->flags & ARG_SLUG)
            json_object_set_new(s, "pattern",
                                json_string("^[A-Za-z0-9][A-Za-z0-9._-]*$"));
        if (a->flags & ARG_SKILL_NAME)
            json_object_set_new(s, "pattern",
                                json_string("^[a-z0-9]+(-[a-z0-9]+)*$"));
        if (a->choices) {
            json_t *e = json_array();

            for (i = 0; a->choices[i]; i++)
                json_array_append_new(e, json_string(a->choices[i]));
            json_object_set_new(s, "enum", e);
        }
        break;
    case ARG_INT:
        json_object_set_new(s, "type", json_string("integer"));
        if (min != 0 || max != 0) {
            json_object_set_new(s, "minimum", json_integer(min));
            json_object_set_new(s, "maximum", json_integer(max));
        }
        break;
    case ARG_BOOL:
        json_object_set_new(s, "type", json_string("boolean"));
        break;
    default:
        break;
    }
    return s;
}

json_t *
ops_input_schema(const struct op *op)
{
    json_t *schema = json_object(), *props = json_object();
    json_t *required = json_array();
    const struct arg_spec *a;

    json_object_set_new(schema, "$schema",
                        json_string("https://json-schema.org/draft/2020-12/"
                                    "schema"));
    json_object_set_new(schema, "title", json_string(op->name));
    json_object_set_new(schema, "description", json_string(op->summary));
    json_object_set_new(schema, "type", json_string("object"));
    for (a = op->args; a != NULL && a->name != NULL; a++) {
        json_t *s;

        if (a->type == ARG_STRINGS || a->type == ARG_INTS) {
            s = json_object();
            json_object_set_new(s, "type", json_string("array"));
            json_object_set_new(s, "items", scalar_schema(a,
                a->type == ARG_STRINGS ? ARG_STRING : ARG_INT,
                a->item_min, a->item_max));
            if (a->max > 0)
                json_object_set_new(s, "maxItems", json_integer(a->max));
        } else {
            s = scalar_schema(a, a->type, a->min, a->max);
        }
        if ((a->flags & ARG_NULLABLE) && json_object_get(s, "type")) {
            json_t *types = json_pack("[O, s]", json_object_get(s, "type"),
                                      "null");

            json_object_set_new(s, "type", types);
        }
        json_object_set_new(s, "description", json_string(a->summary));
        json_object_set_new(props, a->name, s);
        if (a->flags & ARG_REQUIRED)
            json_array_append_new(required, json_string(a->name));
    }
    json_object_set_new(schema, "properties", props);
    if (json_array_size(required) > 0)
        json_object_set_new(schema, "required", required);
    else
        json_decref(required);
    json_object_set_new(schema, "additionalProperties", json_false());
    return schema;
}

json_t *
ops_describe(void)
{
    json_t *list = json_array();
    size_t i;

    for (i = 0; i < ops_count; i++) {
        const struct op *o = &ops_table[i];
        json_t *flags = json_array();
        char path[256];

        if (o->path != NULL)
            openapi_path(o->path, path, sizeof(path));
        if (o->flags & OP_WRITE)
            json_array_append_new(flags, json_string("write"));
        if (o->flags & OP_STREAM)
            json_array_append_new(flags, json_string("stream"));
        if (o->flags & OP_LOCAL)
            json_array_append_new(flags, json_string("local"));
        if (o->flags & OP_ADMIN)
            json_array_append_new(flags, json_string("admin"));
        if (o->flags & OP_OPEN)
            json_array_append_new(flags, json_string("open"));
        if (o->flags & OP_TEXT)
            json_array_append_new(flags, json_string("text"));
        if (o->flags & OP_NDJSON)
            json_array_append_new(flags, json_string("ndjson"));
        if (o->flags & OP_FOLLOW)
            json_array_append_new(flags, json_string("follow"));
        json_array_append_new(list, json_pack(
            "{s:s, s:s?, s:s?, s:i, s:o, s:s, s:o}", "name", o->name,
            "method", o->method, "path", o->path ? path : NULL,
            "status", o->status,
            "flags", flags, "summary", o->summary, "input_schema",
            ops_input_schema(o)));
    }
    return list;
}
