/*
 * testutil.h - helpers shared by the check unit tests: temporary
 * directories and a controllable clock for the store.
 */
#ifndef COLIBRI_TESTUTIL_H
#define COLIBRI_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/store.h"
#include "src/util.h"

/* A fresh directory under $TMPDIR; the caller frees the string. */
static inline char *
test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = xasprintf("%s/colibri-test-XXXXXX", base ? base : "/tmp");

    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static inline void
test_rmdir(char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);

    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(dir);
}

/* The fake clock: milliseconds, moved by tests. */
static int64_t test_clock_ms = 1700000000000LL;

static inline int64_t
test_clock(void)
{
    return __atomic_load_n(&test_clock_ms, __ATOMIC_SEQ_CST);
}

static inline void
test_clock_advance(int64_t ms)
{
    __atomic_add_fetch(&test_clock_ms, ms, __ATOMIC_SEQ_CST);
}

static inline struct store *
test_store_open(const char *dir)
{
    struct store_options opts;
    struct problem err = {0};
    struct store *s = NULL;
    char *path = xasprintf("%s/colibri.sqlite", dir);

    memset(&opts, 0, sizeof(opts));
    opts.path = path;
    opts.durable = 0;
    opts.clock = test_clock;
    if (store_open(&s, &opts, &err) < 0)
        ck_abort_msg("store_open: %s", err.detail);
    free(path);
    return s;
}

#endif
