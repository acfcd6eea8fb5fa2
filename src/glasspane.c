/*
 * glasspane.c - the agent state machine (docs/internals/glasspane.md).
 *
 * Every event type the machine knows maps, through one table, to a kind;
 * glasspane_feed does the two generic steps every kind shares (settle a
 * provisional end that the event proves was final, end a dialog that the
 * event proves was answered) and then the kind's own step.  The common
 * event (message_update while working) costs a hash lookup, a table scan
 * with length-first compares, and no allocation.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glasspane.h"
#include "util.h"

/* Dialogs that may wait at once; more than one is rare (two extensions
 * asking in the same tool call), the oldest is forgotten beyond this. */
#define GP_MAX_WAITS 4
/* Bytes of a dialog id kept for matching (pi's are 36-byte UUIDs). */
#define GP_WAIT_ID_LEN 64
/* A dialog timeout beyond a week is taken as none (waits for an answer). */
#define GP_MAX_DIALOG_TIMEOUT_MS (7LL * 24 * 3600 * 1000)

enum gp_sub { SUB_NONE, SUB_RETRYING, SUB_COMPACTING };

static const char *const sub_names[] = {"", "retrying", "compacting"};

/* What an event type means to the machine. */
enum kind {
    K_ACTIVITY,         /* turn_*, message_*, tool_execution_*: working */
    K_AGENT_START,      /* a run (or a retry attempt) begins */
    K_AGENT_END,        /* a run ends: its last assistant stopReason says how */
    K_RETRY_START,      /* auto_retry_start: a provisional end was not final */
    K_RETRY_END,        /* auto_retry_end{success} */
    K_COMPACTION_START, /* auto_compaction_start / compaction_start */
    K_COMPACTION_END,   /* auto_compaction_end / compaction_end */
    K_UI_REQUEST,       /* extension_ui_request: a dialog, or fire-and-forget */
    K_UI_RESPONSE       /* extension_ui_response: a dialog's answer */
};

/* clang-format off */
#define EK(name, kind) {name, sizeof(name) - 1, kind}
/* clang-format on */

/* Most frequent first: a transcript is mostly message_update. */
static const struct event_kind {
    const char *type;
    size_t len;
    enum kind kind;
} event_kinds[] = {
    EK("message_update", K_ACTIVITY),
    EK("tool_execution_update", K_ACTIVITY),
    EK("message_start", K_ACTIVITY),
    EK("message_end", K_ACTIVITY),
    EK("turn_start", K_ACTIVITY),
    EK("turn_end", K_ACTIVITY),
    EK("tool_execution_start", K_ACTIVITY),
    EK("tool_execution_end", K_ACTIVITY),
    EK("agent_start", K_AGENT_START),
    EK("agent_end", K_AGENT_END),
    EK("auto_retry_start", K_RETRY_START),
    EK("auto_retry_end", K_RETRY_END),
    EK("auto_compaction_start", K_COMPACTION_START),
    EK("compaction_start", K_COMPACTION_START),
    EK("auto_compaction_end", K_COMPACTION_END),
    EK("compaction_end", K_COMPACTION_END),
    EK("extension_ui_request", K_UI_REQUEST),
    EK("extension_ui_response", K_UI_RESPONSE),
};

/* extension_ui_request methods that wait for an answer; the others
 * (notify, setStatus, setWidget, setTitle, set_editor_text) do not. */
/* clang-format off */
static const char *const dialog_methods[] = {
    "confirm", "select", "input", "editor",
};

/* How a run ended; STOP_NONE: no stopReason, STOP_OTHER: one pi did not
 * have when this was written. */
enum stop {
    STOP_NONE, STOP_STOP, STOP_LENGTH, STOP_TOOL_USE, STOP_ERROR,
    STOP_ABORTED, STOP_OTHER
};

static const struct {
    const char *name;
    enum stop stop;
} stop_reasons[] = {
    {"stop", STOP_STOP}, {"length", STOP_LENGTH}, {"toolUse", STOP_TOOL_USE},
    {"error", STOP_ERROR}, {"aborted", STOP_ABORTED},
};

static const char *const state_names[] = {
    "idle", "working", "blocked", "done", "error",
};
/* clang-format on */

struct gp_wait {
    char id[GP_WAIT_ID_LEN];
    size_t id_len;      /* full length, even when id is cut */
    const char *method; /* static: one of dialog_methods */
    int64_t timeout_ms; /* 0: none */
    int64_t deadline;   /* 0: waits for ever */
};

struct glasspane {
    enum gp_state state;
    enum gp_sub sub;

    /* A provisional agent_end (stopReason error): working until pi either
     * announces a retry or shows that none comes. */
    int provisional;
    int64_t provisional_deadline;
    char run_error[GP_REASON_LEN]; /* its errorMessage */

    /* Compaction: where to return when it ends without a retry. */
    int compacting;
    enum gp_state before_compaction;
    enum gp_sub sub_before_compaction;
    int provisional_before_compaction;

    /* Dialogs waiting for an answer, and where to return after them. */
    struct gp_wait waits[GP_MAX_WAITS];
    int nwaits;
    enum gp_state before_block;
    enum gp_sub sub_before_block;

    /* The last assistant message_end, for an agent_end without messages. */
    enum stop last_stop;
    char last_error[GP_REASON_LEN];
};

/* Where transitions go during one call. */
struct out {
    struct gp_transition *v;
    int max;
    int n;
};

static void move(struct glasspane *g, struct out *o, enum gp_state to,
                 enum gp_sub sub, int truncated, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void clean_reason(char *s, size_t size, int cut);
static const struct event_kind *kind_of(const json_t *type);
static const struct event_kind *kind_of_bytes(const char *s, size_t len);
static const char *dialog_method(const json_t *event);
static enum stop stop_of(const json_t *message, const char **raw,
                         const char **error);
static enum stop final_stop(const struct glasspane *g, const json_t *event,
                            const char **raw, const char **error);
static size_t bounded_len(const char *s, size_t max);
static void copy_str(char *dst, size_t size, const char *src);
static const char *str_field(const json_t *obj, const char *key);
static long long int_field(const json_t *obj, const char *key);
static void settle_provisional(struct glasspane *g, struct out *o);
static void end_dialogs(struct glasspane *g, struct out *o, const char *after);
static void on_agent_end(struct glasspane *g, const json_t *event,
                         int64_t now_ms, struct out *o);
static void on_retry(struct glasspane *g, enum kind kind, const json_t *event,
                     struct out *o);
static void on_compaction(struct glasspane *g, enum kind kind, const char *type,
                          const json_t *event, struct out *o);
static void on_dialog(struct glasspane *g, const char *method,
                      const json_t *event, int64_t now_ms, struct out *o);
static void on_answer(struct glasspane *g, const json_t *event, struct out *o);

const char *
glasspane_state_name(enum gp_state state)
{
    if ((unsigned)state >= sizeof(state_names) / sizeof(state_names[0]))
        return "unknown";
    return state_names[state];
}

struct glasspane *
glasspane_new(enum gp_state initial)
{
    struct glasspane *g = xcalloc(1, sizeof(*g));

    g->state = initial;
    return g;
}

void
glasspane_free(struct glasspane *g)
{
    free(g);
}

enum gp_state
glasspane_state(const struct glasspane *g)
{
    return g->state;
}

const char *
glasspane_substate(const struct glasspane *g)
{
    return sub_names[g->sub];
}

int64_t
glasspane_pending_deadline(const struct glasspane *g)
{
    int64_t next = g->provisional ? g->provisional_deadline : 0;
    int i;

    for (i = 0; i < g->nwaits; i++)
        if (g->waits[i].deadline && (!next || g->waits[i].deadline < next))
            next = g->waits[i].deadline;
    return next;
}

/*
 * Only plain activity can be skipped, and only while it would change
 * nothing: working, no provisional end (which any event may settle), no
 * dialog (which any activity ends).  message_end is never skipped: it
 * keeps the last stopReason for an agent_end without messages.  Unknown
 * types are skipped: feeding them is a no-op too.
 */
int
glasspane_can_skip(const struct glasspane *g, const char *type, size_t len)
{
    const struct event_kind *ek = kind_of_bytes(type, len);

    if (!ek)
        return 1;
    return ek->kind == K_ACTIVITY && g->state == GP_WORKING &&
           !g->provisional && !g->nwaits &&
           !(ek->len == 11 && !memcmp(ek->type, "message_end", 11));
}

/*
 * The generic steps, then the kind's own.  A pending provisional end is
 * settled as error by any event that shows pi did not retry: everything
 * but auto_retry_start (the retry itself), a compaction start (pi
 * compacting after a context overflow, possibly to retry), and
 * extension_ui_response (the client's line, not pi's).  A waiting dialog
 * ends, as answered, on any event that could only come after its answer:
 * pi's agent loop is stopped inside the tool call that asked, so further
 * progress means the call returned.
 */
int
glasspane_feed(struct glasspane *g, const json_t *event, int64_t now_ms,
               struct gp_transition *out, int max)
{
    struct out o = {out, max, 0};
    const struct event_kind *ek;
    const char *method = NULL;
    const char *type;

    if (!g || !json_is_object(event))
        return 0;
    ek = kind_of(json_object_get(event, "type"));
    if (!ek)
        return 0;
    type = ek->type;

    switch (ek->kind) {
    case K_UI_REQUEST:
        method = dialog_method(event);
        if (!method)
            return 0; /* fire-and-forget: changes nothing */
        break;
    case K_COMPACTION_END:
        if (!g->compacting)
            return 0; /* no start seen: nothing to end */
        break;
    case K_UI_RESPONSE:
        on_answer(g, event, &o);
        return o.n;
    default:
        break;
    }

    if (g->provisional && ek->kind != K_RETRY_START &&
        ek->kind != K_COMPACTION_START &&
        !(ek->kind == K_RETRY_END &&
          !json_is_true(json_object_get(event, "success"))))
        settle_provisional(g, &o);

    if (g->state == GP_BLOCKED && ek->kind != K_UI_REQUEST &&
        ek->kind != K_AGENT_END)
        end_dialogs(g, &o, type);

    switch (ek->kind) {
    case K_ACTIVITY:
        if (ek->len == 11 && !memcmp(type, "message_end", 11)) {
            const json_t *msg = json_object_get(event, "message");
            const char *role = str_field(msg, "role");
            const char *error = NULL;
            const char *raw = NULL;

            if (role && !strcmp(role, "assistant")) {
                g->last_stop = stop_of(msg, &raw, &error);
                copy_str(g->last_error, sizeof(g->last_error), error);
            }
        }
        move(g, &o, GP_WORKING, g->sub, 0, "%s", type);
        break;
    case K_AGENT_START:
        g->nwaits = 0;
        g->last_stop = STOP_NONE;
        move(g, &o, GP_WORKING, g->sub, 0, "agent_start");
        break;
    case K_AGENT_END:
        on_agent_end(g, event, now_ms, &o);
        break;
    case K_RETRY_START:
    case K_RETRY_END:
        on_retry(g, ek->kind, event, &o);
        break;
    case K_COMPACTION_START:
    case K_COMPACTION_END:
        on_compaction(g, ek->kind, type, event, &o);
        break;
    case K_UI_REQUEST:
        on_dialog(g, method, event, now_ms, &o);
        break;
    case K_UI_RESPONSE:
        break;
    }
    return o.n;
}

int
glasspane_tick(struct glasspane *g, int64_t now_ms, struct gp_transition *out,
               int max)
{
    struct out o = {out, max, 0};
    const struct gp_wait *expired = NULL;
    struct gp_wait last;
    int i, j;

    if (!g)
        return 0;
    if (g->provisional && now_ms >= g->provisional_deadline)
        settle_provisional(g, &o);

    for (i = 0, j = 0; i < g->nwaits; i++) {
        if (g->waits[i].deadline && now_ms >= g->waits[i].deadline) {
            last = g->waits[i];
            expired = &last;
            continue;
        }
        g->waits[j++] = g->waits[i];
    }
    g->nwaits = j;
    if (expired && !g->nwaits && g->state == GP_BLOCKED)
        move(g, &o, g->before_block, g->sub_before_block, 0,
             "%s timed out after %lld ms", expired->method,
             (long long)expired->timeout_ms);
    return o.n;
}

int
glasspane_exit(struct glasspane *g, int status, int64_t now_ms,
               struct gp_transition *out, int max)
{
    struct out o = {out, max, 0};
    char how[64];
    int sig = status > 128 && status < 128 + 65 ? status - 128 : 0;

    (void)now_ms;
    if (!g)
        return 0;
    if (sig)
        snprintf(how, sizeof(how), "process died (signal %d)", sig);
    else
        snprintf(how, sizeof(how), "exited with status %d", status);

    g->nwaits = 0;
    if (g->compacting) {
        g->compacting = 0;
        if (g->provisional_before_compaction) {
            g->provisional = 1;
        } else if (g->before_compaction == GP_DONE ||
                   g->before_compaction == GP_ERROR ||
                   (g->before_compaction == GP_IDLE && status == 0)) {
            move(g, &o, g->before_compaction, SUB_NONE, 0,
                 "%s during compaction, after the run settled", how);
            return o.n;
        }
    }
    if (g->provisional) {
        settle_provisional(g, &o);
        return o.n;
    }
    switch (g->state) {
    case GP_DONE:
    case GP_ERROR:
        break;
    case GP_IDLE:
        if (status != 0)
            move(g, &o, GP_ERROR, SUB_NONE, 0, "%s before any run", how);
        break;
    case GP_WORKING:
    case GP_BLOCKED:
        if (sig)
            move(g, &o, GP_ERROR, SUB_NONE, 0,
                 "process died mid-run (signal %d)", sig);
        else
            move(g, &o, GP_ERROR, SUB_NONE, 0,
                 "exited with status %d before the run settled", status);
        break;
    }
    return o.n;
}

/*
 * Sets the state and sub-state and reports the change, unless nothing
 * changed.  The reason is only formatted when it is reported, so the
 * common call (working -> working) costs a comparison.
 */
static void
move(struct glasspane *g, struct out *o, enum gp_state to, enum gp_sub sub,
     int truncated, const char *fmt, ...)
{
    struct gp_transition *t;
    enum gp_state from = g->state;
    va_list ap;
    int len;

    if (to != GP_WORKING)
        sub = SUB_NONE;
    if (from == to && g->sub == sub)
        return;
    g->state = to;
    g->sub = sub;
    if (o->n >= o->max)
        return;
    t = &o->v[o->n++];
    t->from = from;
    t->to = to;
    t->truncated = truncated;
    copy_str(t->substate, sizeof(t->substate), sub_names[sub]);
    va_start(ap, fmt);
    len = vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
    va_end(ap);
    clean_reason(t->reason, sizeof(t->reason), len >= (int)sizeof(t->reason));
}

/*
 * Makes a reason one line of valid text: control characters become
 * spaces, and when vsnprintf cut it (cut), a UTF-8 sequence split at the
 * end is dropped whole.
 */
static void
clean_reason(char *s, size_t size, int cut)
{
    size_t len = bounded_len(s, size - 1);
    size_t i;

    if (cut && len > 0) {
        size_t lead = len - 1;
        size_t need = 1;
        unsigned char c;

        while (lead > 0 && ((unsigned char)s[lead] & 0xC0) == 0x80)
            lead--;
        c = (unsigned char)s[lead];
        if (c >= 0xF0)
            need = 4;
        else if (c >= 0xE0)
            need = 3;
        else if (c >= 0xC0)
            need = 2;
        if (lead + need > len) {
            len = lead;
            s[len] = '\0';
        }
    }
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s[i] = ' ';
}

/* The table entry for a "type" value, or NULL when unknown. */
static const struct event_kind *
kind_of(const json_t *type)
{
    if (!json_is_string(type))
        return NULL;
    return kind_of_bytes(json_string_value(type), json_string_length(type));
}

static const struct event_kind *
kind_of_bytes(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(event_kinds) / sizeof(event_kinds[0]); i++)
        if (event_kinds[i].len == len && !memcmp(event_kinds[i].type, s, len))
            return &event_kinds[i];
    return NULL;
}

/* The static name of the request's method when it waits for an answer;
 * NULL for fire-and-forget and unknown methods. */
static const char *
dialog_method(const json_t *event)
{
    const char *method = str_field(event, "method");
    size_t i;

    if (!method)
        return NULL;
    for (i = 0; i < sizeof(dialog_methods) / sizeof(dialog_methods[0]); i++)
        if (!strcmp(method, dialog_methods[i]))
            return dialog_methods[i];
    return NULL;
}

/* The stopReason of an assistant message, as a value and as written
 * (raw), and its errorMessage; both borrowed, or NULL. */
static enum stop
stop_of(const json_t *message, const char **raw, const char **error)
{
    const char *reason = str_field(message, "stopReason");
    size_t i;

    *raw = reason;
    *error = str_field(message, "errorMessage");
    if (!reason)
        return STOP_NONE;
    for (i = 0; i < sizeof(stop_reasons) / sizeof(stop_reasons[0]); i++)
        if (!strcmp(reason, stop_reasons[i].name))
            return stop_reasons[i].stop;
    return STOP_OTHER;
}

/*
 * How a run ended: the stopReason of the last assistant message in
 * agent_end's messages (the ones after it are tool results or the user's),
 * else of the last assistant message_end seen, else STOP_NONE.
 */
static enum stop
final_stop(const struct glasspane *g, const json_t *event, const char **raw,
           const char **error)
{
    const json_t *messages = json_object_get(event, "messages");
    size_t i;

    if (json_is_array(messages)) {
        for (i = json_array_size(messages); i > 0; i--) {
            const json_t *m = json_array_get(messages, i - 1);
            const char *role = str_field(m, "role");

            if (role && !strcmp(role, "assistant"))
                return stop_of(m, raw, error);
        }
    }
    *raw = "?";
    *error = g->last_stop != STOP_NONE ? g->last_error : NULL;
    return g->last_stop;
}

/* strlen(s), or max when s is longer (strnlen is not C11). */
static size_t
bounded_len(const char *s, size_t max)
{
    const char *end = memchr(s, '\0', max);

    return end ? (size_t)(end - s) : max;
}

/* Copies src (NULL = "") into dst, cut to fit. */
static void
copy_str(char *dst, size_t size, const char *src)
{
    size_t len = src ? bounded_len(src, size - 1) : 0;

    memcpy(dst, src ? src : "", len);
    dst[len] = '\0';
}

/* obj[key] when obj is an object and the value a string; else NULL. */
static const char *
str_field(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* obj[key] as an integer (a JSON integer or real), clamped to +-2^53 so
 * that arithmetic on it cannot overflow; 0 when absent. */
static long long
int_field(const json_t *obj, const char *key)
{
    const long long limit = 1LL << 53;
    const json_t *v = json_object_get(obj, key);
    double d;

    if (json_is_integer(v)) {
        long long i = (long long)json_integer_value(v);

        return i > limit ? limit : i < -limit ? -limit : i;
    }
    if (!json_is_real(v))
        return 0;
    d = json_real_value(v); /* jansson never yields NaN or inf */
    if (d < (double)-limit)
        return -limit;
    return d > (double)limit ? limit : (long long)d;
}

/* No retry came: the provisional end was final. */
static void
settle_provisional(struct glasspane *g, struct out *o)
{
    g->provisional = 0;
    if (g->run_error[0])
        move(g, o, GP_ERROR, SUB_NONE, 0, "stopReason error: %s", g->run_error);
    else
        move(g, o, GP_ERROR, SUB_NONE, 0, "stopReason error");
}

/* An event that only comes after an answer: every dialog was answered. */
static void
end_dialogs(struct glasspane *g, struct out *o, const char *after)
{
    const char *method = g->nwaits ? g->waits[g->nwaits - 1].method : "dialog";

    g->nwaits = 0;
    move(g, o, GP_WORKING, g->sub_before_block, 0, "%s answered (%s followed)",
         method, after);
}

/*
 * The run ended.  stop and length settle as done; error is provisional
 * (pi may retry); aborted settles as error.  toolUse at the very end, no
 * stopReason, or one this module does not know mean the run ended without
 * a final answer: error, with the reason saying which.
 */
static void
on_agent_end(struct glasspane *g, const json_t *event, int64_t now_ms,
             struct out *o)
{
    const char *error = NULL;
    const char *raw = NULL;
    enum stop stop = final_stop(g, event, &raw, &error);

    g->nwaits = 0; /* dialogs do not outlive their run */
    g->compacting = 0;
    g->last_stop = STOP_NONE;
    switch (stop) {
    case STOP_STOP:
        move(g, o, GP_DONE, SUB_NONE, 0, "stopReason stop");
        break;
    case STOP_LENGTH:
        move(g, o, GP_DONE, SUB_NONE, 1, "stopReason length");
        break;
    case STOP_ERROR:
        g->provisional = 1;
        g->provisional_deadline = now_ms + GLASSPANE_GRACE_MS;
        copy_str(g->run_error, sizeof(g->run_error), error);
        move(g, o, GP_WORKING, g->state == GP_WORKING ? g->sub : SUB_NONE, 0,
             "agent_end stopReason error (provisional)");
        break;
    case STOP_ABORTED:
        if (error)
            move(g, o, GP_ERROR, SUB_NONE, 0, "stopReason aborted: %s", error);
        else
            move(g, o, GP_ERROR, SUB_NONE, 0, "stopReason aborted");
        break;
    case STOP_TOOL_USE:
        move(g, o, GP_ERROR, SUB_NONE, 0,
             "stopReason toolUse at agent_end: no final answer");
        break;
    case STOP_NONE:
        move(g, o, GP_ERROR, SUB_NONE, 0,
             "agent_end without an assistant stopReason");
        break;
    case STOP_OTHER:
        move(g, o, GP_ERROR, SUB_NONE, 0, "stopReason %s (unknown)", raw);
        break;
    }
}

/*
 * auto_retry_start: the provisional end was not final; the backoff and
 * the attempts that follow are "working", sub-state "retrying", until
 * auto_retry_end.  success=true only clears the sub-state (a provisional
 * end still pending was settled by the generic step: older pi reports
 * success=true after a retry that ended in a non-retryable error);
 * success=false is the run's failure.
 */
static void
on_retry(struct glasspane *g, enum kind kind, const json_t *event,
         struct out *o)
{
    const char *error;

    if (kind == K_RETRY_START) {
        g->provisional = 0;
        error = str_field(event, "errorMessage");
        move(g, o, GP_WORKING, SUB_RETRYING, 0,
             "auto_retry_start attempt=%lld/%lld delayMs=%lld: %s",
             int_field(event, "attempt"), int_field(event, "maxAttempts"),
             int_field(event, "delayMs"), error ? error : "");
        return;
    }
    if (json_is_true(json_object_get(event, "success"))) {
        if (g->state == GP_WORKING)
            move(g, o, GP_WORKING, SUB_NONE, 0,
                 "auto_retry_end success=true attempt=%lld",
                 int_field(event, "attempt"));
        return;
    }
    g->provisional = 0;
    error = str_field(event, "finalError");
    if (!error)
        error = str_field(event, "errorMessage");
    if (!error && g->run_error[0])
        error = g->run_error;
    move(g, o, GP_ERROR, SUB_NONE, 0, "auto_retry_end success=false: %s",
         error ? error : "no error message");
}

/*
 * Compaction is work ("compacting"), also when pi compacts after a run
 * settled (threshold compaction follows agent_end) or after a provisional
 * end (a context overflow, compacted and then retried).  At its end the
 * machine goes where the stream says: on to work when pi will retry,
 * back to done/error/idle when it ran after the run settled, to error
 * when it followed a provisional end and no retry comes.
 */
static void
on_compaction(struct glasspane *g, enum kind kind, const char *type,
              const json_t *event, struct out *o)
{
    const char *detail;
    enum gp_state back;

    if (kind == K_COMPACTION_START) {
        if (g->compacting)
            return;
        g->compacting = 1;
        g->before_compaction = g->state;
        g->sub_before_compaction = g->sub;
        g->provisional_before_compaction = g->provisional;
        g->provisional = 0;
        detail = str_field(event, "reason");
        if (detail)
            move(g, o, GP_WORKING, SUB_COMPACTING, 0, "%s (%s)", type, detail);
        else
            move(g, o, GP_WORKING, SUB_COMPACTING, 0, "%s", type);
        return;
    }

    g->compacting = 0;
    back = g->before_compaction;
    if (json_is_true(json_object_get(event, "willRetry"))) {
        move(g, o, GP_WORKING,
             back == GP_WORKING ? g->sub_before_compaction : SUB_NONE, 0,
             "%s: will retry", type);
        return;
    }
    if (g->provisional_before_compaction) {
        settle_provisional(g, o);
        return;
    }
    detail = str_field(event, "errorMessage");
    if (back != GP_DONE && back != GP_ERROR && back != GP_IDLE)
        back = GP_WORKING;
    if (detail)
        move(g, o, back, g->sub_before_compaction, 0, "%s: %s", type, detail);
    else
        move(g, o, back, g->sub_before_compaction, 0, "%s", type);
}

/* A dialog that waits: blocked until it is answered. */
static void
on_dialog(struct glasspane *g, const char *method, const json_t *event,
          int64_t now_ms, struct out *o)
{
    const json_t *id = json_object_get(event, "id");
    const char *title = str_field(event, "title");
    long long timeout = int_field(event, "timeout");
    struct gp_wait *w;

    if (g->nwaits == GP_MAX_WAITS) {
        memmove(&g->waits[0], &g->waits[1],
                sizeof(g->waits[0]) * (GP_MAX_WAITS - 1));
        g->nwaits--;
    }
    w = &g->waits[g->nwaits++];
    copy_str(w->id, sizeof(w->id), json_string_value(id));
    w->id_len = json_is_string(id) ? json_string_length(id) : 0;
    w->method = method;
    if (timeout <= 0 || timeout > GP_MAX_DIALOG_TIMEOUT_MS)
        timeout = 0;
    w->timeout_ms = timeout;
    w->deadline = timeout ? now_ms + timeout : 0;

    if (g->state == GP_BLOCKED)
        return;
    g->before_block = g->state;
    g->sub_before_block = g->sub;
    move(g, o, GP_BLOCKED, SUB_NONE, 0, "waiting for %s: %s", method,
         title ? title : "");
}

/* extension_ui_response with the id of a waiting dialog: that one is
 * answered; blocked ends with the last of them. */
static void
on_answer(struct glasspane *g, const json_t *event, struct out *o)
{
    const json_t *id = json_object_get(event, "id");
    const char *method;
    size_t len;
    int i;

    if (!json_is_string(id))
        return;
    len = json_string_length(id);
    for (i = 0; i < g->nwaits; i++)
        if (g->waits[i].id_len == len &&
            !strncmp(g->waits[i].id, json_string_value(id),
                     sizeof(g->waits[i].id) - 1))
            break;
    if (i == g->nwaits)
        return;
    method = g->waits[i].method;
    memmove(&g->waits[i], &g->waits[i + 1],
            sizeof(g->waits[0]) * (size_t)(g->nwaits - i - 1));
    g->nwaits--;
    if (g->nwaits || g->state != GP_BLOCKED)
        return;
    move(g, o, g->before_block, g->sub_before_block, 0, "%s %s", method,
         json_is_true(json_object_get(event, "cancelled")) ? "cancelled"
                                                           : "answered");
}
