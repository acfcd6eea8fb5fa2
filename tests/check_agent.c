/*
 * check_agent.c - the agent registry in the store: register, update with
 * versions, liveness derived from last_seen, skill-aware routing of
 * tasks, and removal releasing leases.
 */
#include "autoconf.h"

#include "testutil.h"

static char *dir;
static struct store *st;

static void
setup(void)
{
    dir = test_tmpdir();
    st = test_store_open(dir);
}

static void
teardown(void)
{
    store_close(st);
    test_rmdir(dir);
}

static json_t *
reg(const char *json)
{
    struct problem err = {0};
    json_t *fields = json_loads(json, 0, NULL);
    json_t *agent = NULL;

    ck_assert_ptr_nonnull(fields);
    if (store_agent_register(st, fields, &agent, &err) < 0)
        ck_abort_msg("register %s: %s", json, err.detail);
    json_decref(fields);
    return agent;
}

static int64_t
task(const char *json)
{
    struct problem err = {0};
    json_t *fields = json_loads(json, 0, NULL);
    json_t *t = NULL;
    int64_t id;

    ck_assert_int_eq(store_task_create(st, fields, &t, &err), 0);
    id = json_integer_value(json_object_get(t, "id"));
    json_decref(fields);
    json_decref(t);
    return id;
}

START_TEST(register_get_and_conflicts)
{
    struct problem err = {0};
    json_t *a = reg("{\"id\":\"pi-1\",\"kind\":\"pi\",\"skills\":[\"git\"]}");
    json_t *fields, *b = NULL;

    ck_assert_str_eq(json_string_value(json_object_get(a, "state")), "idle");
    ck_assert(json_is_true(json_object_get(a, "online")));
    ck_assert(json_is_null(json_object_get(a, "current_task")));
    json_decref(a);

    fields = json_pack("{s:s}", "id", "pi-1");
    ck_assert_int_eq(store_agent_register(st, fields, &b, &err), -1);
    ck_assert_str_eq(err.code, "agent_exists");
    problem_clear(&err);
    json_decref(fields);

    /* Without an id one is made from the kind. */
    a = reg("{\"kind\":\"smoke\"}");
    ck_assert_int_eq(strncmp(json_string_value(json_object_get(a, "id")),
                             "smoke-", 6), 0);
    json_decref(a);

    ck_assert_int_eq(store_agent_get(st, "nobody", &b, &err), -1);
    ck_assert_int_eq(err.status, 404);
    ck_assert_str_eq(err.code, "agent_not_found");
    problem_clear(&err);
}
END_TEST

START_TEST(online_is_derived_from_last_seen)
{
    struct problem err = {0};
    struct agent_filter f;
    json_t *a = reg("{\"id\":\"quiet\",\"timeout_seconds\":10}");
    json_t *page = NULL;

    json_decref(a);
    test_clock_advance(11000);
    ck_assert_int_eq(store_agent_get(st, "quiet", &a, &err), 0);
    ck_assert(json_is_false(json_object_get(a, "online")));
    json_decref(a);

    memset(&f, 0, sizeof(f));
    f.online = 1;
    f.limit = 10;
    ck_assert_int_eq(store_agent_list(st, &f, &page, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 0);
    json_decref(page);

    ck_assert_int_eq(store_agent_heartbeat(st, "quiet", &a, &err), 0);
    ck_assert(json_is_true(json_object_get(a, "online")));
    json_decref(a);
    ck_assert_int_eq(store_agent_list(st, &f, &page, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 1);
    json_decref(page);
}
END_TEST

START_TEST(update_checks_version)
{
    struct problem err = {0};
    json_t *a = reg("{\"id\":\"v\"}");
    json_t *changes = json_pack("{s:[s]}", "skills", "rust");

    json_decref(a);
    ck_assert_int_eq(store_agent_update(st, "v", changes, 1, 0, &a, &err),
                     0);
    ck_assert_int_eq(json_integer_value(json_object_get(a, "version")), 2);
    json_decref(a);
    ck_assert_int_eq(store_agent_update(st, "v", changes, 1, 1, &a, &err),
                     -1);
    ck_assert_int_eq(err.status, 412);
    problem_clear(&err);
    json_decref(changes);
}
END_TEST

START_TEST(routing_follows_skills)
{
    struct problem err = {0};
    json_t *res = NULL, *page = NULL;
    int64_t rust, plain;

    json_decref(reg("{\"id\":\"rusty\",\"skills\":[\"rust\",\"git\"]}"));
    json_decref(reg("{\"id\":\"plain\"}"));
    rust = task("{\"title\":\"r\",\"priority\":0,"
                "\"requires_skills\":[\"rust\",\"git\"]}");
    plain = task("{\"title\":\"p\",\"priority\":1}");

    /* The agent without the skill never sees the task ... */
    ck_assert_int_eq(store_task_ready(st, 10, "plain", &page, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
        json_object_get(page, "items"), 0), "id")), plain);
    json_decref(page);
    /* ... nor claims it, directly or as the next ready one. */
    ck_assert_int_eq(store_task_claim(st, rust, "plain", 60, &res, &err),
                     -1);
    ck_assert_str_eq(err.code, "claim_denied");
    problem_clear(&err);
    ck_assert_int_eq(store_task_claim(st, rust, "stranger", 60, &res, &err),
                     -1);
    problem_clear(&err);
    ck_assert_int_eq(store_task_claim(st, 0, "plain", 60, &res, &err), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(res, "task"), "id")), plain);
    json_decref(res);
    ck_assert_int_eq(store_task_claim(st, 0, "plain", 60, &res, &err), -1);
    ck_assert_str_eq(err.code, "no_ready_task");
    problem_clear(&err);

    /* The agent with the skills sees it first (priority 0) and gets it. */
    ck_assert_int_eq(store_task_ready(st, 10, "rusty", &page, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 1);
    json_decref(page);
    ck_assert_int_eq(store_task_claim(st, 0, "rusty", 60, &res, &err), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(res, "task"), "id")), rust);
    json_decref(res);
    /* Without an agent, listing is not filtered. */
    ck_assert_int_eq(store_task_ready(st, 10, NULL, &page, &err), 0);
    json_decref(page);
}
END_TEST

START_TEST(remove_releases_leases)
{
    struct problem err = {0};
    json_t *res = NULL, *a = NULL, *t = NULL;
    int64_t id;

    json_decref(reg("{\"id\":\"leaver\"}"));
    id = task("{\"title\":\"held\"}");
    ck_assert_int_eq(store_task_claim(st, id, "leaver", 600, &res, &err), 0);
    json_decref(res);
    ck_assert_int_eq(store_agent_get(st, "leaver", &a, &err), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(a, "current_task")),
                     id);
    json_decref(a);
    ck_assert_int_eq(store_agent_remove(st, "leaver", 7, 0, &err), -1);
    ck_assert_str_eq(err.code, "version_conflict");
    problem_clear(&err);
    ck_assert_int_eq(store_agent_remove(st, "leaver", -1, 0, &err), 0);
    ck_assert_int_eq(store_task_get(st, id, &t, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(t, "status")),
                     "todo");
    ck_assert(json_is_null(json_object_get(t, "lease")));
    json_decref(t);
    ck_assert_int_eq(store_agent_get(st, "leaver", &a, &err), -1);
    problem_clear(&err);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("agent");
    TCase *tc = tcase_create("agent");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, register_get_and_conflicts);
    tcase_add_test(tc, online_is_derived_from_last_seen);
    tcase_add_test(tc, update_checks_version);
    tcase_add_test(tc, routing_follows_skills);
    tcase_add_test(tc, remove_releases_leases);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
