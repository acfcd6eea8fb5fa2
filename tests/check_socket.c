/*
 * check_socket.c - socket_proto.c and ops_alias.c: line framing (chunks,
 * CRLF, oversize lines, end of input) and the protocol without a socket
 * (envelope errors, ids, aliases, text and 204 answers).
 */
#include "autoconf.h"

#include "src/app.h"
#include "src/limits.h"
#include "src/ops.h"
#include "src/socket.h"
#include "testutil.h"

/* Collects emitted lines as "L:<text>" or "TOO_LONG". */
struct seen {
    char lines[16][128];
    int n;
    int stop_after;             /* emit returns -1 after this many; 0: never */
};

static int
collect(void *ctx, enum socket_line_kind kind, const char *line, size_t len)
{
    struct seen *s = ctx;

    ck_assert_int_lt(s->n, 16);
    if (kind == SOCKET_LINE_TOO_LONG)
        snprintf(s->lines[s->n], sizeof(s->lines[0]), "TOO_LONG");
    else
        snprintf(s->lines[s->n], sizeof(s->lines[0]), "L:%.*s", (int)len,
                 line);
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? -1 : 0;
}

static void
feed(struct socket_lines *l, struct seen *s, const char *text)
{
    ck_assert_int_eq(socket_lines_feed(l, text, strlen(text), collect, s),
                     0);
}

START_TEST(lines_split_at_newlines)
{
    struct socket_lines l;
    struct seen s = {.n = 0};

    socket_lines_init(&l, 16);
    feed(&l, &s, "one\ntwo\r\n\nthr");
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.lines[0], "L:one");
    ck_assert_str_eq(s.lines[1], "L:two");
    ck_assert_str_eq(s.lines[2], "L:");
    feed(&l, &s, "e");
    ck_assert_int_eq(s.n, 3);
    feed(&l, &s, "e\nfour");
    ck_assert_int_eq(s.n, 4);
    ck_assert_str_eq(s.lines[3], "L:three");
    /* End of input: the last line without its newline still counts. */
    ck_assert_int_eq(socket_lines_finish(&l, collect, &s), 0);
    ck_assert_int_eq(s.n, 5);
    ck_assert_str_eq(s.lines[4], "L:four");
    ck_assert_int_eq(socket_lines_finish(&l, collect, &s), 0);
    ck_assert_int_eq(s.n, 5);
    socket_lines_free(&l);
}
END_TEST

START_TEST(lines_byte_by_byte)
{
    struct socket_lines l;
    struct seen s = {.n = 0};
    const char *text = "{\"op\":\"x\"}\n{\"op\":\"y\"}\n";
    size_t i;

    socket_lines_init(&l, 64);
    for (i = 0; text[i] != '\0'; i++)
        ck_assert_int_eq(socket_lines_feed(&l, text + i, 1, collect, &s),
                         0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.lines[0], "L:{\"op\":\"x\"}");
    ck_assert_str_eq(s.lines[1], "L:{\"op\":\"y\"}");
    socket_lines_free(&l);
}
END_TEST

START_TEST(oversize_line_is_reported_once_and_skipped)
{
    struct socket_lines l;
    struct seen s = {.n = 0};

    socket_lines_init(&l, 8);
    /* Exactly the cap is fine; one more byte is not. */
    feed(&l, &s, "12345678\n123456789\nok\n");
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.lines[0], "L:12345678");
    ck_assert_str_eq(s.lines[1], "TOO_LONG");
    ck_assert_str_eq(s.lines[2], "L:ok");

    /* Reported as soon as it passes the cap, across chunks, then the
     * rest up to the newline is dropped. */
    s.n = 0;
    feed(&l, &s, "abcdef");
    ck_assert_int_eq(s.n, 0);
    feed(&l, &s, "ghijkl");
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.lines[0], "TOO_LONG");
    feed(&l, &s, "mnopqrstuvwxyz");
    feed(&l, &s, "0123456789");
    ck_assert_int_eq(s.n, 1);
    feed(&l, &s, "tail\nnext\n");
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.lines[1], "L:next");
    /* A discarded tail at end of input is not a line. */
    feed(&l, &s, "0123456789abc");
    ck_assert_int_eq(s.n, 3);
    ck_assert_int_eq(socket_lines_finish(&l, collect, &s), 0);
    ck_assert_int_eq(s.n, 3);
    socket_lines_free(&l);
}
END_TEST

START_TEST(emit_can_stop_the_feed)
{
    struct socket_lines l;
    struct seen s = {.n = 0, .stop_after = 2};
    const char *text = "a\nb\nc\n";

    socket_lines_init(&l, 8);
    ck_assert_int_eq(socket_lines_feed(&l, text, strlen(text), collect,
                                       &s), -1);
    ck_assert_int_eq(s.n, 2);
    socket_lines_free(&l);
}
END_TEST

/* --- the protocol ---------------------------------------------------- */

static char *dir;
static struct store *store;
static struct app app;

static void
setup(void)
{
    dir = test_tmpdir();
    store = test_store_open(dir);
    memset(&app, 0, sizeof(app));
    app.store = store;
    app.started_ms = util_now_ms();
}

static void
teardown(void)
{
    store_close(store);
    test_rmdir(dir);
}

/* Sends one line, returns the parsed answer (new). */
static json_t *
ask(const char *line)
{
    size_t len = 0;
    char *out = socket_answer(&app, line, strlen(line), "test", &len);
    json_t *doc;

    ck_assert_ptr_nonnull(out);
    ck_assert_uint_gt(len, 1);
    ck_assert_int_eq(out[len - 1], '\n');
    ck_assert_ptr_null(memchr(out, '\n', len - 1));
    doc = json_loadb(out, len, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    free(out);
    return doc;
}

static const char *
error_code(const json_t *answer)
{
    ck_assert(json_is_false(json_object_get(answer, "ok")));
    return json_string_value(json_object_get(json_object_get(answer,
                                                             "error"),
                                             "code"));
}

static void
expect_error(const char *line, const char *code, int status)
{
    json_t *a = ask(line);
    json_t *err = json_object_get(a, "error");

    ck_assert_msg(!strcmp(error_code(a), code), "%s: got %s", line,
                  error_code(a));
    ck_assert_int_eq(json_integer_value(json_object_get(err, "status")),
                     status);
    ck_assert(json_is_string(json_object_get(err, "type")));
    ck_assert(json_is_string(json_object_get(err, "title")));
    ck_assert(json_is_string(json_object_get(err, "detail")));
    json_decref(a);
}

START_TEST(envelope_errors_have_codes)
{
    size_t len;

    expect_error("{nope", "invalid_json", 400);
    expect_error("[1,2]", "invalid_request", 400);
    expect_error("42", "invalid_request", 400);
    expect_error("{\"id\":1}", "missing_op", 400);
    expect_error("{\"id\":1,\"op\":7}", "missing_op", 400);
    expect_error("{\"id\":1,\"op\":\"\"}", "missing_op", 400);
    expect_error("{\"id\":1,\"op\":\"task.nope\"}", "unknown_op", 404);
    expect_error("{\"op\":\"task.list\",\"arg\":{}}", "invalid_request",
                 400);
    expect_error("{\"id\":{},\"op\":\"task.list\"}", "invalid_request", 400);
    expect_error("{\"op\":\"task.list\",\"args\":[]}", "invalid_arguments",
                 400);
    expect_error("{\"op\":\"task.list\",\"args\":null}",
                 "invalid_arguments", 400);
    expect_error("{\"op\":\"task.get\",\"args\":{\"id\":\"1\"}}",
                 "invalid_argument", 400);
    expect_error("{\"op\":\"task.get\",\"args\":{}}", "missing_argument",
                 400);
    expect_error("{\"op\":\"task.get\",\"args\":{\"id\":1,\"x\":2}}",
                 "unknown_argument", 400);
    expect_error("{\"op\":\"task.list\",\"op\":\"task.get\"}",
                 "invalid_json", 400);
    /* Blank lines are no requests. */
    ck_assert_ptr_null(socket_answer(&app, "  \r", 3, "t", &len));
    ck_assert_ptr_null(socket_answer(&app, "", 0, "t", &len));
}
END_TEST

START_TEST(ids_are_echoed)
{
    const char *ids[] = {"1", "\"abc\"", "true", "null", "2.5", "-7"};
    size_t i;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char line[128];
        json_t *a, *want = json_loads(ids[i], JSON_DECODE_ANY, NULL);

        snprintf(line, sizeof(line), "{\"id\":%s,\"op\":\"system.health\"}",
                 ids[i]);
        a = ask(line);
        ck_assert(json_equal(json_object_get(a, "id"), want));
        ck_assert(json_is_true(json_object_get(a, "ok")));
        json_decref(a);
        json_decref(want);
    }
    /* Absent: null, on success and on error alike. */
    {
        json_t *a = ask("{\"op\":\"system.health\"}");

        ck_assert(json_is_null(json_object_get(a, "id")));
        json_decref(a);
        a = ask("{\"op\":\"nope.nope\"}");
        ck_assert(json_is_null(json_object_get(a, "id")));
        json_decref(a);
        a = ask("{\"id\":9,\"op\":\"nope.nope\"}");
        ck_assert_int_eq(json_integer_value(json_object_get(a, "id")), 9);
        json_decref(a);
    }
}
END_TEST

START_TEST(operations_and_aliases_run)
{
    json_t *a, *r;
    int64_t id;
    size_t i;

    a = ask("{\"id\":1,\"op\":\"task.create\",\"args\":{\"title\":\"t\","
            "\"priority\":1}}");
    ck_assert(json_is_true(json_object_get(a, "ok")));
    r = json_object_get(a, "result");
    id = json_integer_value(json_object_get(r, "id"));
    ck_assert_int_gt(id, 0);
    ck_assert_str_eq(json_string_value(json_object_get(r, "title")), "t");
    json_decref(a);

    /* Legacy names stand for operations. */
    a = ask("{\"id\":2,\"op\":\"Ping\"}");
    ck_assert(json_is_true(json_object_get(a, "ok")));
    ck_assert_str_eq(json_string_value(json_object_get(
        json_object_get(a, "result"), "status")), "ok");
    json_decref(a);
    a = ask("{\"op\":\"ClaimTask\",\"args\":{\"id\":1,\"agent\":\"me\"}}");
    ck_assert(json_is_true(json_object_get(a, "ok")));
    ck_assert_str_eq(json_string_value(json_object_get(
        json_object_get(a, "result"), "outcome")), "claimed");
    json_decref(a);

    /* A text answer is {"text": ...}. */
    a = ask("{\"op\":\"system.metrics\"}");
    ck_assert(json_is_true(json_object_get(a, "ok")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
        json_object_get(a, "result"), "text")), "colibri_tasks"));
    json_decref(a);

    /* The overview counts the board. */
    a = ask("{\"op\":\"Status\"}");
    ck_assert(json_is_true(json_object_get(a, "ok")));
    r = json_object_get(json_object_get(a, "result"), "tasks");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "total")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(r, "by_status"), "in_progress")), 1);
    json_decref(a);

    /* A 204 answers null. */
    a = ask("{\"op\":\"task.release\",\"args\":{\"id\":1,\"agent\":\"me\"}}");
    ck_assert(json_is_true(json_object_get(a, "ok")));
    json_decref(a);
    a = ask("{\"op\":\"DeleteTask\",\"args\":{\"id\":1}}");
    ck_assert(json_is_true(json_object_get(a, "ok")));
    ck_assert(json_is_null(json_object_get(a, "result")));
    json_decref(a);
    a = ask("{\"op\":\"task.get\",\"args\":{\"id\":1}}");
    ck_assert_str_eq(error_code(a), "task_not_found");
    json_decref(a);

    /* Without a listener to stream, an operation that streams runs its
     * handler, which refuses and names what does stream. */
    for (i = 0; i < ops_count; i++) {
        char line[160];
        const char *detail;

        if (!(ops_table[i].flags & OP_STREAM))
            continue;
        snprintf(line, sizeof(line), "{\"op\":\"%s\"}", ops_table[i].name);
        a = ask(line);
        ck_assert_str_eq(error_code(a), "stream_only");
        detail = json_string_value(json_object_get(
            json_object_get(a, "error"), "detail"));
        ck_assert_msg(strstr(detail, "events.subscribe") != NULL &&
                          strstr(detail, "/api/v1/events") != NULL,
                      "%s", detail);
        json_decref(a);
    }
}
END_TEST

/* socket_answer_stream leaves a valid events.subscribe to the listener;
 * bad arguments are answered like any request's. */
START_TEST(subscribe_is_left_to_the_listener)
{
    struct socket_stream_request req;
    const char *line = "{\"id\":\"s\",\"op\":\"events.subscribe\","
                       "\"args\":{\"types\":\"task.*\","
                       "\"last_event_id\":3}}";
    size_t len = 99;
    char *out;
    json_t *a;

    out = socket_answer_stream(&app, line, strlen(line), "t", &len, &req);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_eq(req.op, ops_find("events.subscribe"));
    ck_assert_str_eq(json_string_value(req.id), "s");
    ck_assert_int_eq(json_integer_value(json_object_get(req.args,
                                                        "last_event_id")),
                     3);
    socket_stream_request_clear(&req);
    ck_assert_ptr_null(req.op);

    line = "{\"op\":\"events.subscribe\",\"args\":{\"bogus\":1}}";
    out = socket_answer_stream(&app, line, strlen(line), "t", &len, &req);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_null(req.op);
    a = json_loads(out, 0, NULL);
    ck_assert_str_eq(error_code(a), "unknown_argument");
    json_decref(a);
    free(out);

    /* events.stream is not the socket's stream: its handler refuses. */
    line = "{\"op\":\"events.stream\"}";
    out = socket_answer_stream(&app, line, strlen(line), "t", &len, &req);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_null(req.op);
    a = json_loads(out, 0, NULL);
    ck_assert_str_eq(error_code(a), "stream_only");
    json_decref(a);
    free(out);
}
END_TEST

START_TEST(alias_table_resolves)
{
    size_t i;

    ck_assert_str_eq(ops_find_alias("Ping"), "system.health");
    ck_assert_str_eq(ops_find_alias("SpawnAgent"), "agent.spawn");
    ck_assert_ptr_null(ops_find_alias("ping"));
    ck_assert_ptr_null(ops_find_alias("task.list"));
    ck_assert_ptr_eq(ops_resolve("task.list"), ops_find("task.list"));
    ck_assert_ptr_eq(ops_resolve("ListTasks"), ops_find("task.list"));
    ck_assert_ptr_null(ops_resolve("NoSuchThing"));
    /* An alias whose operation is not in the table resolves to nothing
     * (and the socket then says unknown_op); the others to their op. */
    for (i = 0; i < ops_alias_count; i++) {
        ck_assert_ptr_eq(ops_resolve(ops_aliases[i].legacy),
                         ops_find(ops_aliases[i].name));
        ck_assert_ptr_null(strchr(ops_aliases[i].legacy, '.'));
        ck_assert_ptr_nonnull(strchr(ops_aliases[i].name, '.'));
    }
}
END_TEST

START_TEST(error_line_stands_alone)
{
    size_t len;
    char *line = socket_error_line(413, "line_too_long", &len, "x %d", 5);
    json_t *doc = json_loads(line, 0, NULL);

    ck_assert_ptr_nonnull(doc);
    ck_assert(json_is_null(json_object_get(doc, "id")));
    ck_assert_str_eq(error_code(doc), "line_too_long");
    ck_assert_str_eq(json_string_value(json_object_get(
        json_object_get(doc, "error"), "detail")), "x 5");
    json_decref(doc);
    free(line);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("socket");
    TCase *framing = tcase_create("framing");
    TCase *proto = tcase_create("protocol");
    SRunner *sr;
    int failed;

    tcase_add_test(framing, lines_split_at_newlines);
    tcase_add_test(framing, lines_byte_by_byte);
    tcase_add_test(framing, oversize_line_is_reported_once_and_skipped);
    tcase_add_test(framing, emit_can_stop_the_feed);
    tcase_add_test(framing, alias_table_resolves);
    tcase_add_test(framing, error_line_stands_alone);
    suite_add_tcase(s, framing);
    tcase_add_checked_fixture(proto, setup, teardown);
    tcase_add_test(proto, envelope_errors_have_codes);
    tcase_add_test(proto, ids_are_echoed);
    tcase_add_test(proto, operations_and_aliases_run);
    tcase_add_test(proto, subscribe_is_left_to_the_listener);
    suite_add_tcase(s, proto);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
