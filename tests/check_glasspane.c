/*
 * check_glasspane.c - glasspane.c: every real pi transcript in
 * tests/fixtures/pi/ replayed line by line with the full list of
 * transitions asserted (where each happens, from, to, sub-state, reason),
 * and small synthetic streams for the rules the transcripts do not reach.
 *
 * Fixtures are read from $COLIBRI_SRCDIR/tests/fixtures/pi (make check
 * sets it), else from the source tree this file was built from.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/glasspane.h"
#include "src/util.h"

#ifndef GP_TEST_SRCDIR
#define GP_TEST_SRCDIR "."
#endif

/* Where a transition happened in a replay: a 1-based fixture line, or
 * one of these. */
#define AT_EARLY (-1)   /* tick one millisecond before the deadline */
#define AT_GRACE (-2)   /* tick at the deadline */
#define AT_EXIT (-3)    /* glasspane_exit with the transcript's status */

#define T0 1795885200000LL      /* the replay clock's start */
#define STEP 10                 /* ms between lines */
#define MAX_SEEN 64

struct expect {
    int at;
    enum gp_state from, to;
    const char *substate;
    const char *reason;
    int truncated;
};

struct seen {
    int at;
    struct gp_transition t;
};

static void
record(struct seen *seen, int *n, int at, const struct gp_transition *t,
       int count)
{
    int i;

    for (i = 0; i < count; i++) {
        ck_assert_int_lt(*n, MAX_SEEN);
        seen[*n].at = at;
        seen[*n].t = t[i];
        (*n)++;
    }
}

/* The "type" of a raw pi line, read as an ingester would without
 * parsing: pi writes it first.  0 when the line does not start so. */
static int
sniff_type(const char *line, const char **type, size_t *len)
{
    static const char prefix[] = "{\"type\":\"";
    const char *end;

    if (strncmp(line, prefix, sizeof(prefix) - 1))
        return 0;
    *type = line + sizeof(prefix) - 1;
    end = strchr(*type, '"');
    if (!end)
        return 0;
    *len = (size_t)(end - *type);
    return 1;
}

/*
 * Replays a transcript: line i is fed at T0 + i * STEP and followed by a
 * tick at the same time (nothing may wait that long); then, when
 * something waits, a tick just before its deadline and one at it; then
 * glasspane_exit(status).  Returns the number of transitions in seen.
 * With skip, lines glasspane_can_skip allows are not parsed nor fed (their
 * count goes to *skipped): the transitions must be the same.
 */
static int
replay(const char *name, int status, struct seen *seen, int skip,
       int *skipped)
{
    const char *dir = getenv("COLIBRI_SRCDIR");
    char *path = xasprintf("%s/tests/fixtures/pi/%s",
                           dir ? dir : GP_TEST_SRCDIR, name);
    char *text = util_read_file(path, 4 * 1024 * 1024);
    struct glasspane *g = glasspane_new(GP_IDLE);
    struct gp_transition t[GP_MAX_TRANSITIONS];
    char *line, *next;
    int64_t now = T0, deadline;
    int n = 0, lineno = 0;

    *skipped = 0;
    ck_assert_msg(text != NULL, "cannot read %s", path);
    for (line = text; *line; line = next) {
        json_t *event;
        json_error_t jerr;
        const char *type;
        size_t len;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        else
            next = line + strlen(line);
        lineno++;
        now = T0 + (int64_t)lineno * STEP;
        if (skip && sniff_type(line, &type, &len) &&
            glasspane_can_skip(g, type, len)) {
            (*skipped)++;
            record(seen, &n, lineno, t,
                   glasspane_tick(g, now, t, GP_MAX_TRANSITIONS));
            continue;
        }
        event = json_loads(line, 0, &jerr);
        ck_assert_msg(event != NULL, "%s:%d: %s", name, lineno, jerr.text);
        record(seen, &n, lineno, t,
               glasspane_feed(g, event, now, t, GP_MAX_TRANSITIONS));
        record(seen, &n, lineno, t,
               glasspane_tick(g, now, t, GP_MAX_TRANSITIONS));
        json_decref(event);
    }
    deadline = glasspane_pending_deadline(g);
    if (deadline) {
        ck_assert_int_gt(deadline, now);
        record(seen, &n, AT_EARLY, t,
               glasspane_tick(g, deadline - 1, t, GP_MAX_TRANSITIONS));
        record(seen, &n, AT_GRACE, t,
               glasspane_tick(g, deadline, t, GP_MAX_TRANSITIONS));
        ck_assert_int_eq(glasspane_pending_deadline(g), 0);
        now = deadline;
    }
    record(seen, &n, AT_EXIT, t,
           glasspane_exit(g, status, now, t, GP_MAX_TRANSITIONS));
    glasspane_free(g);
    free(text);
    free(path);
    return n;
}

static void
assert_transitions(const char *name, const struct seen *seen, int n,
                   const struct expect *want, int nwant)
{
    int i;

    for (i = 0; i < n && i < nwant; i++) {
        const struct gp_transition *t = &seen[i].t;

        ck_assert_msg(seen[i].at == want[i].at &&
                          t->from == want[i].from && t->to == want[i].to &&
                          !strcmp(t->substate, want[i].substate) &&
                          !strcmp(t->reason, want[i].reason) &&
                          t->truncated == want[i].truncated,
                      "%s #%d: got at %d %s->%s [%s] \"%s\" trunc %d, "
                      "want at %d %s->%s [%s] \"%s\" trunc %d",
                      name, i, seen[i].at, glasspane_state_name(t->from),
                      glasspane_state_name(t->to), t->substate, t->reason,
                      t->truncated, want[i].at,
                      glasspane_state_name(want[i].from),
                      glasspane_state_name(want[i].to), want[i].substate,
                      want[i].reason, want[i].truncated);
    }
    ck_assert_msg(n == nwant, "%s: %d transitions, want %d", name, n, nwant);
}

/* Replays twice, feeding every line and skipping what may be skipped;
 * both must give exactly want. */
#define CHECK_REPLAY(file, status, want)                                     \
    do {                                                                     \
        struct seen seen[MAX_SEEN];                                          \
        int nwant = (int)(sizeof(want) / sizeof(want[0]));                   \
        int skipped;                                                         \
        int n = replay(file, status, seen, 0, &skipped);                     \
        assert_transitions(file, seen, n, want, nwant);                      \
        n = replay(file, status, seen, 1, &skipped);                         \
        assert_transitions(file " (skipping)", seen, n, want, nwant);        \
        ck_assert_int_gt(skipped, 0);                                        \
    } while (0)

/* --- the real transcripts ------------------------------------------- */

START_TEST(fixture_text)
{
    static const struct expect want[] = {
        {2, GP_IDLE, GP_WORKING, "", "agent_start", 0},
        {16, GP_WORKING, GP_DONE, "", "stopReason stop", 0},
    };

    CHECK_REPLAY("text.jsonl", 0, want);
}
END_TEST

/* The toolUse message_end (line 15) and the tool run are not final. */
START_TEST(fixture_tool)
{
    static const struct expect want[] = {
        {2, GP_IDLE, GP_WORKING, "", "agent_start", 0},
        {32, GP_WORKING, GP_DONE, "", "stopReason stop", 0},
    };

    CHECK_REPLAY("tool.jsonl", 0, want);
}
END_TEST

START_TEST(fixture_length)
{
    static const struct expect want[] = {
        {2, GP_IDLE, GP_WORKING, "", "agent_start", 0},
        {13, GP_WORKING, GP_DONE, "", "stopReason length", 1},
    };

    CHECK_REPLAY("length.jsonl", 0, want);
}
END_TEST

/* Killed mid-stream: no agent_end; the exit settles it. */
START_TEST(fixture_slow_sigterm)
{
    static const struct expect want[] = {
        {2, GP_IDLE, GP_WORKING, "", "agent_start", 0},
        {AT_EXIT, GP_WORKING, GP_ERROR, "",
         "process died mid-run (signal 15)", 0},
    };

    CHECK_REPLAY("slow_sigterm.jsonl", 143, want);
}
END_TEST

/* 429, 500, then success: the two agent_end with error (lines 9, 16)
 * were provisional and never become error. */
START_TEST(fixture_retry)
{
    static const struct expect want[] = {
        {2, GP_IDLE, GP_WORKING, "", "agent_start", 0},
        {10, GP_WORKING, GP_WORKING, "retrying",
         "auto_retry_start attempt=1/3 delayMs=500: "
         "429 Rate limit reached for mock-model (mock)", 0},
        {27, GP_WORKING, GP_WORKING, "",
         "auto_retry_end success=true attempt=2", 0},
        {29, GP_WORKING, GP_DONE, "", "stopReason stop", 0},
    };

    CHECK_REPLAY("retry.jsonl", 0, want);
}
END_TEST

/* 503 forever: error only at auto_retry_end{success:false}, exit 0. */
START_TEST(fixture_fail)
{
    static const struct expect want[] = {
        {2, GP_IDLE, GP_WORKING, "", "agent_start", 0},
        {10, GP_WORKING, GP_WORKING, "retrying",
         "auto_retry_start attempt=1/3 delayMs=500: "
         "503 Service temporarily unavailable (mock)", 0},
        {31, GP_WORKING, GP_ERROR, "",
         "auto_retry_end success=false: "
         "503 Service temporarily unavailable (mock)", 0},
    };

    CHECK_REPLAY("fail.jsonl", 0, want);
}
END_TEST

/*
 * pi --mode rpc: six prompts.  The confirm dialogs (lines 88, 121) are
 * answered on stdin, which the transcript does not show; the next tool
 * event is the evidence.  The last run (400, not retryable) ends with a
 * provisional agent_end that only the grace period settles: the response
 * lines after it are not pi events.
 */
START_TEST(fixture_rpc_confirm_gate)
{
    static const struct expect want[] = {
        {3, GP_IDLE, GP_WORKING, "", "agent_start", 0},
        {17, GP_WORKING, GP_DONE, "", "stopReason stop", 0},
        {20, GP_DONE, GP_WORKING, "", "agent_start", 0},
        {50, GP_WORKING, GP_DONE, "", "stopReason stop", 0},
        {53, GP_DONE, GP_WORKING, "", "agent_start", 0},
        {68, GP_WORKING, GP_ERROR, "",
         "stopReason aborted: Request was aborted", 0},
        {73, GP_ERROR, GP_WORKING, "", "agent_start", 0},
        {88, GP_WORKING, GP_BLOCKED, "",
         "waiting for confirm: Allow bash command?", 0},
        {89, GP_BLOCKED, GP_WORKING, "",
         "confirm answered (tool_execution_update followed)", 0},
        {104, GP_WORKING, GP_DONE, "", "stopReason stop", 0},
        {106, GP_DONE, GP_WORKING, "", "agent_start", 0},
        {121, GP_WORKING, GP_BLOCKED, "",
         "waiting for confirm: Allow bash command?", 0},
        {122, GP_BLOCKED, GP_WORKING, "",
         "confirm answered (tool_execution_end followed)", 0},
        {135, GP_WORKING, GP_DONE, "", "stopReason stop", 0},
        {138, GP_DONE, GP_WORKING, "", "agent_start", 0},
        {146, GP_WORKING, GP_WORKING, "retrying",
         "auto_retry_start attempt=1/3 delayMs=500: "
         "429 Rate limit reached for mock-model (mock)", 0},
        {163, GP_WORKING, GP_WORKING, "",
         "auto_retry_end success=true attempt=2", 0},
        {165, GP_WORKING, GP_DONE, "", "stopReason stop", 0},
        {168, GP_DONE, GP_WORKING, "", "agent_start", 0},
        {AT_GRACE, GP_WORKING, GP_ERROR, "",
         "stopReason error: 400 Invalid request: mock refuses this prompt",
         0},
    };

    CHECK_REPLAY("rpc_confirm_gate.jsonl", 0, want);
}
END_TEST

/* --- synthetic streams ---------------------------------------------- */

/* Feeds one event written as JSON text; returns the transition count. */
static int
feed(struct glasspane *g, const char *text, int64_t now,
     struct gp_transition *t)
{
    json_error_t jerr;
    json_t *event = json_loads(text, JSON_DECODE_ANY, &jerr);
    int n;

    ck_assert_msg(event != NULL, "%s: %s", text, jerr.text);
    n = glasspane_feed(g, event, now, t, GP_MAX_TRANSITIONS);
    json_decref(event);
    return n;
}

#define AGENT_END(stop, error)                                               \
    "{\"type\":\"agent_end\",\"messages\":[{\"role\":\"user\","              \
    "\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":[],"            \
    "\"stopReason\":\"" stop "\",\"errorMessage\":\"" error "\"}]}"

static void
assert_move(const struct gp_transition *t, enum gp_state from,
            enum gp_state to, const char *substate, const char *reason)
{
    ck_assert_str_eq(glasspane_state_name(t->from),
                     glasspane_state_name(from));
    ck_assert_str_eq(glasspane_state_name(t->to), glasspane_state_name(to));
    ck_assert_str_eq(t->substate, substate);
    ck_assert_str_eq(t->reason, reason);
}

static struct glasspane *
working(void)
{
    struct glasspane *g = glasspane_new(GP_IDLE);
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, "{\"type\":\"agent_start\"}", 1000, t), 1);
    ck_assert_int_eq(glasspane_state(g), GP_WORKING);
    return g;
}

START_TEST(state_names)
{
    ck_assert_str_eq(glasspane_state_name(GP_IDLE), "idle");
    ck_assert_str_eq(glasspane_state_name(GP_WORKING), "working");
    ck_assert_str_eq(glasspane_state_name(GP_BLOCKED), "blocked");
    ck_assert_str_eq(glasspane_state_name(GP_DONE), "done");
    ck_assert_str_eq(glasspane_state_name(GP_ERROR), "error");
    ck_assert_str_eq(glasspane_state_name((enum gp_state)42), "unknown");
    ck_assert_int_le(GLASSPANE_GRACE_MS, 5000);
    glasspane_free(NULL);
}
END_TEST

START_TEST(unknown_types_ignored)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, "{\"type\":\"something_new\",\"x\":1}", 2000, t),
                     0);
    ck_assert_int_eq(feed(g, "{\"type\":\"session\",\"version\":3}", 2000, t),
                     0);
    ck_assert_int_eq(feed(g, "{\"type\":\"response\",\"command\":\"abort\","
                             "\"success\":true}", 2000, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"extension_error\","
                             "\"error\":\"boom\"}", 2000, t), 0);
    ck_assert_int_eq(glasspane_state(g), GP_WORKING);
    glasspane_free(g);
}
END_TEST

START_TEST(garbage_ignored)
{
    static const char *const junk[] = {
        "[1,2,3]", "\"agent_end\"", "42", "null", "{}",
        "{\"type\":42}", "{\"type\":null}", "{\"type\":\"\"}",
        "{\"type\":\"agent_end \"}", "{\"type\":\"AGENT_END\"}",
        "{\"kind\":\"agent_end\"}",
    };
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];
    size_t i;

    for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        ck_assert_int_eq(feed(g, junk[i], 2000, t), 0);
    ck_assert_int_eq(glasspane_feed(g, NULL, 2000, t, GP_MAX_TRANSITIONS),
                     0);
    ck_assert_int_eq(glasspane_state(g), GP_WORKING);
    /* Fields of the wrong shape do not crash and do not settle. */
    ck_assert_int_eq(feed(g, "{\"type\":\"message_end\",\"message\":7}",
                          2000, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"extension_ui_request\","
                             "\"method\":[1]}", 2000, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_end\",\"messages\":3}", 2000,
                          t), 1);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "",
                "agent_end without an assistant stopReason");
    ck_assert_int_eq(feed(NULL, "{\"type\":\"agent_start\"}", 0, t), 0);
    glasspane_free(g);
}
END_TEST

/* Both generations of names; compaction is working with a sub-state. */
START_TEST(compaction_both_names)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, "{\"type\":\"auto_compaction_start\","
                             "\"reason\":\"threshold\"}", 2000, t), 1);
    assert_move(&t[0], GP_WORKING, GP_WORKING, "compacting",
                "auto_compaction_start (threshold)");
    ck_assert_str_eq(glasspane_substate(g), "compacting");
    ck_assert_int_eq(feed(g, "{\"type\":\"auto_compaction_end\","
                             "\"aborted\":false,\"willRetry\":false}", 2100,
                          t), 1);
    assert_move(&t[0], GP_WORKING, GP_WORKING, "", "auto_compaction_end");
    ck_assert_int_eq(feed(g, "{\"type\":\"compaction_start\","
                             "\"reason\":\"manual\"}", 2200, t), 1);
    assert_move(&t[0], GP_WORKING, GP_WORKING, "compacting",
                "compaction_start (manual)");
    ck_assert_int_eq(feed(g, "{\"type\":\"compaction_end\"}", 2300, t), 1);
    assert_move(&t[0], GP_WORKING, GP_WORKING, "", "compaction_end");
    /* An end without a start changes nothing. */
    ck_assert_int_eq(feed(g, "{\"type\":\"compaction_end\"}", 2400, t), 0);
    glasspane_free(g);
}
END_TEST

/* pi compacts after a run settles (threshold): work, then back to done. */
START_TEST(compaction_after_done)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, AGENT_END("stop", ""), 2000, t), 1);
    ck_assert_int_eq(feed(g, "{\"type\":\"auto_compaction_start\","
                             "\"reason\":\"threshold\"}", 2001, t), 1);
    assert_move(&t[0], GP_DONE, GP_WORKING, "compacting",
                "auto_compaction_start (threshold)");
    ck_assert_int_eq(feed(g, "{\"type\":\"auto_compaction_end\","
                             "\"willRetry\":false}", 9000, t), 1);
    assert_move(&t[0], GP_WORKING, GP_DONE, "", "auto_compaction_end");
    /* Killed while compacting after done: still done. */
    ck_assert_int_eq(feed(g, "{\"type\":\"compaction_start\"}", 9100, t), 1);
    ck_assert_int_eq(glasspane_exit(g, 143, 9200, t, GP_MAX_TRANSITIONS), 1);
    assert_move(&t[0], GP_WORKING, GP_DONE, "",
                "process died (signal 15) during compaction, after the run "
                "settled");
    glasspane_free(g);
}
END_TEST

/* A context overflow: agent_end with error, compaction, then a retry (or
 * not).  The grace period does not run during the compaction. */
START_TEST(compaction_after_overflow)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, AGENT_END("error", "context_length_exceeded"),
                          2000, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"auto_compaction_start\","
                             "\"reason\":\"overflow\"}", 2001, t), 1);
    ck_assert_int_eq(glasspane_pending_deadline(g), 0);
    ck_assert_int_eq(glasspane_tick(g, 60000, t, GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"auto_compaction_end\","
                             "\"willRetry\":true}", 60000, t), 1);
    assert_move(&t[0], GP_WORKING, GP_WORKING, "",
                "auto_compaction_end: will retry");
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_start\"}", 60001, t), 0);
    ck_assert_int_eq(feed(g, AGENT_END("stop", ""), 61000, t), 1);
    assert_move(&t[0], GP_WORKING, GP_DONE, "", "stopReason stop");

    /* The same without a retry: the error stands. */
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_start\"}", 70000, t), 1);
    ck_assert_int_eq(feed(g, AGENT_END("error", "context_length_exceeded"),
                          70001, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"compaction_start\","
                             "\"reason\":\"overflow\"}", 70002, t), 1);
    ck_assert_int_eq(feed(g, "{\"type\":\"compaction_end\","
                             "\"aborted\":true,\"willRetry\":false}", 80000,
                          t), 1);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "",
                "stopReason error: context_length_exceeded");
    glasspane_free(g);
}
END_TEST

/* Nothing follows a provisional end: error only once the grace period is
 * over, not a millisecond before. */
START_TEST(provisional_settles_after_grace)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(glasspane_pending_deadline(g), 0);
    ck_assert_int_eq(feed(g, AGENT_END("error", "500 oops"), 5000, t), 0);
    ck_assert_int_eq(glasspane_state(g), GP_WORKING);
    ck_assert_int_eq(glasspane_pending_deadline(g),
                     5000 + GLASSPANE_GRACE_MS);
    ck_assert_int_eq(glasspane_tick(g, 5000, t, GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(
        glasspane_tick(g, 5000 + GLASSPANE_GRACE_MS - 1, t,
                       GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(glasspane_state(g), GP_WORKING);
    ck_assert_int_eq(
        glasspane_tick(g, 5000 + GLASSPANE_GRACE_MS, t, GP_MAX_TRANSITIONS),
        1);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "", "stopReason error: 500 oops");
    ck_assert_int_eq(glasspane_pending_deadline(g), 0);
    ck_assert_int_eq(
        glasspane_tick(g, 99999, t, GP_MAX_TRANSITIONS), 0);
    glasspane_free(g);
}
END_TEST

/* A retry announced within the grace period: never error. */
START_TEST(provisional_then_retry)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, AGENT_END("error", "429"), 5000, t), 0);
    ck_assert_int_eq(glasspane_tick(g, 5002, t, GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"auto_retry_start\",\"attempt\":1,"
                             "\"maxAttempts\":3,\"delayMs\":9000,"
                             "\"errorMessage\":\"429\"}", 5002, t), 1);
    assert_move(&t[0], GP_WORKING, GP_WORKING, "retrying",
                "auto_retry_start attempt=1/3 delayMs=9000: 429");
    ck_assert_int_eq(glasspane_pending_deadline(g), 0);
    ck_assert_int_eq(glasspane_tick(g, 20000, t, GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(glasspane_state(g), GP_WORKING);
    /* Killed during the backoff: error. */
    ck_assert_int_eq(glasspane_exit(g, 137, 20001, t, GP_MAX_TRANSITIONS), 1);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "",
                "process died mid-run (signal 9)");
    glasspane_free(g);
}
END_TEST

/* A provisional end followed by a new run at once (rpc: the client sent
 * another prompt before any tick): the old run failed, the new one works. */
START_TEST(provisional_then_new_run)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, AGENT_END("error", "400 bad"), 5000, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_start\"}", 5001, t), 2);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "", "stopReason error: 400 bad");
    assert_move(&t[1], GP_ERROR, GP_WORKING, "", "agent_start");
    ck_assert_int_eq(glasspane_pending_deadline(g), 0);

    /* With room for one, one is reported and the state is still right. */
    ck_assert_int_eq(feed(g, AGENT_END("error", "400 bad"), 6000, t), 0);
    {
        json_t *ev = json_pack("{s:s}", "type", "turn_start");

        ck_assert_int_eq(glasspane_feed(g, ev, 6001, t, 1), 1);
        json_decref(ev);
    }
    assert_move(&t[0], GP_WORKING, GP_ERROR, "", "stopReason error: 400 bad");
    ck_assert_int_eq(glasspane_state(g), GP_WORKING);
    glasspane_free(g);
}
END_TEST

/* The process exits right after a provisional end (json mode, fatal
 * error, exit 0): error at once, no grace period needed. */
START_TEST(provisional_then_exit)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, AGENT_END("error", "400 bad"), 5000, t), 0);
    ck_assert_int_eq(glasspane_exit(g, 0, 5001, t, GP_MAX_TRANSITIONS), 1);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "", "stopReason error: 400 bad");
    glasspane_free(g);
}
END_TEST

/* Older pi reports auto_retry_end{success:true} after a retry that ended
 * in a non-retryable error: the error end still counts. */
START_TEST(retry_end_success_after_error_end)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, "{\"type\":\"auto_retry_start\",\"attempt\":1,"
                             "\"maxAttempts\":3,\"delayMs\":1,"
                             "\"errorMessage\":\"429\"}", 5000, t), 1);
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_start\"}", 5001, t), 0);
    ck_assert_int_eq(feed(g, AGENT_END("error", "400 bad"), 5002, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"auto_retry_end\",\"success\":true,"
                             "\"attempt\":1}", 5003, t), 1);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "", "stopReason error: 400 bad");
    glasspane_free(g);
}
END_TEST

START_TEST(aborted_is_error_at_once)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, AGENT_END("aborted", "Request was aborted"),
                          5000, t), 1);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "",
                "stopReason aborted: Request was aborted");
    ck_assert_int_eq(glasspane_pending_deadline(g), 0);
    glasspane_free(g);
}
END_TEST

/* A failing tool is the model's business, not the run's failure; toolUse
 * is not final. */
START_TEST(tool_error_is_not_failure)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, "{\"type\":\"message_end\",\"message\":"
                             "{\"role\":\"assistant\",\"stopReason\":"
                             "\"toolUse\"}}", 2000, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"tool_execution_end\","
                             "\"toolCallId\":\"c1\",\"toolName\":\"bash\","
                             "\"result\":{\"content\":[]},\"isError\":true}",
                          2001, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"message_end\",\"message\":"
                             "{\"role\":\"toolResult\",\"isError\":true}}",
                          2002, t), 0);
    ck_assert_int_eq(glasspane_state(g), GP_WORKING);
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_end\",\"messages\":["
                             "{\"role\":\"assistant\",\"stopReason\":"
                             "\"toolUse\"},{\"role\":\"toolResult\","
                             "\"isError\":true},{\"role\":\"assistant\","
                             "\"stopReason\":\"stop\"}]}", 2003, t), 1);
    assert_move(&t[0], GP_WORKING, GP_DONE, "", "stopReason stop");
    glasspane_free(g);
}
END_TEST

START_TEST(length_is_done_truncated)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, AGENT_END("length", ""), 2000, t), 1);
    assert_move(&t[0], GP_WORKING, GP_DONE, "", "stopReason length");
    ck_assert_int_eq(t[0].truncated, 1);
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_start\"}", 3000, t), 1);
    ck_assert_int_eq(t[0].truncated, 0);
    ck_assert_int_eq(feed(g, AGENT_END("stop", ""), 4000, t), 1);
    ck_assert_int_eq(t[0].truncated, 0);
    glasspane_free(g);
}
END_TEST

/* agent_end without messages: the last assistant message_end decides. */
START_TEST(agent_end_without_messages)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, "{\"type\":\"message_end\",\"message\":"
                             "{\"role\":\"assistant\",\"stopReason\":"
                             "\"length\"}}", 2000, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_end\"}", 2001, t), 1);
    assert_move(&t[0], GP_WORKING, GP_DONE, "", "stopReason length");
    ck_assert_int_eq(t[0].truncated, 1);
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_start\"}", 3000, t), 1);
    ck_assert_int_eq(feed(g, AGENT_END("toolUse", ""), 3001, t), 1);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "",
                "stopReason toolUse at agent_end: no final answer");
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_start\"}", 4000, t), 1);
    ck_assert_int_eq(feed(g, AGENT_END("refusal", ""), 4001, t), 1);
    assert_move(&t[0], GP_WORKING, GP_ERROR, "",
                "stopReason refusal (unknown)");
    glasspane_free(g);
}
END_TEST

#define DIALOG(method, id, extra)                                            \
    "{\"type\":\"extension_ui_request\",\"id\":\"" id "\",\"method\":\""     \
    method "\",\"title\":\"Pick one\"" extra "}"

/* Dialogs block until the matching answer; notices never block. */
START_TEST(blocked_until_answered)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, DIALOG("notify", "n1", ""), 2000, t), 0);
    ck_assert_int_eq(feed(g, DIALOG("setStatus", "n2", ""), 2000, t), 0);
    ck_assert_int_eq(feed(g, DIALOG("setWidget", "n3", ""), 2000, t), 0);
    ck_assert_int_eq(feed(g, DIALOG("setTitle", "n4", ""), 2000, t), 0);
    ck_assert_int_eq(feed(g, DIALOG("set_editor_text", "n5", ""), 2000, t),
                     0);
    ck_assert_int_eq(glasspane_state(g), GP_WORKING);

    ck_assert_int_eq(feed(g, DIALOG("select", "d1", ",\"options\":[\"a\"]"),
                          2001, t), 1);
    assert_move(&t[0], GP_WORKING, GP_BLOCKED, "",
                "waiting for select: Pick one");
    ck_assert_int_eq(glasspane_pending_deadline(g), 0);
    /* A notice or an unrelated answer does not unblock. */
    ck_assert_int_eq(feed(g, DIALOG("notify", "n6", ""), 2002, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"extension_ui_response\","
                             "\"id\":\"other\",\"value\":\"a\"}", 2003, t),
                     0);
    ck_assert_int_eq(glasspane_tick(g, 999999, t, GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(glasspane_state(g), GP_BLOCKED);
    ck_assert_int_eq(feed(g, "{\"type\":\"extension_ui_response\","
                             "\"id\":\"d1\",\"value\":\"a\"}", 2004, t), 1);
    assert_move(&t[0], GP_BLOCKED, GP_WORKING, "", "select answered");

    /* Two dialogs: blocked until both are answered (one cancelled). */
    ck_assert_int_eq(feed(g, DIALOG("confirm", "d2", ""), 3000, t), 1);
    ck_assert_int_eq(feed(g, DIALOG("input", "d3", ""), 3001, t), 0);
    ck_assert_int_eq(feed(g, "{\"type\":\"extension_ui_response\","
                             "\"id\":\"d2\",\"confirmed\":true}", 3002, t),
                     0);
    ck_assert_int_eq(glasspane_state(g), GP_BLOCKED);
    ck_assert_int_eq(feed(g, "{\"type\":\"extension_ui_response\","
                             "\"id\":\"d3\",\"cancelled\":true}", 3003, t),
                     1);
    assert_move(&t[0], GP_BLOCKED, GP_WORKING, "", "input cancelled");
    glasspane_free(g);
}
END_TEST

/* The answer is not in pi's stdout: later progress shows it came. */
START_TEST(blocked_until_progress)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, DIALOG("editor", "d1", ""), 2000, t), 1);
    ck_assert_int_eq(feed(g, "{\"type\":\"tool_execution_end\","
                             "\"isError\":false}", 2001, t), 1);
    assert_move(&t[0], GP_BLOCKED, GP_WORKING, "",
                "editor answered (tool_execution_end followed)");
    /* The run ends while a dialog waits: settled directly. */
    ck_assert_int_eq(feed(g, DIALOG("confirm", "d2", ""), 3000, t), 1);
    ck_assert_int_eq(feed(g, AGENT_END("aborted", "Request was aborted"),
                          3001, t), 1);
    assert_move(&t[0], GP_BLOCKED, GP_ERROR, "",
                "stopReason aborted: Request was aborted");
    glasspane_free(g);
}
END_TEST

/* A dialog with a timeout is answered by pi itself when it runs out. */
START_TEST(blocked_until_timeout)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, DIALOG("confirm", "d1", ",\"timeout\":30000"),
                          2000, t), 1);
    ck_assert_int_eq(glasspane_pending_deadline(g), 32000);
    ck_assert_int_eq(glasspane_tick(g, 31999, t, GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(glasspane_tick(g, 32000, t, GP_MAX_TRANSITIONS), 1);
    assert_move(&t[0], GP_BLOCKED, GP_WORKING, "",
                "confirm timed out after 30000 ms");
    ck_assert_int_eq(glasspane_pending_deadline(g), 0);
    /* Killed while blocked: error. */
    ck_assert_int_eq(feed(g, DIALOG("confirm", "d2", ""), 40000, t), 1);
    ck_assert_int_eq(glasspane_exit(g, 1, 40001, t, GP_MAX_TRANSITIONS), 1);
    assert_move(&t[0], GP_BLOCKED, GP_ERROR, "",
                "exited with status 1 before the run settled");
    glasspane_free(g);
}
END_TEST

START_TEST(exit_after_done_stays_done)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert_int_eq(feed(g, AGENT_END("stop", ""), 2000, t), 1);
    ck_assert_int_eq(glasspane_exit(g, 0, 2001, t, GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(glasspane_exit(g, 143, 2002, t, GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(glasspane_state(g), GP_DONE);
    glasspane_free(g);

    g = glasspane_new(GP_IDLE);
    ck_assert_int_eq(glasspane_exit(g, 0, 1, t, GP_MAX_TRANSITIONS), 0);
    ck_assert_int_eq(glasspane_state(g), GP_IDLE);
    ck_assert_int_eq(glasspane_exit(g, 2, 1, t, GP_MAX_TRANSITIONS), 1);
    assert_move(&t[0], GP_IDLE, GP_ERROR, "",
                "exited with status 2 before any run");
    glasspane_free(g);

    g = glasspane_new(GP_DONE);
    ck_assert_int_eq(glasspane_state(g), GP_DONE);
    ck_assert_int_eq(glasspane_exit(g, 143, 1, t, GP_MAX_TRANSITIONS), 0);
    glasspane_free(g);
}
END_TEST

/* Reasons are one line, fit their buffer, and never end inside a UTF-8
 * sequence, whatever pi's error message holds. */
START_TEST(reason_is_clean_text)
{
    struct glasspane *g = working();
    struct gp_transition t[GP_MAX_TRANSITIONS];
    char msg[600], text[800];
    size_t i, len;

    /* "é" is two bytes: 120 of them cross the 128-byte end somewhere. */
    strcpy(msg, "line1\\nline2\\t");
    for (i = 0; i < 120; i++)
        strcat(msg, "\xc3\xa9");
    snprintf(text, sizeof(text),
             "{\"type\":\"agent_end\",\"messages\":[{\"role\":\"assistant\","
             "\"stopReason\":\"aborted\",\"errorMessage\":\"%s\"}]}", msg);
    ck_assert_int_eq(feed(g, text, 2000, t), 1);
    len = strlen(t[0].reason);
    ck_assert_uint_lt(len, GP_REASON_LEN);
    ck_assert_ptr_null(strchr(t[0].reason, '\n'));
    ck_assert_ptr_null(strchr(t[0].reason, '\t'));
    ck_assert(strncmp(t[0].reason, "stopReason aborted: line1 line2 ",
                      32) == 0);
    /* Ends with a whole "é". */
    ck_assert_int_eq((unsigned char)t[0].reason[len - 2], 0xc3);
    ck_assert_int_eq((unsigned char)t[0].reason[len - 1], 0xa9);
    glasspane_free(g);
}
END_TEST

#define SKIP(g, type) glasspane_can_skip(g, type, strlen(type))

/* Only what would change nothing may be skipped. */
START_TEST(can_skip_only_noops)
{
    struct glasspane *g = glasspane_new(GP_IDLE);
    struct gp_transition t[GP_MAX_TRANSITIONS];

    ck_assert(!SKIP(g, "message_update"));      /* idle: it would start */
    ck_assert(SKIP(g, "something_new"));
    ck_assert(SKIP(g, "response"));
    ck_assert_int_eq(feed(g, "{\"type\":\"agent_start\"}", 1000, t), 1);
    ck_assert(SKIP(g, "message_update"));
    ck_assert(SKIP(g, "tool_execution_update"));
    ck_assert(SKIP(g, "turn_start"));
    ck_assert(!SKIP(g, "message_end"));
    ck_assert(!SKIP(g, "agent_end"));
    ck_assert(!SKIP(g, "agent_start"));
    ck_assert(!SKIP(g, "auto_retry_start"));
    ck_assert(!SKIP(g, "compaction_start"));
    ck_assert(!SKIP(g, "extension_ui_request"));
    ck_assert(!SKIP(g, "extension_ui_response"));
    ck_assert(!glasspane_can_skip(g, "message_end\"}", 11)); /* len counts */
    ck_assert(SKIP(g, "message_endx"));         /* not a known type */

    ck_assert_int_eq(feed(g, DIALOG("confirm", "d1", ""), 2000, t), 1);
    ck_assert(!SKIP(g, "message_update"));      /* it would unblock */
    ck_assert_int_eq(feed(g, "{\"type\":\"turn_end\"}", 2001, t), 1);
    ck_assert(SKIP(g, "message_update"));
    ck_assert_int_eq(feed(g, AGENT_END("error", "x"), 2002, t), 0);
    ck_assert(!SKIP(g, "message_update"));      /* it would settle */
    glasspane_free(g);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("glasspane");
    TCase *fixtures = tcase_create("fixtures");
    TCase *rules = tcase_create("rules");
    SRunner *sr;
    int failed;

    tcase_add_test(fixtures, fixture_text);
    tcase_add_test(fixtures, fixture_tool);
    tcase_add_test(fixtures, fixture_length);
    tcase_add_test(fixtures, fixture_slow_sigterm);
    tcase_add_test(fixtures, fixture_retry);
    tcase_add_test(fixtures, fixture_fail);
    tcase_add_test(fixtures, fixture_rpc_confirm_gate);
    tcase_add_test(rules, state_names);
    tcase_add_test(rules, unknown_types_ignored);
    tcase_add_test(rules, garbage_ignored);
    tcase_add_test(rules, compaction_both_names);
    tcase_add_test(rules, compaction_after_done);
    tcase_add_test(rules, compaction_after_overflow);
    tcase_add_test(rules, provisional_settles_after_grace);
    tcase_add_test(rules, provisional_then_retry);
    tcase_add_test(rules, provisional_then_new_run);
    tcase_add_test(rules, provisional_then_exit);
    tcase_add_test(rules, retry_end_success_after_error_end);
    tcase_add_test(rules, aborted_is_error_at_once);
    tcase_add_test(rules, tool_error_is_not_failure);
    tcase_add_test(rules, length_is_done_truncated);
    tcase_add_test(rules, agent_end_without_messages);
    tcase_add_test(rules, blocked_until_answered);
    tcase_add_test(rules, blocked_until_progress);
    tcase_add_test(rules, blocked_until_timeout);
    tcase_add_test(rules, exit_after_done_stays_done);
    tcase_add_test(rules, reason_is_clean_text);
    tcase_add_test(rules, can_skip_only_noops);
    suite_add_tcase(s, fixtures);
    suite_add_tcase(s, rules);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
