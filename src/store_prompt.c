/*
 * store_prompt.c - prompt prefix hashes by agent kind and by session, and
 * the drift between them (docs/internals/prompt.md).
 *
 * One write job per observation: the comparison with what was seen and
 * the event it causes commit together, so two concurrent observations of
 * one kind cannot both believe they were first.
 */
#include "autoconf.h"

#include <string.h>

#include "store_impl.h"
#include "util.h"

struct observe_ctx {
    const struct prompt_observation *o;
    int drift;
};

static char *
col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? xstrdup((const char *)t) : NULL;
}

/* The kind's row: first sight, same, explained change, or drift. */
static int
observe_kind(struct store *s, struct conn *c, struct observe_ctx *ctx,
             struct problem *err)
{
    const struct prompt_observation *o = ctx->o;
    sqlite3_stmt *st = store_stmt(c, ST_PREFIX_GET);
    char *old_r1 = NULL, *old_in = NULL, subject[96];
    int rc;

    sqlite3_bind_text(st, 1, o->kind, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        old_r1 = col_dup(st, 0);
        old_in = col_dup(st, 1);
    } else if (rc != SQLITE_DONE) {
        return store_sql_error(c, err, "prefix get");
    }
    sqlite3_reset(st);

    st = store_stmt(c, ST_PREFIX_PUT);
    sqlite3_bind_text(st, 1, o->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, o->region1_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, o->inputs_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, s->clock());
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = store_sql_error(c, err, "prefix put");
        goto out;
    }
    snprintf(subject, sizeof(subject), "prompt:%s", o->kind);
    rc = 0;
    if (old_r1 == NULL)
        rc = store_event_append(s, c, "prompt.prefix", subject, NULL,
                                json_pack("{s:s, s:s, s:s, s:s}", "kind",
                                          o->kind, "region1_sha256",
                                          o->region1_sha256,
                                          "inputs_sha256", o->inputs_sha256,
                                          "reason", "first"), err);
    else if (strcmp(old_in, o->inputs_sha256) != 0)
        rc = store_event_append(s, c, "prompt.prefix", subject, NULL,
                                json_pack("{s:s, s:s, s:s, s:s, s:s}",
                                          "kind", o->kind, "old", old_r1,
                                          "new", o->region1_sha256,
                                          "inputs_sha256", o->inputs_sha256,
                                          "reason", "inputs_changed"), err);
    else if (strcmp(old_r1, o->region1_sha256) != 0) {
        ctx->drift++;
        rc = store_event_append(s, c, "prompt.drift", subject, NULL,
                                json_pack("{s:s, s:s, s:s, s:s}", "kind",
                                          o->kind, "old", old_r1, "new",
                                          o->region1_sha256, "reason",
                                          "region1_changed_inputs_same"),
                                err);
    }
out:
    free(old_r1);
    free(old_in);
    return rc;
}

/* The session's prefix: set once, then compared. */
static int
observe_session(struct store *s, struct conn *c, struct observe_ctx *ctx,
                struct problem *err)
{
    const struct prompt_observation *o = ctx->o;
    sqlite3_stmt *st = store_stmt(c, ST_SESSION_PREFIX_GET);
    char *old = NULL, subject[64];
    int rc;

    sqlite3_bind_int64(st, 1, o->session);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return problem_set(err, 404, "session_not_found",
                           "no session %lld", (long long)o->session);
    if (rc != SQLITE_ROW)
        return store_sql_error(c, err, "session prefix get");
    old = col_dup(st, 0);
    sqlite3_reset(st);
    if (old == NULL) {
        st = store_stmt(c, ST_SESSION_PREFIX_SET);
        sqlite3_bind_int64(st, 1, o->session);
        sqlite3_bind_text(st, 2, o->prefix_sha256, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            return store_sql_error(c, err, "session prefix set");
        return 0;
    }
    rc = 0;
    if (strcmp(old, o->prefix_sha256) != 0) {
        ctx->drift++;
        snprintf(subject, sizeof(subject), "session:%lld",
                 (long long)o->session);
        rc = store_event_append(s, c, "prompt.drift", subject, NULL,
                                json_pack("{s:s, s:I, s:s, s:s, s:s}",
                                          "kind", o->kind, "session",
                                          (json_int_t)o->session, "old", old,
                                          "new", o->prefix_sha256, "reason",
                                          "session_prefix_changed"), err);
        if (rc == 0)
            rc = store_metering_drift(s, c, o->session, err);
    }
    free(old);
    return rc;
}

static int
observe_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct observe_ctx *ctx = arg;

    ctx->drift = 0;
    if (observe_kind(s, c, ctx, err) < 0)
        return -1;
    if (ctx->o->session > 0 && ctx->o->prefix_sha256 != NULL)
        return observe_session(s, c, ctx, err);
    return 0;
}

int
store_prompt_observe(struct store *s, const struct prompt_observation *o,
                     int *drift, struct problem *err)
{
    struct observe_ctx ctx = {o, 0};

    if (store_write(s, observe_job, &ctx, err) < 0)
        return -1;
    if (drift != NULL)
        *drift = ctx.drift;
    return 0;
}

