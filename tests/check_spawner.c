/*
 * check_spawner.c - spawner.c's restart backoff: full jitter under an
 * exponential ceiling, never below the floor, never above the cap.
 * (Processes, kills and reaping are tested end to end in
 * tests/api/test_spawn.py.)
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>

#include "src/spawner.h"

START_TEST(backoff_bounds)
{
    int attempt;

    /* rnd 0: the floor; rnd just under 1: the ceiling of the attempt */
    for (attempt = 0; attempt < 10; attempt++) {
        long top = 100L << attempt;

        if (top > 5000)
            top = 5000;
        ck_assert_int_eq(spawner_backoff_ms(100, 5000, attempt, 0.0), 100);
        ck_assert_int_ge(spawner_backoff_ms(100, 5000, attempt, 0.999999),
                         top - 1);
        ck_assert_int_le(spawner_backoff_ms(100, 5000, attempt, 0.999999),
                         top);
    }
    /* halfway: half the ceiling, or the floor */
    ck_assert_int_eq(spawner_backoff_ms(100, 5000, 3, 0.5), 400);
    ck_assert_int_eq(spawner_backoff_ms(100, 5000, 0, 0.5), 100);
    /* the cap holds for huge attempts (no overflow) */
    ck_assert_int_le(spawner_backoff_ms(100, 30000, 1000, 0.999999), 30000);
    ck_assert_int_ge(spawner_backoff_ms(100, 30000, 1000, 0.999999), 29999);
    /* floor above the cap: the floor wins */
    ck_assert_int_eq(spawner_backoff_ms(500, 100, 3, 0.9), 500);
}
END_TEST

START_TEST(backoff_is_jittered)
{
    long seen[8];
    int i, distinct = 0, j;

    for (i = 0; i < 8; i++) {
        seen[i] = spawner_backoff_ms(10, 100000, 8, (double)i / 8.0 + 0.01);
        for (j = 0; j < i; j++)
            if (seen[j] == seen[i])
                break;
        distinct += j == i;
        ck_assert_int_ge(seen[i], 10);
        ck_assert_int_le(seen[i], 2560);
    }
    ck_assert_int_eq(distinct, 8);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("spawner");
    TCase *tc = tcase_create("spawner");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, backoff_bounds);
    tcase_add_test(tc, backoff_is_jittered);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
