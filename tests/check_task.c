/*
 * check_task.c - the task board's rules in the store: claim races (one
 * winner), lease expiry and steal, heartbeat and completion after a
 * steal, dependencies and cycles, versions, the reaper.
 */
#include "autoconf.h"

#include <pthread.h>

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

static int64_t
create(const char *json)
{
    struct problem err = {0};
    json_t *fields = json_loads(json, 0, NULL);
    json_t *task = NULL;
    int64_t id;

    ck_assert_ptr_nonnull(fields);
    if (store_task_create(st, fields, &task, &err) < 0)
        ck_abort_msg("create %s: %s", json, err.detail);
    id = json_integer_value(json_object_get(task, "id"));
    json_decref(fields);
    json_decref(task);
    return id;
}

/* Claims and returns the outcome name ("denied" for a refusal) in a
 * per-thread buffer. */
static const char *
claim(int64_t id, const char *agent, int lease, int64_t *attempt)
{
    static _Thread_local char outcome[32];
    struct problem err = {0};
    json_t *res = NULL;

    if (store_task_claim(st, id, agent, lease, &res, &err) < 0) {
        snprintf(outcome, sizeof(outcome), "%s",
                 err.status == 409 ? json_string_value(json_object_get(
                     err.extra, "outcome")) : err.code);
        problem_clear(&err);
        return outcome;
    }
    snprintf(outcome, sizeof(outcome), "%s",
             json_string_value(json_object_get(res, "outcome")));
    if (attempt)
        *attempt = json_integer_value(json_object_get(
            json_object_get(res, "task"), "attempt"));
    json_decref(res);
    return outcome;
}

static const char *
status_of(int64_t id)
{
    static char status[32];
    struct problem err = {0};
    json_t *task = NULL;

    ck_assert_int_eq(store_task_get(st, id, &task, &err), 0);
    snprintf(status, sizeof(status), "%s",
             json_string_value(json_object_get(task, "status")));
    json_decref(task);
    return status;
}

/* --- races ----------------------------------------------------------- */

struct racer {
    int64_t id;                 /* 0: claim_next */
    char agent[32];
    int wins;
    int64_t claimed[64];
    pthread_barrier_t *start;
};

static void *
race_one(void *p)
{
    struct racer *r = p;

    pthread_barrier_wait(r->start);
    if (!strcmp(claim(r->id, r->agent, 60, NULL), "claimed"))
        r->wins++;
    return NULL;
}

START_TEST(claim_race_has_one_winner)
{
    enum { N = 32 };
    pthread_t th[N];
    struct racer r[N];
    pthread_barrier_t start;
    int64_t id = create("{\"title\":\"contended\"}");
    int i, wins = 0, round;

    for (round = 0; round < 5; round++) {
        if (round > 0) {
            id = create("{\"title\":\"contended again\"}");
        }
        pthread_barrier_init(&start, NULL, N);
        for (i = 0; i < N; i++) {
            memset(&r[i], 0, sizeof(r[i]));
            r[i].id = id;
            r[i].start = &start;
            snprintf(r[i].agent, sizeof(r[i].agent), "agent-%d", i);
            pthread_create(&th[i], NULL, race_one, &r[i]);
        }
        wins = 0;
        for (i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            wins += r[i].wins;
        }
        pthread_barrier_destroy(&start);
        ck_assert_int_eq(wins, 1);
        ck_assert_str_eq(status_of(id), "in_progress");
    }
}
END_TEST

static void *
race_next(void *p)
{
    struct racer *r = p;
    struct problem err = {0};

    pthread_barrier_wait(r->start);
    for (;;) {
        json_t *res = NULL;

        if (store_task_claim(st, 0, r->agent, 60, &res, &err) < 0) {
            ck_assert_str_eq(err.code, "no_ready_task");
            problem_clear(&err);
            break;
        }
        ck_assert_int_lt(r->wins, 64);
        r->claimed[r->wins++] = json_integer_value(json_object_get(
            json_object_get(res, "task"), "id"));
        json_decref(res);
    }
    return NULL;
}

START_TEST(claim_next_race_claims_each_task_once)
{
    enum { THREADS = 16, TASKS = 200 };
    pthread_t th[THREADS];
    struct racer *r = xcalloc(THREADS, sizeof(*r));
    pthread_barrier_t start;
    int seen[TASKS + 1];
    int i, j, total = 0;

    for (i = 0; i < TASKS; i++)
        create("{\"title\":\"work\"}");
    memset(seen, 0, sizeof(seen));
    pthread_barrier_init(&start, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        r[i].start = &start;
        snprintf(r[i].agent, sizeof(r[i].agent), "worker-%d", i);
        pthread_create(&th[i], NULL, race_next, &r[i]);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        for (j = 0; j < r[i].wins; j++) {
            ck_assert_int_eq(seen[r[i].claimed[j]], 0);
            seen[r[i].claimed[j]] = 1;
        }
        total += r[i].wins;
    }
    ck_assert_int_eq(total, TASKS);
    pthread_barrier_destroy(&start);
    free(r);
}
END_TEST

/* --- leases ---------------------------------------------------------- */

START_TEST(lease_expiry_steal_and_late_holder)
{
    struct problem err = {0};
    json_t *task = NULL, *result;
    int64_t id = create("{\"title\":\"leased\"}");
    int64_t attempt = 0;

    ck_assert_str_eq(claim(id, "alice", 10, &attempt), "claimed");
    ck_assert_int_eq(attempt, 1);
    ck_assert_str_eq(claim(id, "alice", 10, &attempt), "renewed");
    ck_assert_int_eq(attempt, 1);
    ck_assert_str_eq(claim(id, "bob", 10, NULL), "denied");

    /* Heartbeat extends the lease without changing the version. */
    test_clock_advance(8000);
    ck_assert_int_eq(store_task_heartbeat(st, id, "alice", 10, 1, &task,
                                          &err), 0);
    json_decref(task);
    test_clock_advance(8000);
    ck_assert_str_eq(claim(id, "bob", 10, NULL), "denied");

    /* Past the lease, another agent takes it over. */
    test_clock_advance(3000);
    ck_assert_str_eq(claim(id, "bob", 10, &attempt), "stolen");
    ck_assert_int_eq(attempt, 2);

    /* The replaced holder can no longer heartbeat, release or finish. */
    ck_assert_int_eq(store_task_heartbeat(st, id, "alice", 10, -1, &task,
                                          &err), -1);
    ck_assert_str_eq(err.code, "lease_lost");
    problem_clear(&err);
    ck_assert_int_eq(store_task_complete(st, id, "alice", 1, "done", NULL,
                                         &task, &err), -1);
    ck_assert_str_eq(err.code, "lease_lost");
    problem_clear(&err);
    ck_assert_int_eq(store_task_release(st, id, "alice", -1, &task, &err),
                     -1);
    problem_clear(&err);
    ck_assert_str_eq(status_of(id), "in_progress");

    /* The new holder's finish with a stale attempt is refused too. */
    ck_assert_int_eq(store_task_complete(st, id, "bob", 1, "done", NULL,
                                         &task, &err), -1);
    ck_assert_str_eq(err.code, "lease_lost");
    problem_clear(&err);
    result = json_pack("{s:i}", "n", 1);
    ck_assert_int_eq(store_task_complete(st, id, "bob", 2, "done", result,
                                         &task, &err), 0);
    json_decref(result);
    ck_assert_str_eq(json_string_value(json_object_get(task, "status")),
                     "done");
    ck_assert(json_is_null(json_object_get(task, "lease")));
    ck_assert(json_is_string(json_object_get(task, "closed_at")));
    json_decref(task);
    ck_assert_str_eq(claim(id, "carol", 10, NULL), "denied");
}
END_TEST

START_TEST(release_returns_to_todo)
{
    struct problem err = {0};
    json_t *task = NULL;
    int64_t id = create("{\"title\":\"released\"}");

    ck_assert_str_eq(claim(id, "alice", 10, NULL), "claimed");
    ck_assert_int_eq(store_task_release(st, id, "alice", 1, &task, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(task, "status")),
                     "todo");
    ck_assert(json_is_null(json_object_get(task, "assignee")));
    json_decref(task);
    ck_assert_str_eq(claim(id, "bob", 10, NULL), "claimed");
}
END_TEST

START_TEST(reaper_returns_expired_leases)
{
    struct problem err = {0};
    int64_t a = create("{\"title\":\"a\"}");
    int64_t b = create("{\"title\":\"b\"}");
    int count = -1;

    ck_assert_str_eq(claim(a, "alice", 5, NULL), "claimed");
    ck_assert_str_eq(claim(b, "bob", 60, NULL), "claimed");
    ck_assert_int_eq(store_task_reap(st, &count, &err), 0);
    ck_assert_int_eq(count, 0);
    test_clock_advance(6000);
    ck_assert_int_eq(store_task_reap(st, &count, &err), 0);
    ck_assert_int_eq(count, 1);
    ck_assert_str_eq(status_of(a), "todo");
    ck_assert_str_eq(status_of(b), "in_progress");
    /* The old holder's completion is refused after the reaper ran. */
    {
        json_t *task = NULL;

        ck_assert_int_eq(store_task_complete(st, a, "alice", -1, "done",
                                             NULL, &task, &err), -1);
        ck_assert_str_eq(err.code, "lease_lost");
        problem_clear(&err);
    }
}
END_TEST

/* --- dependencies ---------------------------------------------------- */

START_TEST(dependencies_gate_readiness_and_refuse_cycles)
{
    struct problem err = {0};
    json_t *task = NULL;
    int64_t a = create("{\"title\":\"a\"}");
    int64_t b = create("{\"title\":\"b\"}");
    int64_t c = create("{\"title\":\"c\"}");

    /* c -> b -> a */
    ck_assert_int_eq(store_task_dep_add(st, b, a, &task, &err), 0);
    json_decref(task);
    ck_assert_int_eq(store_task_dep_add(st, c, b, &task, &err), 0);
    ck_assert(json_is_false(json_object_get(task, "ready")));
    json_decref(task);

    ck_assert_int_eq(store_task_dep_add(st, a, c, &task, &err), -1);
    ck_assert_str_eq(err.code, "dependency_cycle");
    problem_clear(&err);
    ck_assert_int_eq(store_task_dep_add(st, a, a, &task, &err), -1);
    ck_assert_str_eq(err.code, "dependency_cycle");
    problem_clear(&err);
    ck_assert_int_eq(store_task_dep_add(st, a, 999, &task, &err), -1);
    ck_assert_str_eq(err.code, "dependency_not_found");
    problem_clear(&err);

    ck_assert_str_eq(claim(b, "x", 10, NULL), "denied");
    ck_assert_str_eq(claim(a, "x", 10, NULL), "claimed");
    ck_assert_int_eq(store_task_complete(st, a, "x", -1, "done", NULL,
                                         &task, &err), 0);
    json_decref(task);
    ck_assert_str_eq(claim(b, "x", 10, NULL), "claimed");

    /* Deleting a task others depend on is refused. */
    ck_assert_int_eq(store_task_delete(st, b, -1, 0, &err), -1);
    ck_assert_str_eq(err.code, "task_has_dependents");
    problem_clear(&err);
    ck_assert_int_eq(store_task_dep_remove(st, c, b, &task, &err), 0);
    ck_assert(json_is_true(json_object_get(task, "ready")));
    json_decref(task);
    ck_assert_int_eq(store_task_dep_remove(st, c, b, &task, &err), -1);
    ck_assert_str_eq(err.code, "not_a_dependency");
    problem_clear(&err);
}
END_TEST

/* --- versions -------------------------------------------------------- */

START_TEST(stale_version_changes_nothing)
{
    struct problem err = {0};
    json_t *task = NULL, *changes;
    int64_t id = create("{\"title\":\"versioned\"}");

    changes = json_pack("{s:s}", "title", "v2");
    ck_assert_int_eq(store_task_update(st, id, changes, 1, 0, &task, &err),
                     0);
    ck_assert_int_eq(json_integer_value(json_object_get(task, "version")),
                     2);
    json_decref(task);
    json_decref(changes);

    changes = json_pack("{s:s}", "title", "lost update");
    ck_assert_int_eq(store_task_update(st, id, changes, 1, 0, &task, &err),
                     -1);
    ck_assert_int_eq(err.status, 409);
    ck_assert_str_eq(err.code, "version_conflict");
    problem_clear(&err);
    ck_assert_int_eq(store_task_update(st, id, changes, 1, 1, &task, &err),
                     -1);
    ck_assert_int_eq(err.status, 412);
    problem_clear(&err);
    json_decref(changes);
    ck_assert_int_eq(store_task_get(st, id, &task, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(task, "title")),
                     "v2");
    json_decref(task);

    changes = json_pack("{s:s}", "status", "in_progress");
    ck_assert_int_eq(store_task_update(st, id, changes, 2, 0, &task, &err),
                     -1);
    ck_assert_str_eq(err.code, "invalid_status");
    problem_clear(&err);
    json_decref(changes);

    ck_assert_int_eq(store_task_delete(st, id, 1, 0, &err), -1);
    ck_assert_str_eq(err.code, "version_conflict");
    problem_clear(&err);
    ck_assert_int_eq(store_task_delete(st, id, 2, 0, &err), 0);
    ck_assert_int_eq(store_task_get(st, id, &task, &err), -1);
    ck_assert_int_eq(err.status, 404);
    problem_clear(&err);
}
END_TEST

START_TEST(update_out_of_in_progress_ends_lease)
{
    struct problem err = {0};
    json_t *task = NULL, *changes;
    int64_t id = create("{\"title\":\"taken back\"}");

    ck_assert_str_eq(claim(id, "alice", 60, NULL), "claimed");
    changes = json_pack("{s:s}", "status", "blocked");
    ck_assert_int_eq(store_task_update(st, id, changes, 2, 0, &task, &err),
                     0);
    ck_assert(json_is_null(json_object_get(task, "lease")));
    json_decref(task);
    json_decref(changes);
    ck_assert_int_eq(store_task_complete(st, id, "alice", 1, "done", NULL,
                                         &task, &err), -1);
    ck_assert_str_eq(err.code, "lease_lost");
    problem_clear(&err);
}
END_TEST

START_TEST(ready_order_and_list_pages)
{
    struct problem err = {0};
    struct task_filter f;
    json_t *page = NULL;
    int i;

    create("{\"title\":\"low\",\"priority\":4}");
    create("{\"title\":\"high\",\"priority\":0,\"labels\":[\"x\"]}");
    create("{\"title\":\"mid\",\"priority\":2}");
    create("{\"title\":\"high later\",\"priority\":0}");
    ck_assert_int_eq(store_task_ready(st, 10, NULL, &page, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(page, "items"), 0), "title")), "high");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(page, "items"), 1), "title")), "high later");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(page, "items"), 3), "title")), "low");
    json_decref(page);

    memset(&f, 0, sizeof(f));
    f.priority = -1;
    f.limit = 3;
    ck_assert_int_eq(store_task_list(st, &f, &page, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(page, "next")), "3");
    json_decref(page);
    f.after = 3;
    ck_assert_int_eq(store_task_list(st, &f, &page, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 1);
    ck_assert(json_is_null(json_object_get(page, "next")));
    json_decref(page);

    memset(&f, 0, sizeof(f));
    f.priority = -1;
    f.limit = 10;
    f.label = "x";
    ck_assert_int_eq(store_task_list(st, &f, &page, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 1);
    json_decref(page);
    f.label = NULL;
    f.priority = 0;
    ck_assert_int_eq(store_task_list(st, &f, &page, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 2);
    json_decref(page);
    f.priority = -1;
    f.statuses = "done,cancelled";
    ck_assert_int_eq(store_task_list(st, &f, &page, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "items")), 0);
    json_decref(page);
    for (i = 0; i < 2; i++)
        ck_assert_str_eq(claim(0, "w", 10, NULL), "claimed");
    ck_assert_str_eq(status_of(2), "in_progress");
    ck_assert_str_eq(status_of(4), "in_progress");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("task");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, claim_race_has_one_winner);
    tcase_add_test(tc, claim_next_race_claims_each_task_once);
    tcase_add_test(tc, lease_expiry_steal_and_late_holder);
    tcase_add_test(tc, release_returns_to_todo);
    tcase_add_test(tc, reaper_returns_expired_leases);
    tcase_add_test(tc, dependencies_gate_readiness_and_refuse_cycles);
    tcase_add_test(tc, stale_version_changes_nothing);
    tcase_add_test(tc, update_out_of_in_progress_ends_lease);
    tcase_add_test(tc, ready_order_and_list_pages);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
