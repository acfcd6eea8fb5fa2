/*
 * check_probe.c - probe.c (colibri-probe's arithmetic, usage parsing,
 * prefix and retry schedule) and runtime.c's pure parts (PATH lookup,
 * jls parsing, manifest checks, the manifest's shape).
 */
#include "autoconf.h"

#include <math.h>
#include <sys/stat.h>

#include "src/probe.h"
#include "src/runtime.h"
#include "testutil.h"

static int
parse(const char *body, struct probe_usage *u)
{
    char *why = NULL;
    int rc = probe_parse_usage(body, strlen(body), u, &why);

    if (rc == PROBE_USAGE_OK)
        ck_assert_ptr_null(why);
    else
        ck_assert_ptr_nonnull(why);
    free(why);
    return rc;
}

START_TEST(usage_deepseek_fields)
{
    struct probe_usage u;

    ck_assert_int_eq(parse("{\"usage\":{\"prompt_tokens\":1300,"
                           "\"completion_tokens\":2,"
                           "\"prompt_cache_hit_tokens\":1280,"
                           "\"prompt_cache_miss_tokens\":20}}", &u),
                     PROBE_USAGE_OK);
    ck_assert_int_eq(u.prompt, 1300);
    ck_assert_int_eq(u.hit, 1280);
    ck_assert_int_eq(u.miss, 20);
    ck_assert_int_eq(u.output, 2);
    /* Without prompt_tokens the total is hit + miss. */
    ck_assert_int_eq(parse("{\"usage\":{\"completion_tokens\":0,"
                           "\"prompt_cache_hit_tokens\":0,"
                           "\"prompt_cache_miss_tokens\":7}}", &u),
                     PROBE_USAGE_OK);
    ck_assert_int_eq(u.prompt, 7);
}
END_TEST

START_TEST(usage_openai_fields)
{
    struct probe_usage u;

    ck_assert_int_eq(parse("{\"usage\":{\"prompt_tokens\":2000,"
                           "\"completion_tokens\":5,"
                           "\"prompt_tokens_details\":"
                           "{\"cached_tokens\":1920}}}", &u),
                     PROBE_USAGE_OK);
    ck_assert_int_eq(u.hit, 1920);
    ck_assert_int_eq(u.miss, 80);
    /* No details: all miss. */
    ck_assert_int_eq(parse("{\"usage\":{\"prompt_tokens\":10,"
                           "\"completion_tokens\":1}}", &u),
                     PROBE_USAGE_OK);
    ck_assert_int_eq(u.hit, 0);
    ck_assert_int_eq(u.miss, 10);
}
END_TEST

START_TEST(usage_errors)
{
    struct probe_usage u;

    ck_assert_int_eq(parse("", &u), PROBE_USAGE_BAD_JSON);
    ck_assert_int_eq(parse("{\"usage\":", &u), PROBE_USAGE_BAD_JSON);
    ck_assert_int_eq(parse("[1,2]", &u), PROBE_USAGE_BAD_JSON);
    ck_assert_int_eq(parse("{}", &u), PROBE_USAGE_MISSING);
    ck_assert_int_eq(parse("{\"usage\":{}}", &u), PROBE_USAGE_MISSING);
    ck_assert_int_eq(parse("{\"usage\":{\"completion_tokens\":1}}", &u),
                     PROBE_USAGE_MISSING);
    ck_assert_int_eq(parse("{\"usage\":{\"completion_tokens\":1,"
                           "\"prompt_cache_hit_tokens\":-1,"
                           "\"prompt_cache_miss_tokens\":1}}", &u),
                     PROBE_USAGE_MISSING);
    ck_assert_int_eq(parse("{\"usage\":{\"completion_tokens\":1,"
                           "\"prompt_cache_hit_tokens\":\"5\","
                           "\"prompt_cache_miss_tokens\":1}}", &u),
                     PROBE_USAGE_MISSING);
    /* Only one of the pair, and no prompt_tokens to fall back on. */
    ck_assert_int_eq(parse("{\"usage\":{\"completion_tokens\":1,"
                           "\"prompt_cache_hit_tokens\":5}}", &u),
                     PROBE_USAGE_MISSING);
    /* Hit + miss beyond the prompt. */
    ck_assert_int_eq(parse("{\"usage\":{\"prompt_tokens\":10,"
                           "\"completion_tokens\":1,"
                           "\"prompt_cache_hit_tokens\":8,"
                           "\"prompt_cache_miss_tokens\":8}}", &u),
                     PROBE_USAGE_MISSING);
    ck_assert_int_eq(parse("{\"usage\":{\"prompt_tokens\":10,"
                           "\"completion_tokens\":1,"
                           "\"prompt_tokens_details\":"
                           "{\"cached_tokens\":11}}}", &u),
                     PROBE_USAGE_MISSING);
}
END_TEST

START_TEST(ratio_and_cost)
{
    struct probe_prices p = {1, 0.27, 0.07, 1.10};
    struct probe_prices none = {0, 0.27, 0.07, 1.10};
    struct probe_usage u = {1300, 1280, 20, 2};
    struct probe_usage first = {1300, 0, 1300, 2};
    struct probe_totals t = {0};

    ck_assert(fabs(probe_hit_ratio(1280, 20) - 1280.0 / 1300.0) < 1e-15);
    ck_assert(probe_hit_ratio(0, 0) == 0.0);
    ck_assert(probe_hit_ratio(0, 5) == 0.0);
    ck_assert(probe_hit_ratio(5, 0) == 1.0);
    /* 20 * 0.27 + 1280 * 0.07 + 2 * 1.10 = 5.4 + 89.6 + 2.2 = 97.2 */
    ck_assert(fabs(probe_cost(&p, &u) - 97.2e-6) < 1e-15);
    ck_assert(fabs(probe_uncached_cost(&p, &u) -
                   (1300 * 0.27 + 2.2) / 1e6) < 1e-15);
    ck_assert(probe_cost(&none, &u) == 0.0);
    ck_assert(probe_uncached_cost(&none, &u) == 0.0);
    probe_totals_add(&t, &p, &first);
    probe_totals_add(&t, &p, &u);
    ck_assert_int_eq(t.requests, 2);
    ck_assert_int_eq(t.hit, 1280);
    ck_assert_int_eq(t.miss, 1320);
    ck_assert_int_eq(t.output, 4);
    ck_assert(fabs(t.cost - (1300 * 0.27 + 2.2 + 97.2) / 1e6) < 1e-15);
    ck_assert(fabs(t.uncached_cost - 2 * (1300 * 0.27 + 2.2) / 1e6) <
              1e-15);
}
END_TEST

START_TEST(prefix_is_deterministic)
{
    char *a = probe_default_prefix(8192), *b = probe_default_prefix(8192);
    char *small = probe_default_prefix(10);
    json_t *body;
    const char *user1, *user2;
    json_t *body2;

    ck_assert_str_eq(a, b);
    ck_assert_uint_ge(strlen(a), 8192);
    ck_assert_uint_lt(strlen(a), 8192 + 200);
    ck_assert_uint_ge(strlen(small), 512);
    /* A prefix of a longer one: the same text, cut later. */
    ck_assert(!strncmp(small, a, strlen(small)));
    body = probe_request_body("deepseek-chat", a, 1, 3, 8);
    body2 = probe_request_body("deepseek-chat", a, 2, 3, 8);
    ck_assert_str_eq(json_string_value(json_object_get(body, "model")),
                     "deepseek-chat");
    ck_assert_int_eq(json_integer_value(json_object_get(body,
                                                        "max_tokens")), 8);
    ck_assert(json_is_false(json_object_get(body, "stream")));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(body, "messages"), 0), "content")), a);
    user1 = json_string_value(json_object_get(json_array_get(
        json_object_get(body, "messages"), 1), "content"));
    user2 = json_string_value(json_object_get(json_array_get(
        json_object_get(body2, "messages"), 1), "content"));
    ck_assert_str_ne(user1, user2);
    json_decref(body);
    json_decref(body2);
    free(a);
    free(b);
    free(small);
}
END_TEST

START_TEST(retry_schedule)
{
    ck_assert(probe_status_retryable(429));
    ck_assert(probe_status_retryable(500));
    ck_assert(probe_status_retryable(503));
    ck_assert(!probe_status_retryable(401));
    ck_assert(!probe_status_retryable(400));
    ck_assert(!probe_status_retryable(501));
    ck_assert_int_eq(probe_retry_delay_ms(0, NULL, 500, 30000), 500);
    ck_assert_int_eq(probe_retry_delay_ms(1, NULL, 500, 30000), 1000);
    ck_assert_int_eq(probe_retry_delay_ms(3, NULL, 500, 30000), 4000);
    ck_assert_int_eq(probe_retry_delay_ms(20, NULL, 500, 30000), 30000);
    ck_assert_int_eq(probe_retry_delay_ms(0, "2", 500, 30000), 2000);
    ck_assert_int_eq(probe_retry_delay_ms(5, " 0 ", 500, 30000), 0);
    ck_assert_int_eq(probe_retry_delay_ms(0, "1.5", 500, 30000), 1500);
    ck_assert_int_eq(probe_retry_delay_ms(0, "3600", 500, 30000), 30000);
    /* An HTTP date or garbage falls back to the backoff. */
    ck_assert_int_eq(probe_retry_delay_ms(1, "Wed, 21 Oct 2015 07:28:00 "
                                          "GMT", 500, 30000), 1000);
    ck_assert_int_eq(probe_retry_delay_ms(0, "-1", 500, 30000), 500);
    ck_assert_int_eq(probe_retry_delay_ms(0, "5x", 500, 30000), 500);
}
END_TEST

START_TEST(which_searches_path)
{
    char *dir = test_tmpdir(), *tool, *plain, *path;
    char out[4096];
    FILE *f;

    tool = xasprintf("%s/mytool", dir);
    plain = xasprintf("%s/notexec", dir);
    f = fopen(tool, "w");
    fputs("#!/bin/sh\necho mytool 1.2.3\n", f);
    fclose(f);
    chmod(tool, 0755);
    f = fopen(plain, "w");
    fclose(f);
    chmod(plain, 0644);
    path = xasprintf("/nonexistent::%s", dir);
    ck_assert_int_eq(runtime_which("mytool", path, out, sizeof(out)), 0);
    ck_assert_str_eq(out, tool);
    ck_assert_int_eq(runtime_which("notexec", path, out, sizeof(out)), -1);
    ck_assert_int_eq(runtime_which("nothere", path, out, sizeof(out)), -1);
    ck_assert_int_eq(runtime_which(tool, "/x", out, sizeof(out)), 0);
    ck_assert_int_eq(runtime_which("", path, out, sizeof(out)), -1);
    {
        const char *tools[] = {"mytool", "nothere", NULL};
        json_t *list = runtime_tools(tools, path), *a, *b;

        ck_assert_uint_eq(json_array_size(list), 2);
        a = json_array_get(list, 0);
        b = json_array_get(list, 1);
        ck_assert(json_is_true(json_object_get(a, "found")));
        ck_assert_str_eq(json_string_value(json_object_get(a, "version")),
                         "mytool 1.2.3");
        ck_assert_str_eq(json_string_value(json_object_get(a, "path")),
                         tool);
        ck_assert(json_is_false(json_object_get(b, "found")));
        ck_assert(json_is_null(json_object_get(b, "version")));
        json_decref(list);
    }
    unlink(tool);
    unlink(plain);
    free(tool);
    free(plain);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(jls_json)
{
    static const char doc[] =
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": ["
        "{\"jid\":1,\"ipv4\":\"10.0.0.2\",\"hostname\":\"build\","
        "\"path\":\"/jails/build\"}]}}";
    json_t *j = runtime_parse_jls(doc, strlen(doc));

    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_array_size(j), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0),
                                                       "path")),
                     "/jails/build");
    json_decref(j);
    ck_assert_ptr_null(runtime_parse_jls("{}", 2));
    ck_assert_ptr_null(runtime_parse_jls("nope", 4));
}
END_TEST

static int
check(const char *text)
{
    json_error_t e;
    json_t *m = json_loads(text, 0, &e);
    char why[200];
    int rc;

    ck_assert_ptr_nonnull(m);
    rc = runtime_manifest_check(m, why, sizeof(why));
    json_decref(m);
    return rc;
}

START_TEST(manifest_check)
{
    struct runtime_options o = {0};
    json_t *m;
    char why[200];

    ck_assert_int_eq(check("{\"host\":{\"name\":\"build-1.example\"}}"), 0);
    ck_assert_int_eq(check("{\"host\":{\"name\":\"b\"},\"runtimes\":[],"
                           "\"jails\":null}"), 0);
    ck_assert_int_eq(check("[]"), -1);
    ck_assert_int_eq(check("{}"), -1);
    ck_assert_int_eq(check("{\"host\":{}}"), -1);
    ck_assert_int_eq(check("{\"host\":{\"name\":\"\"}}"), -1);
    ck_assert_int_eq(check("{\"host\":{\"name\":\"-x\"}}"), -1);
    ck_assert_int_eq(check("{\"host\":{\"name\":\"a b\"}}"), -1);
    ck_assert_int_eq(check("{\"host\":{\"name\":\"a/b\"}}"), -1);
    ck_assert_int_eq(check("{\"host\":{\"name\":7}}"), -1);
    ck_assert_int_eq(check("{\"host\":{\"name\":\"a\"},\"runtimes\":{}}"),
                     -1);
    ck_assert_int_eq(check("{\"host\":{\"name\":\"a\"},\"jails\":1}"), -1);

    /* This host's own manifest passes its own check. */
    o.data_dir = "/";
    o.tools = (const char *const[]){"sh", NULL};
    o.started_ms = 1;
    m = runtime_manifest(&o, 1);
    ck_assert_int_eq(runtime_manifest_check(m, why, sizeof(why)), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(m,
                                                        "manifest_version")),
                     1);
    ck_assert(json_is_integer(json_object_get(json_object_get(m, "host"),
                                              "cpus")));
    ck_assert(json_is_integer(json_object_get(json_object_get(
        json_object_get(m, "host"), "disk"), "free_bytes")));
    ck_assert_uint_eq(json_array_size(json_object_get(m, "runtimes")), 1);
    ck_assert(json_is_true(json_object_get(json_array_get(
        json_object_get(m, "runtimes"), 0), "found")));
    json_decref(m);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("probe");
    TCase *tc = tcase_create("probe");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, usage_deepseek_fields);
    tcase_add_test(tc, usage_openai_fields);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, ratio_and_cost);
    tcase_add_test(tc, prefix_is_deterministic);
    tcase_add_test(tc, retry_schedule);
    tcase_add_test(tc, which_searches_path);
    tcase_add_test(tc, jls_json);
    tcase_add_test(tc, manifest_check);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
