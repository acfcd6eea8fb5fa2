/*
 * mcp.c - the MCP server core: JSON-RPC 2.0 envelope checks, version
 * negotiation, tools from the operations table, skills as resources.
 * Transport-free and stateless; the transports are src/colibri_mcp.c
 * (stdio) and src/http.c (POST /mcp).  See docs/internals/mcp.md.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "mcp.h"
#include "util.h"

/* The URI scheme of skill resources: skill://<name>/<path>. */
#define SKILL_SCHEME "skill://"

/* Pages of skill.list read for resources/list, at most. */
#define MCP_SKILL_PAGES 100

static json_t *rpc_error(json_t *id, int code, json_t *data, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

static const char *const versions[] = {MCP_VERSION_2025_06_18,
                                       MCP_VERSION_2025_11_25, NULL};

/* --- envelopes ------------------------------------------------------- */

static json_t *
rpc_error(json_t *id, int code, json_t *data, const char *fmt, ...)
{
    char message[512];
    json_t *err;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    err = json_pack("{s:i, s:s}", "code", code, "message", message);
    if (data != NULL)
        json_object_set_new(err, "data", data);
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
                     id != NULL ? id : json_null(), "error", err);
}

static json_t *
rpc_result(json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result",
                     result);
}

/* --- tools ----------------------------------------------------------- */

int
mcp_is_tool(const struct op *op)
{
    return op != NULL && !(op->flags & (OP_STREAM | OP_LOCAL));
}

/* "task.claim" -> "task_claim" into out. */
static void
tool_name(const struct op *op, char *out, size_t outlen)
{
    size_t i;

    snprintf(out, outlen, "%s", op->name);
    for (i = 0; out[i] != '\0'; i++)
        if (out[i] == '.')
            out[i] = '_';
}

const struct op *
mcp_tool_op(const char *tool)
{
    char name[128];
    size_t i;

    if (tool == NULL)
        return NULL;
    for (i = 0; i < ops_count; i++) {
        if (!mcp_is_tool(&ops_table[i]))
            continue;
        tool_name(&ops_table[i], name, sizeof(name));
        if (!strcmp(name, tool))
            return &ops_table[i];
    }
    return NULL;
}

json_t *
mcp_tools_list(void)
{
    json_t *tools = json_array();
    size_t i;

    for (i = 0; i < ops_count; i++) {
        const struct op *op = &ops_table[i];
        json_t *schema, *annotations;
        char name[128];

        if (!mcp_is_tool(op))
            continue;
        tool_name(op, name, sizeof(name));
        schema = ops_input_schema(op);
        json_object_del(schema, "$schema");
        annotations =
            json_pack("{s:b}", "readOnlyHint", !(op->flags & OP_WRITE));
        json_array_append_new(tools,
                              json_pack("{s:s, s:s, s:s, s:o, s:o}", "name",
                                        name, "title", op->name, "description",
                                        op->summary, "inputSchema", schema,
                                        "annotations", annotations));
    }
    return json_pack("{s:o}", "tools", tools);
}

/* A text content item holding value as JSON. */
static json_t *
text_content(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *item =
        json_pack("{s:s, s:s}", "type", "text", "text", text ? text : "null");

    free(text);
    return json_pack("[o]", item);
}

static json_t *
tools_call(const struct mcp_backend *b, json_t *id, json_t *params)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    json_t *result = NULL, *problem = NULL, *structured, *answer;
    const struct op *op;

    if (name == NULL)
        return rpc_error(id, MCP_INVALID_PARAMS, NULL,
                         "tools/call needs params.name, a string");
    if (args != NULL && !json_is_object(args))
        return rpc_error(id, MCP_INVALID_PARAMS, NULL,
                         "params.arguments of tools/call must be an "
                         "object");
    op = mcp_tool_op(name);
    if (op == NULL)
        return rpc_error(id, MCP_INVALID_PARAMS,
                         json_pack("{s:s}", "tool", name), "Unknown tool: %s",
                         name);
    args = args != NULL ? json_deep_copy(args) : json_object();
    if (b->call(b->ctx, op, args, &result, &problem) < 0) {
        if (!json_is_object(problem)) {
            json_decref(problem);
            problem =
                json_pack("{s:i, s:s, s:s}", "status", 500, "code", "internal",
                          "detail", "the operation failed without saying why");
        }
        answer = json_pack("{s:o, s:O, s:b}", "content", text_content(problem),
                           "structuredContent", problem, "isError", 1);
        json_decref(problem);
        json_decref(result);
        json_decref(args);
        return rpc_result(id, answer);
    }
    json_decref(args);
    if (result == NULL)
        result = json_null();
    /* structuredContent is an object; other answers are wrapped. */
    structured = json_is_object(result) ? json_incref(result)
                                        : json_pack("{s:O}", "result", result);
    answer = json_pack("{s:o, s:o, s:b}", "content", text_content(result),
                       "structuredContent", structured, "isError", 0);
    json_decref(result);
    return rpc_result(id, answer);
}

/* --- resources ------------------------------------------------------- */

static int
backend_call(const struct mcp_backend *b, const char *opname, json_t *args,
             json_t **result, json_t **problem)
{
    const struct op *op = ops_find(opname);
    int rc;

    *result = NULL;
    *problem = NULL;
    if (op == NULL) {
        json_decref(args);
        *problem = json_pack("{s:i, s:s, s:s}", "status", 500, "code",
                             "internal", "detail", "no such operation");
        return -1;
    }
    rc = b->call(b->ctx, op, args, result, problem);
    json_decref(args);
    return rc;
}

static json_t *
problem_error(json_t *id, json_t *problem)
{
    const char *detail = json_string_value(json_object_get(problem, "detail"));
    json_t *st = json_object_get(problem, "status");
    int code = json_integer_value(st) == 404 ? MCP_RESOURCE_NOT_FOUND
                                             : MCP_INTERNAL_ERROR;
    json_t *answer = rpc_error(id, code, problem ? json_incref(problem) : NULL,
                               "%s", detail ? detail : "the operation failed");

    json_decref(problem);
    return answer;
}

static json_t *
resources_list(const struct mcp_backend *b, json_t *id)
{
    json_t *resources = json_array(), *result, *problem;
    char *after = NULL;
    int page;

    for (page = 0; page < MCP_SKILL_PAGES; page++) {
        json_t *args = json_pack("{s:i}", "limit", LIMIT_LIST_MAX), *items;
        const char *next;
        size_t i;

        if (after != NULL)
            json_object_set_new(args, "after", json_string(after));
        if (backend_call(b, "skill.list", args, &result, &problem) < 0) {
            free(after);
            json_decref(resources);
            json_decref(result);
            return problem_error(id, problem);
        }
        items = json_object_get(result, "items");
        for (i = 0; i < json_array_size(items); i++) {
            json_t *item = json_array_get(items, i);
            const char *name = json_string_value(json_object_get(item, "name"));
            const char *desc =
                json_string_value(json_object_get(item, "description"));
            char *uri;

            if (name == NULL)
                continue;
            uri = xasprintf(SKILL_SCHEME "%s/SKILL.md", name);
            json_array_append_new(resources,
                                  json_pack("{s:s, s:s, s:s, s:s, s:s}", "uri",
                                            uri, "name", name, "title", name,
                                            "description", desc ? desc : "",
                                            "mimeType", "text/markdown"));
            free(uri);
        }
        next = json_string_value(json_object_get(result, "next"));
        free(after);
        after = next != NULL ? xstrdup(next) : NULL;
        json_decref(result);
        if (after == NULL)
            break;
    }
    free(after);
    return rpc_result(id, json_pack("{s:o}", "resources", resources));
}

static json_t *
resource_templates_list(json_t *id)
{
    return rpc_result(
        id, json_pack(
                "{s:[{s:s, s:s, s:s, s:s}]}", "resourceTemplates",
                "uriTemplate", SKILL_SCHEME "{name}/{path}", "name",
                "skill-file", "title", "A file of a skill", "description",
                "A file of a skill folder by its path; SKILL.md is the skill"));
}

static const char *
mime_type(const char *path)
{
    const char *dot = strrchr(path, '.');

    if (dot == NULL)
        return "text/plain";
    if (!strcmp(dot, ".md"))
        return "text/markdown";
    if (!strcmp(dot, ".json"))
        return "application/json";
    return "text/plain";
}

static json_t *
resources_read(const struct mcp_backend *b, json_t *id, json_t *params)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));
    const char *rest, *slash, *content;
    json_t *result, *problem, *item, *args;
    char name[65];

    if (uri == NULL)
        return rpc_error(id, MCP_INVALID_PARAMS, NULL,
                         "resources/read needs params.uri, a string");
    if (strncmp(uri, SKILL_SCHEME, strlen(SKILL_SCHEME)) != 0 ||
        (slash = strchr(rest = uri + strlen(SKILL_SCHEME), '/')) == NULL ||
        slash == rest || (size_t)(slash - rest) >= sizeof(name) ||
        slash[1] == '\0')
        return rpc_error(
            id, MCP_RESOURCE_NOT_FOUND, json_pack("{s:s}", "uri", uri),
            "Resource not found: %s (skill resources are " SKILL_SCHEME
            "<name>/<path>)",
            uri);
    memcpy(name, rest, (size_t)(slash - rest));
    name[slash - rest] = '\0';
    args = json_pack("{s:s, s:s}", "name", name, "path", slash + 1);
    if (backend_call(b, "skill.file", args, &result, &problem) < 0) {
        json_t *st = json_object_get(problem, "status");

        if (json_integer_value(st) == 404 || json_integer_value(st) == 400)
            json_object_set_new(problem, "status", json_integer(404));
        json_decref(result);
        return problem_error(id, problem);
    }
    item =
        json_pack("{s:s, s:s}", "uri", uri, "mimeType", mime_type(slash + 1));
    content = json_string_value(json_object_get(result, "content"));
    if (content != NULL) {
        json_object_set_new(item, "text", json_string(content));
    } else {
        const char *b64 =
            json_string_value(json_object_get(result, "content_base64"));

        json_object_set_new(item, "mimeType",
                            json_string("application/octet-stream"));
        json_object_set_new(item, "blob", json_string(b64 ? b64 : ""));
    }
    json_decref(result);
    return rpc_result(id, json_pack("{s:[o]}", "contents", item));
}

/* --- lifecycle ------------------------------------------------------- */

static json_t *
initialize(json_t *id, json_t *params)
{
    const char *asked =
        json_string_value(json_object_get(params, "protocolVersion"));
    const char *answer = MCP_VERSION_LATEST;
    size_t i;

    if (asked == NULL)
        return rpc_error(id, MCP_INVALID_PARAMS, NULL,
                         "initialize needs params.protocolVersion, a "
                         "string");
    for (i = 0; versions[i] != NULL; i++)
        if (!strcmp(versions[i], asked))
            answer = versions[i];
    return rpc_result(
        id,
        json_pack(
            "{s:s, s:{s:{s:b}, s:{s:b, s:b}}, s:{s:s, s:s, s:s}, s:s}",
            "protocolVersion", answer, "capabilities", "tools", "listChanged",
            0, "resources", "listChanged", 0, "subscribe", 0, "serverInfo",
            "name", "colibri", "title", "Colibri", "version", PACKAGE_VERSION,
            "instructions",
            "Colibri's task board, agent registry and skills "
            "catalog. Tools are Colibri's operations (task_create, task_claim, "
            "skill_search, ...); skills are resources at " SKILL_SCHEME
            "<name>/SKILL.md."));
}

/* The stateless revision's discovery: what initialize tells, without a
 * handshake, and every version spoken. */
static json_t *
discover(json_t *id)
{
    return rpc_result(
        id,
        json_pack("{s:s, s:[s, s, s], s:{s:{}, s:{}}, s:{s:s, s:s, s:s}, s:s}",
                  "resultType", "complete", "supportedVersions",
                  MCP_VERSION_2026_07_28, MCP_VERSION_2025_11_25,
                  MCP_VERSION_2025_06_18, "capabilities", "tools", "resources",
                  "serverInfo", "name", "colibri", "title", "Colibri",
                  "version", PACKAGE_VERSION, "instructions",
                  "Colibri's task board, agent registry and skills "
                  "catalog. Tools are Colibri's operations; skills are "
                  "resources at " SKILL_SCHEME "<name>/SKILL.md."));
}

/* True when a request names the stateless revision in params._meta. */
static int
is_stateless(json_t *params)
{
    const char *v = json_string_value(
        json_object_get(json_object_get(params, "_meta"), MCP_META_VERSION));

    return v != NULL && !strcmp(v, MCP_VERSION_2026_07_28);
}

/* --- dispatch -------------------------------------------------------- */

json_t *
mcp_handle_json(const struct mcp_backend *b, json_t *msg, enum mcp_kind *kind)
{
    json_t *id, *params, *answer;
    const char *method, *version;

    *kind = MCP_REJECTED;
    if (!json_is_object(msg))
        return rpc_error(NULL, MCP_INVALID_REQUEST, NULL,
                         "a message is a JSON-RPC 2.0 object");
    id = json_object_get(msg, "id");
    version = json_string_value(json_object_get(msg, "jsonrpc"));
    method = json_string_value(json_object_get(msg, "method"));
    if (method == NULL && json_object_get(msg, "method") == NULL &&
        (json_object_get(msg, "result") != NULL ||
         json_object_get(msg, "error") != NULL)) {
        /* A response to a request this server never sends. */
        *kind = MCP_NOTHING;
        return NULL;
    }
    if (id != NULL && !json_is_string(id) && !json_is_integer(id))
        return rpc_error(NULL, MCP_INVALID_REQUEST, NULL,
                         "the id must be a string or an integer");
    if (version == NULL || strcmp(version, "2.0") != 0)
        return rpc_error(id, MCP_INVALID_REQUEST, NULL,
                         "\"jsonrpc\" must be \"2.0\"");
    if (method == NULL)
        return rpc_error(id, MCP_INVALID_REQUEST, NULL,
                         "the message names no method");
    params = json_object_get(msg, "params");
    if (params != NULL && !json_is_object(params)) {
        if (id == NULL) {
            *kind = MCP_NOTHING;
            return NULL;
        }
        *kind = MCP_ANSWER;
        return rpc_error(id, MCP_INVALID_PARAMS, NULL,
                         "params must be an object");
    }
    if (id == NULL) {
        /* Notifications (initialized, cancelled, ...) need nothing. */
        *kind = MCP_NOTHING;
        return NULL;
    }
    *kind = MCP_ANSWER;
    if (!strcmp(method, "initialize"))
        answer = initialize(id, params);
    else if (!strcmp(method, "ping"))
        answer = rpc_result(id, json_object());
    else if (!strcmp(method, "tools/list"))
        answer = rpc_result(id, mcp_tools_list());
    else if (!strcmp(method, "tools/call"))
        answer = tools_call(b, id, params);
    else if (!strcmp(method, "resources/list"))
        answer = resources_list(b, id);
    else if (!strcmp(method, "resources/templates/list"))
        answer = resource_templates_list(id);
    else if (!strcmp(method, "resources/read"))
        answer = resources_read(b, id, params);
    else if (!strcmp(method, "server/discover"))
        answer = discover(id);
    else
        answer = rpc_error(id, MCP_METHOD_NOT_FOUND,
                           json_pack("{s:s}", "method", method),
                           "Method not found: %s", method);
    if (is_stateless(params) &&
        json_is_object(json_object_get(answer, "result")))
        json_object_set_new(json_object_get(answer, "result"), "resultType",
                            json_string("complete"));
    return answer;
}

char *
mcp_handle(const struct mcp_backend *b, const char *text, size_t len,
           enum mcp_kind *kind)
{
    json_error_t jerr;
    json_t *msg, *answer;
    char *out;

    msg =
        json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (msg == NULL) {
        *kind = MCP_REJECTED;
        answer =
            rpc_error(NULL, MCP_PARSE_ERROR, NULL,
                      "Parse error: %s (column %d)", jerr.text, jerr.column);
    } else {
        answer = mcp_handle_json(b, msg, kind);
        json_decref(msg);
    }
    if (answer == NULL)
        return NULL;
    out = json_dumps(answer, JSON_COMPACT);
    json_decref(answer);
    return out;
}
