/*
 * check_ops.c - ops.c and the table: routing (404, 405 + Allow, literal
 * segments over parameters, HEAD), coercion, validation, and the table's
 * own consistency.
 */
#include "autoconf.h"

#include "src/ops.h"
#include "testutil.h"

static const struct op *
route_ok(const char *method, const char *path, json_t *params)
{
    const struct op *op = NULL;
    char allow[64];

    ck_assert_int_eq(ops_route(method, path, &op, params, allow,
                               sizeof(allow)), 0);
    return op;
}

START_TEST(routes_match_the_table)
{
    json_t *params = json_object();
    const struct op *op;
    char allow[64];

    op = route_ok("GET", "/api/v1/tasks/ready", params);
    ck_assert_str_eq(op->name, "task.ready");
    ck_assert_uint_eq(json_object_size(params), 0);

    op = route_ok("GET", "/api/v1/tasks/42", params);
    ck_assert_str_eq(op->name, "task.get");
    ck_assert_str_eq(json_string_value(json_object_get(params, "id")), "42");

    op = route_ok("HEAD", "/api/v1/tasks/42", params);
    ck_assert_str_eq(op->name, "task.get");
    op = route_ok("POST", "/api/v1/tasks/claim", params);
    ck_assert_str_eq(op->name, "task.claim_next");
    op = route_ok("POST", "/api/v1/tasks/7/claim", params);
    ck_assert_str_eq(op->name, "task.claim");
    op = route_ok("DELETE", "/api/v1/tasks/7/deps/3", params);
    ck_assert_str_eq(op->name, "task.dep_remove");
    ck_assert_str_eq(json_string_value(json_object_get(params,
                                                       "depends_on")), "3");
    op = route_ok("GET", "/api/v1/tasks/", params);
    ck_assert_str_eq(op->name, "task.list");

    ck_assert_int_eq(ops_route("GET", "/api/v2/tasks", &op, NULL, allow,
                               sizeof(allow)), 404);
    ck_assert_int_eq(ops_route("GET", "/api/v1//tasks", &op, NULL, allow,
                               sizeof(allow)), 404);
    ck_assert_int_eq(ops_route("GET", "", &op, NULL, allow, sizeof(allow)),
                     404);
    ck_assert_int_eq(ops_route("PUT", "/api/v1/tasks/1", &op, NULL, allow,
                               sizeof(allow)), 405);
    ck_assert_str_eq(allow, "GET, HEAD, PATCH, DELETE");
    ck_assert_int_eq(ops_route("DELETE", "/api/v1/tasks/ready", &op, NULL,
                               allow, sizeof(allow)), 405);
    ck_assert_str_eq(allow, "GET, HEAD");
    json_decref(params);
}
END_TEST

START_TEST(coercion_follows_declared_types)
{
    const struct op *list = ops_find("task.list");
    struct problem err = {0};
    json_t *v;

    ck_assert_ptr_nonnull(list);
    v = ops_coerce(list, "limit", "10", ARG_IN_QUERY, &err);
    ck_assert(json_is_integer(v) && json_integer_value(v) == 10);
    json_decref(v);
    v = ops_coerce(list, "ready", "true", ARG_IN_QUERY, &err);
    ck_assert(json_is_true(v));
    json_decref(v);
    ck_assert_ptr_null(ops_coerce(list, "limit", "ten", ARG_IN_QUERY, &err));
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.code, "invalid_argument");
    problem_clear(&err);
    ck_assert_ptr_null(ops_coerce(list, "bogus", "1", ARG_IN_QUERY, &err));
    ck_assert_str_eq(err.code, "unknown_argument");
    problem_clear(&err);
    /* title is a body argument of task.create, not a query one. */
    ck_assert_ptr_null(ops_coerce(ops_find("task.create"), "title", "x",
                                  ARG_IN_QUERY, &err));
    problem_clear(&err);
}
END_TEST

static const char *
validate(const char *opname, const char *json)
{
    static char code[64];
    struct problem err = {0};
    json_t *args = json_loads(json, 0, NULL);
    int rc;

    ck_assert_ptr_nonnull(args);
    rc = ops_validate(ops_find(opname), args, &err);
    json_decref(args);
    snprintf(code, sizeof(code), "%s", rc == 0 ? "ok" : err.code);
    problem_clear(&err);
    return code;
}

START_TEST(validation_in_one_place)
{
    ck_assert_str_eq(validate("task.create", "{\"title\":\"t\"}"), "ok");
    ck_assert_str_eq(validate("task.create", "{}"), "missing_argument");
    ck_assert_str_eq(validate("task.create", "{\"title\":5}"),
                     "invalid_argument");
    ck_assert_str_eq(validate("task.create", "{\"title\":\"\"}"),
                     "invalid_argument");
    ck_assert_str_eq(validate("task.create", "{\"title\":\"t\",\"x\":1}"),
                     "unknown_argument");
    ck_assert_str_eq(validate("task.create",
                              "{\"title\":\"t\",\"priority\":5}"),
                     "invalid_argument");
    ck_assert_str_eq(validate("task.create",
                              "{\"title\":\"t\",\"priority\":1.5}"),
                     "invalid_argument");
    ck_assert_str_eq(validate("task.create",
                              "{\"title\":\"t\",\"labels\":[\"a\",1]}"),
                     "invalid_argument");
    ck_assert_str_eq(validate("task.create",
                              "{\"title\":\"t\",\"labels\":[\"\"]}"),
                     "invalid_argument");
    ck_assert_str_eq(validate("task.create",
                              "{\"title\":\"t\",\"status\":\"nope\"}"),
                     "invalid_argument");
    ck_assert_str_eq(validate("task.create",
                              "{\"title\":\"t\",\"assignee\":null}"), "ok");
    ck_assert_str_eq(validate("task.create",
                              "{\"title\":null}"), "invalid_argument");
    ck_assert_str_eq(validate("task.create",
                              "{\"title\":\"t\",\"result\":[1,{}]}"), "ok");
    ck_assert_str_eq(validate("task.create",
                              "{\"title\":\"t\",\"depends_on\":[0]}"),
                     "invalid_argument");
    ck_assert_str_eq(validate("task.claim",
                              "{\"id\":1,\"agent\":\"a\","
                              "\"lease_seconds\":0}"), "invalid_argument");
    ck_assert_str_eq(validate("task.claim",
                              "{\"id\":1,\"agent\":\"a\"}"), "ok");
}
END_TEST

START_TEST(table_is_consistent)
{
    size_t i, j;

    for (i = 0; i < ops_count; i++) {
        const struct op *o = &ops_table[i];
        const char *dot = strchr(o->name, '.');
        const char *p;

        ck_assert_msg(dot != NULL && dot != o->name && dot[1] != '\0' &&
                      strchr(dot + 1, '.') == NULL,
                      "%s is not noun.verb", o->name);
        ck_assert_msg(o->summary && *o->summary, "%s has no summary",
                      o->name);
        ck_assert_ptr_nonnull(o->handler);
        ck_assert(o->status == 200 || o->status == 201 ||
                  o->status == 202 || o->status == 204);
        ck_assert_ptr_eq(ops_find(o->name), o);
        for (j = i + 1; j < ops_count; j++) {
            ck_assert_str_ne(o->name, ops_table[j].name);
            if (o->path && ops_table[j].path)
                ck_assert_msg(strcmp(o->method, ops_table[j].method) ||
                              strcmp(o->path, ops_table[j].path),
                              "%s and %s share a route", o->name,
                              ops_table[j].name);
        }
        /* Every {param} of the path is a declared path argument; a
         * "{rest*}" parameter is only ever the last segment. */
        for (p = o->path; p && (p = strchr(p, '{')) != NULL; p++) {
            char name[64];
            const char *end = strchr(p, '}');
            int rest = end[-1] == '*';

            ck_assert_msg(!rest || end[1] == '\0',
                          "%s: {..*} must end the path", o->name);
            snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1 - rest),
                     p + 1);
            ck_assert_msg(ops_arg_in(o, name, ARG_IN_PATH),
                          "%s: {%s} is not a path argument", o->name, name);
        }
    }
}
END_TEST

/* A last "{path*}" segment takes the rest of the path; literal segments
 * still win over parameters. */
START_TEST(routes_with_a_rest_parameter)
{
    json_t *params = json_object(), *all;
    const struct op *op;
    char allow[64];
    size_t i;

    op = route_ok("GET", "/api/v1/skills/search", params);
    ck_assert_str_eq(op->name, "skill.search");
    ck_assert_uint_eq(json_object_size(params), 0);
    op = route_ok("POST", "/api/v1/skills/rescan", params);
    ck_assert_str_eq(op->name, "skill.rescan");
    op = route_ok("GET", "/api/v1/skills/pdf", params);
    ck_assert_str_eq(op->name, "skill.get");
    ck_assert_str_eq(json_string_value(json_object_get(params, "name")),
                     "pdf");
    op = route_ok("PUT", "/api/v1/skills/pdf", params);
    ck_assert_str_eq(op->name, "skill.put");
    json_object_clear(params);

    op = route_ok("GET", "/api/v1/skills/pdf/files/SKILL.md", params);
    ck_assert_str_eq(op->name, "skill.file");
    ck_assert_str_eq(json_string_value(json_object_get(params, "path")),
                     "SKILL.md");
    ck_assert_str_eq(json_string_value(json_object_get(params, "name")),
                     "pdf");
    json_object_clear(params);
    op = route_ok("GET", "/api/v1/skills/pdf/files/a/b/c.txt/", params);
    ck_assert_str_eq(op->name, "skill.file");
    ck_assert_str_eq(json_string_value(json_object_get(params, "path")),
                     "a/b/c.txt");
    json_object_clear(params);
    /* Deep paths fit: more segments than any fixed pattern has. */
    op = route_ok("GET", "/api/v1/skills/x/files/1/2/3/4/5/6/7/8/9/10/11/"
                  "12/13/14/15/16", params);
    ck_assert_str_eq(json_string_value(json_object_get(params, "path")),
                     "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16");
    json_object_clear(params);
    /* The rest parameter takes one segment at least. */
    ck_assert_int_eq(ops_route("GET", "/api/v1/skills/pdf/files", &op, NULL,
                               allow, sizeof(allow)), 404);
    ck_assert_int_eq(ops_route("GET", "/api/v1/skills/pdf/files//x", &op,
                               NULL, allow, sizeof(allow)), 404);
    ck_assert_int_eq(ops_route("DELETE", "/api/v1/skills/pdf/files/x", &op,
                               NULL, allow, sizeof(allow)), 405);
    ck_assert_str_eq(allow, "GET, HEAD");
    ck_assert_int_eq(ops_route("GET", "/api/v1/skills/rescan", &op, NULL,
                               allow, sizeof(allow)), 405);
    ck_assert_str_eq(allow, "POST");

    /* --print-ops shows OpenAPI's form of the path: "{path}". */
    all = ops_describe();
    for (i = 0; i < json_array_size(all); i++) {
        json_t *o = json_array_get(all, i);

        if (!strcmp(json_string_value(json_object_get(o, "name")),
                    "skill.file"))
            ck_assert_str_eq(json_string_value(json_object_get(o, "path")),
                             "/api/v1/skills/{name}/files/{path}");
    }
    json_decref(all);
    json_decref(params);
}
END_TEST

START_TEST(schemas_describe_arguments)
{
    json_t *schema = ops_input_schema(ops_find("task.create"));
    json_t *props = json_object_get(schema, "properties");
    json_t *all;

    ck_assert_str_eq(json_string_value(json_object_get(schema, "type")),
                     "object");
    ck_assert(json_is_false(json_object_get(schema,
                                            "additionalProperties")));
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(schema, "required"), 0)), "title");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(props, "labels"), "type")),
                     "array");
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(props, "priority"), "maximum")), 4);
    json_decref(schema);
    all = ops_describe();
    ck_assert_uint_eq(json_array_size(all), ops_count);
    json_decref(all);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, routes_match_the_table);
    tcase_add_test(tc, coercion_follows_declared_types);
    tcase_add_test(tc, validation_in_one_place);
    tcase_add_test(tc, table_is_consistent);
    tcase_add_test(tc, routes_with_a_rest_parameter);
    tcase_add_test(tc, schemas_describe_arguments);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
