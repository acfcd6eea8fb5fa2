/*
 * check_mcp.c - mcp.c with a fake backend: framing of messages, every
 * protocol error, version negotiation, the tool list's shape, tools/call
 * results and the isError mapping, skills as resources.
 */
#include "autoconf.h"

#include "src/mcp.h"
#include "testutil.h"

/* The fake backend: records the last call; answers from canned data. */
struct fake {
    char last_op[64];
    json_t *last_args;
    int calls;
};

static int
fake_call(void *ctx, const struct op *op, json_t *args, json_t **result,
          json_t **problem)
{
    struct fake *f = ctx;
    const char *name = json_string_value(json_object_get(args, "name"));
    const char *path = json_string_value(json_object_get(args, "path"));

    f->calls++;
    snprintf(f->last_op, sizeof(f->last_op), "%s", op->name);
    json_decref(f->last_args);
    f->last_args = json_deep_copy(args);
    if (!strcmp(op->name, "task.get") &&
        json_integer_value(json_object_get(args, "id")) == 404) {
        *problem = json_pack("{s:i, s:s, s:s}", "status", 404, "code",
                             "task_not_found", "detail", "no task 404");
        return -1;
    }
    if (!strcmp(op->name, "task.delete")) {
        *result = json_null();
        return 0;
    }
    if (!strcmp(op->name, "skill.list")) {
        if (json_object_get(args, "after") == NULL)
            *result =
                json_pack("{s:[{s:s, s:s}], s:s}", "items", "name", "alpha",
                          "description", "first", "next", "alpha");
        else
            *result = json_pack("{s:[{s:s, s:s}], s:n}", "items", "name",
                                "beta", "description", "second", "next");
        return 0;
    }
    if (!strcmp(op->name, "skill.file")) {
        if (strcmp(name, "alpha") != 0) {
            *problem = json_pack("{s:i, s:s, s:s}", "status", 404, "code",
                                 "skill_not_found", "detail", "no skill");
            return -1;
        }
        if (!strcmp(path, "logo.png"))
            *result = json_pack("{s:s, s:s, s:s}", "name", name, "path", path,
                                "content_base64", "AAEC");
        else
            *result = json_pack("{s:s, s:s, s:s}", "name", name, "path", path,
                                "content", "# Alpha\n");
        return 0;
    }
    *result = json_pack("{s:s, s:O}", "op", op->name, "args", args);
    return 0;
}

static struct fake fake;
static struct mcp_backend backend = {fake_call, &fake};

/* Sends text; returns the parsed answer (new) or NULL when none. */
static json_t *
send_text(const char *text, enum mcp_kind *kind)
{
    char *out = mcp_handle(&backend, text, strlen(text), kind);
    json_t *doc;

    if (out == NULL)
        return NULL;
    ck_assert_ptr_null(strchr(out, '\n'));
    doc = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    free(out);
    return doc;
}

static json_t *
send_ok(const char *text)
{
    enum mcp_kind kind;
    json_t *doc = send_text(text, &kind);

    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(kind, MCP_ANSWER);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "jsonrpc")), "2.0");
    return doc;
}

static long long
error_code(const json_t *doc)
{
    json_t *err = json_object_get(doc, "error");

    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(json_object_get(doc, "result"));
    ck_assert(json_is_string(json_object_get(err, "message")));
    return json_integer_value(json_object_get(err, "code"));
}

START_TEST(initialize_negotiates_the_version)
{
    json_t *doc, *res;

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                  "\"params\":{\"protocolVersion\":\"2025-06-18\","
                  "\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
                  "\"version\":\"1\"}}}");
    res = json_object_get(doc, "result");
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "id")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(res, "protocolVersion")),
                     "2025-06-18");
    ck_assert_ptr_nonnull(
        json_object_get(json_object_get(res, "capabilities"), "tools"));
    ck_assert_ptr_nonnull(
        json_object_get(json_object_get(res, "capabilities"), "resources"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(res, "serverInfo"), "name")),
                     "colibri");
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":"
                  "\"initialize\",\"params\":{\"protocolVersion\":"
                  "\"2025-11-25\"}}");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "id")), "a");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(doc, "result"), "protocolVersion")),
                     "2025-11-25");
    json_decref(doc);

    /* Unknown (older or newer): the latest this server speaks. */
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\","
                  "\"params\":{\"protocolVersion\":\"2024-11-05\"}}");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(doc, "result"), "protocolVersion")),
                     MCP_VERSION_LATEST);
    json_decref(doc);

    /* No version at all: bad params. */
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\","
                  "\"params\":{}}");
    ck_assert_int_eq(error_code(doc), MCP_INVALID_PARAMS);
    json_decref(doc);
}
END_TEST

START_TEST(stateless_discovery)
{
    json_t *doc, *res;

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":\"d\",\"method\":"
                  "\"server/discover\",\"params\":{\"_meta\":{"
                  "\"io.modelcontextprotocol/protocolVersion\":"
                  "\"2026-07-28\",\"io.modelcontextprotocol/"
                  "clientCapabilities\":{}}}}");
    res = json_object_get(doc, "result");
    ck_assert_str_eq(json_string_value(json_object_get(res, "resultType")),
                     "complete");
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(res, "supportedVersions"), 0)),
                     "2026-07-28");
    ck_assert_ptr_nonnull(
        json_object_get(json_object_get(res, "capabilities"), "tools"));
    json_decref(doc);

    /* Any request in the stateless form gets resultType. */
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                  "\"tools/list\",\"params\":{\"_meta\":{"
                  "\"io.modelcontextprotocol/protocolVersion\":"
                  "\"2026-07-28\"}}}");
    res = json_object_get(doc, "result");
    ck_assert_str_eq(json_string_value(json_object_get(res, "resultType")),
                     "complete");
    ck_assert(json_array_size(json_object_get(res, "tools")) > 0);
    json_decref(doc);

    /* initialize asking for it gets the latest handshake version. */
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
                  "\"initialize\",\"params\":{\"protocolVersion\":"
                  "\"2026-07-28\"}}");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(doc, "result"), "protocolVersion")),
                     MCP_VERSION_LATEST);
    json_decref(doc);
}
END_TEST

START_TEST(notifications_get_no_answer)
{
    enum mcp_kind kind;

    ck_assert_ptr_null(send_text("{\"jsonrpc\":\"2.0\",\"method\":"
                                 "\"notifications/initialized\"}",
                                 &kind));
    ck_assert_int_eq(kind, MCP_NOTHING);
    ck_assert_ptr_null(send_text("{\"jsonrpc\":\"2.0\",\"method\":"
                                 "\"notifications/whatever\",\"params\":"
                                 "{}}",
                                 &kind));
    ck_assert_int_eq(kind, MCP_NOTHING);
    /* A response from the client needs nothing either. */
    ck_assert_ptr_null(send_text("{\"jsonrpc\":\"2.0\",\"id\":9,"
                                 "\"result\":{}}",
                                 &kind));
    ck_assert_int_eq(kind, MCP_NOTHING);
}
END_TEST

START_TEST(ping_answers_empty)
{
    json_t *doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":"
                          "\"ping\"}");

    ck_assert(json_is_object(json_object_get(doc, "result")));
    ck_assert_int_eq(json_object_size(json_object_get(doc, "result")), 0);
    json_decref(doc);
}
END_TEST

START_TEST(protocol_errors)
{
    enum mcp_kind kind;
    json_t *doc;

    doc = send_text("{not json", &kind);
    ck_assert_int_eq(kind, MCP_REJECTED);
    ck_assert_int_eq(error_code(doc), MCP_PARSE_ERROR);
    ck_assert(json_is_null(json_object_get(doc, "id")));
    json_decref(doc);

    doc = send_text("[1,2]", &kind);
    ck_assert_int_eq(kind, MCP_REJECTED);
    ck_assert_int_eq(error_code(doc), MCP_INVALID_REQUEST);
    json_decref(doc);

    doc = send_text("42", &kind);
    ck_assert_int_eq(error_code(doc), MCP_INVALID_REQUEST);
    json_decref(doc);

    doc =
        send_text("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", &kind);
    ck_assert_int_eq(error_code(doc), MCP_INVALID_REQUEST);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "id")), 1);
    json_decref(doc);

    doc =
        send_text("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", &kind);
    ck_assert_int_eq(error_code(doc), MCP_INVALID_REQUEST);
    json_decref(doc);

    doc = send_text("{\"jsonrpc\":\"2.0\",\"id\":1}", &kind);
    ck_assert_int_eq(error_code(doc), MCP_INVALID_REQUEST);
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"nope\"}");
    ck_assert_int_eq(error_code(doc), MCP_METHOD_NOT_FOUND);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "id")), 5);
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\","
                  "\"params\":[1]}");
    ck_assert_int_eq(error_code(doc), MCP_INVALID_PARAMS);
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\","
                  "\"params\":{}}");
    ck_assert_int_eq(error_code(doc), MCP_INVALID_PARAMS);
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"task_get\",\"arguments\":[]}}");
    ck_assert_int_eq(error_code(doc), MCP_INVALID_PARAMS);
    json_decref(doc);

    /* Unknown tool: -32602 naming it; stream and local ops are not
     * tools, and neither are raw op names. */
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"no_such_tool\"}}");
    ck_assert_int_eq(error_code(doc), MCP_INVALID_PARAMS);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
                                     json_object_get(doc, "error"), "message")),
                                 "no_such_tool"));
    json_decref(doc);
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"events_subscribe\"}}");
    ck_assert_int_eq(error_code(doc), MCP_INVALID_PARAMS);
    json_decref(doc);
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"task.get\"}}");
    ck_assert_int_eq(error_code(doc), MCP_INVALID_PARAMS);
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":"
                  "\"resources/read\",\"params\":{}}");
    ck_assert_int_eq(error_code(doc), MCP_INVALID_PARAMS);
    json_decref(doc);

    /* The server goes on after every error. */
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}");
    ck_assert_ptr_nonnull(json_object_get(doc, "result"));
    json_decref(doc);
}
END_TEST

START_TEST(tools_come_from_the_table)
{
    json_t *doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                          "\"tools/list\"}");
    json_t *tools = json_object_get(json_object_get(doc, "result"), "tools");
    size_t i, t = 0, expected = 0;

    for (i = 0; i < ops_count; i++)
        if (!(ops_table[i].flags & (OP_STREAM | OP_LOCAL)))
            expected++;
    ck_assert_uint_eq(json_array_size(tools), expected);
    /* Table order, names with '_', schemas without $schema. */
    for (i = 0; i < ops_count; i++) {
        const struct op *op = &ops_table[i];
        json_t *tool, *schema;
        char name[128];
        size_t k;

        if (op->flags & (OP_STREAM | OP_LOCAL))
            continue;
        tool = json_array_get(tools, t++);
        snprintf(name, sizeof(name), "%s", op->name);
        for (k = 0; name[k]; k++)
            if (name[k] == '.')
                name[k] = '_';
        ck_assert_str_eq(json_string_value(json_object_get(tool, "name")),
                         name);
        ck_assert_str_eq(
            json_string_value(json_object_get(tool, "description")),
            op->summary);
        ck_assert(json_is_string(json_object_get(tool, "title")));
        schema = json_object_get(tool, "inputSchema");
        ck_assert_str_eq(json_string_value(json_object_get(schema, "type")),
                         "object");
        ck_assert(json_is_object(json_object_get(schema, "properties")));
        ck_assert_ptr_null(json_object_get(schema, "$schema"));
        ck_assert_ptr_eq(mcp_tool_op(name), op);
    }
    ck_assert_ptr_null(mcp_tool_op("events_stream"));
    ck_assert_ptr_null(mcp_tool_op("events_subscribe"));
    json_decref(doc);
}
END_TEST

START_TEST(tools_call_results_and_errors)
{
    json_t *doc, *res, *content;

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"task_claim\",\"arguments\":"
                  "{\"id\":3,\"agent\":\"a1\"}}}");
    ck_assert_str_eq(fake.last_op, "task.claim");
    ck_assert_int_eq(json_integer_value(json_object_get(fake.last_args, "id")),
                     3);
    res = json_object_get(doc, "result");
    ck_assert(json_is_false(json_object_get(res, "isError")));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(res, "structuredContent"), "op")),
                     "task.claim");
    content = json_array_get(json_object_get(res, "content"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(content, "type")),
                     "text");
    {
        json_t *parsed = json_loads(
            json_string_value(json_object_get(content, "text")), 0, NULL);

        ck_assert(
            json_equal(parsed, json_object_get(res, "structuredContent")));
        json_decref(parsed);
    }
    json_decref(doc);

    /* No arguments: an empty object goes to the backend. */
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"system_version\"}}");
    ck_assert(json_is_object(fake.last_args));
    ck_assert_int_eq(json_object_size(fake.last_args), 0);
    json_decref(doc);

    /* A result without a body is wrapped into an object. */
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"task_delete\",\"arguments\":"
                  "{\"id\":3}}}");
    res = json_object_get(doc, "result");
    ck_assert(json_is_null(
        json_object_get(json_object_get(res, "structuredContent"), "result")));
    json_decref(doc);

    /* An operation error is a result with isError, not a protocol
     * error. */
    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"task_get\",\"arguments\":"
                  "{\"id\":404}}}");
    ck_assert_ptr_null(json_object_get(doc, "error"));
    res = json_object_get(doc, "result");
    ck_assert(json_is_true(json_object_get(res, "isError")));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(res, "structuredContent"), "code")),
                     "task_not_found");
    content = json_array_get(json_object_get(res, "content"), 0);
    ck_assert_ptr_nonnull(strstr(
        json_string_value(json_object_get(content, "text")), "no task 404"));
    json_decref(doc);
}
END_TEST

START_TEST(skills_are_resources)
{
    json_t *doc, *list, *c;

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                  "\"resources/list\"}");
    list = json_object_get(json_object_get(doc, "result"), "resources");
    ck_assert_uint_eq(json_array_size(list), 2); /* both pages */
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(list, 0), "uri")),
        "skill://alpha/SKILL.md");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(list, 1), "uri")),
        "skill://beta/SKILL.md");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1),
                                                       "description")),
                     "second");
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
                  "\"resources/read\",\"params\":{\"uri\":"
                  "\"skill://alpha/SKILL.md\"}}");
    ck_assert_str_eq(fake.last_op, "skill.file");
    c = json_array_get(
        json_object_get(json_object_get(doc, "result"), "contents"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "uri")),
                     "skill://alpha/SKILL.md");
    ck_assert_str_eq(json_string_value(json_object_get(c, "text")),
                     "# Alpha\n");
    ck_assert_str_eq(json_string_value(json_object_get(c, "mimeType")),
                     "text/markdown");
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":"
                  "\"resources/read\",\"params\":{\"uri\":"
                  "\"skill://alpha/logo.png\"}}");
    c = json_array_get(
        json_object_get(json_object_get(doc, "result"), "contents"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "blob")), "AAEC");
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":"
                  "\"resources/read\",\"params\":{\"uri\":"
                  "\"skill://nope/SKILL.md\"}}");
    ck_assert_int_eq(error_code(doc), MCP_RESOURCE_NOT_FOUND);
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":"
                  "\"resources/read\",\"params\":{\"uri\":"
                  "\"file:///etc/passwd\"}}");
    ck_assert_int_eq(error_code(doc), MCP_RESOURCE_NOT_FOUND);
    json_decref(doc);

    doc = send_ok("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":"
                  "\"resources/templates/list\"}");
    ck_assert_uint_eq(json_array_size(json_object_get(
                          json_object_get(doc, "result"), "resourceTemplates")),
                      1);
    json_decref(doc);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("mcp");
    TCase *tc = tcase_create("mcp");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, initialize_negotiates_the_version);
    tcase_add_test(tc, stateless_discovery);
    tcase_add_test(tc, notifications_get_no_answer);
    tcase_add_test(tc, ping_answers_empty);
    tcase_add_test(tc, protocol_errors);
    tcase_add_test(tc, tools_come_from_the_table);
    tcase_add_test(tc, tools_call_results_and_errors);
    tcase_add_test(tc, skills_are_resources);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    json_decref(fake.last_args);
    return failed ? 1 : 0;
}
