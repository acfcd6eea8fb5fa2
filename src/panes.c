/*
 * panes.c - the live glasspanes and the ingestion pipeline.
 *
 * Agents on one host number in the dozens to hundreds: a list under one
 * lock finds a pane; each pane has its own lock so that batches for
 * different agents proceed in parallel while one agent's batches are
 * applied in order.
 */
#include "autoconf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "glasspane.h"
#include "limits.h"
#include "log.h"
#include "metering.h"
#include "panes.h"
#include "store.h"
#include "util.h"

struct pane {
    char *agent;
    struct glasspane *gp;
    pthread_mutex_t lock;
    struct pane *next;
};

struct panes {
    struct store *store;
    panes_observer_fn observe;  /* or NULL */
    void *observe_ctx;
    pthread_mutex_t lock;       /* the list */
    struct pane *list;
};

/* Transitions gathered during one batch. */
struct tr_list {
    struct gp_transition *items;
    size_t n, size;
};

/* Model-call usage gathered during one batch (metering.h). */
struct usage_list {
    struct metering_usage *items;
    size_t n, size;
};

int
panes_new(struct panes **out, struct store *store)
{
    struct panes *p = xcalloc(1, sizeof(*p));

    p->store = store;
    pthread_mutex_init(&p->lock, NULL);
    *out = p;
    return 0;
}

static void
pane_free(struct pane *pane)
{
    glasspane_free(pane->gp);
    pthread_mutex_destroy(&pane->lock);
    free(pane->agent);
    free(pane);
}

void
panes_free(struct panes *p)
{
    struct pane *pane, *next;

    if (p == NULL)
        return;
    for (pane = p->list; pane != NULL; pane = next) {
        next = pane->next;
        pane_free(pane);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static enum gp_state
state_from_name(const char *name)
{
    static const enum gp_state all[] = {GP_IDLE, GP_WORKING, GP_BLOCKED,
                                        GP_DONE, GP_ERROR};
    size_t i;

    for (i = 0; name != NULL && i < sizeof(all) / sizeof(all[0]); i++)
        if (!strcmp(glasspane_state_name(all[i]), name))
            return all[i];
    return GP_IDLE;
}

/* Finds (or loads from the store) agent's pane and locks it. */
static struct pane *
pane_lock(struct panes *p, const char *agent, struct problem *err)
{
    struct pane *pane;
    json_t *doc = NULL;

    pthread_mutex_lock(&p->lock);
    for (pane = p->list; pane != NULL; pane = pane->next)
        if (!strcmp(pane->agent, agent))
            break;
    if (pane == NULL) {
        /* A pane exists only for a registered agent, and starts in the
         * state the store remembers. */
        if (store_agent_get(p->store, agent, &doc, err) < 0) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        pane = xcalloc(1, sizeof(*pane));
        pane->agent = xstrdup(agent);
        pane->gp = glasspane_new(state_from_name(json_string_value(
            json_object_get(doc, "state"))));
        pthread_mutex_init(&pane->lock, NULL);
        pane->next = p->list;
        p->list = pane;
        json_decref(doc);
    }
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_lock(&pane->lock);
    return pane;
}

void
panes_forget(struct panes *p, const char *agent)
{
    struct pane **pp, *gone = NULL;

    pthread_mutex_lock(&p->lock);
    for (pp = &p->list; *pp != NULL; pp = &(*pp)->next) {
        if (!strcmp((*pp)->agent, agent)) {
            gone = *pp;
            *pp = gone->next;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (gone != NULL) {
        /* Wait for a batch in progress on it to finish. */
        pthread_mutex_lock(&gone->lock);
        pthread_mutex_unlock(&gone->lock);
        pane_free(gone);
    }
}

static void
tr_reserve(struct tr_list *l, size_t more)
{
    if (l->n + more <= l->size)
        return;
    l->size = (l->n + more) * 2;
    l->items = xrealloc(l->items, l->size * sizeof(*l->items));
}

/* Feeds one event to the machine, and keeps its usage when it is the
 * final record of a model call (metering_from_pi_event). */
static void
feed(struct pane *pane, const json_t *event, int64_t now,
     struct tr_list *trs, struct usage_list *usage)
{
    tr_reserve(trs, GP_MAX_TRANSITIONS);
    trs->n += (size_t)glasspane_feed(pane->gp, event, now,
                                     trs->items + trs->n,
                                     GP_MAX_TRANSITIONS);
    if (usage->n == usage->size) {
        usage->size = usage->size ? usage->size * 2 : 4;
        usage->items = xrealloc(usage->items,
                                usage->size * sizeof(*usage->items));
    }
    if (metering_from_pi_event(event, &usage->items[usage->n]))
        usage->n++;
}

/*
 * Reads the "type" of a raw pi line without parsing it: pi writes
 * {"type":"...", ...} with type first.  Returns its length (and start in
 * *type), or 0 when the line does not have that shape (then it is parsed
 * as usual).  Only a line that is one object ({ ... }) qualifies.
 */
static size_t
peek_type(const char *line, size_t n, const char **type)
{
    static const char key[] = "\"type\"";
    size_t i = 0, start;

    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\r' ||
                     line[n - 1] == '\t'))
        n--;
    if (n < 2 || line[0] != '{' || line[n - 1] != '}')
        return 0;
    i = 1;
    while (i < n && line[i] == ' ')
        i++;
    if (n - i < sizeof(key) - 1 || memcmp(line + i, key, sizeof(key) - 1))
        return 0;
    i += sizeof(key) - 1;
    while (i < n && line[i] == ' ')
        i++;
    if (i >= n || line[i] != ':')
        return 0;
    i++;
    while (i < n && line[i] == ' ')
        i++;
    if (i >= n || line[i] != '"')
        return 0;
    start = ++i;
    while (i < n && line[i] != '"' && line[i] != '\\')
        i++;
    if (i >= n || line[i] != '"')
        return 0;
    *type = line + start;
    return i - start;
}

static void
reject(json_t *rejected, size_t line, const char *code, const char *detail)
{
    if (json_array_size(rejected) < LIMIT_INGEST_REPORTED)
        json_array_append_new(rejected, json_pack("{s:I, s:s, s:s}", "line",
                                                  (json_int_t)line, "code",
                                                  code, "detail", detail));
}

/* Commits the batch's transitions (or just marks the agent seen), and
 * with them, in the same write, the usage of the model calls it held. */
static int
commit(struct panes *p, const char *agent, const struct tr_list *trs,
       const struct usage_list *usage, struct problem *err)
{
    struct agent_transition *t;
    json_t *doc = NULL;
    size_t i;
    int rc;

    if (trs->n == 0 && (usage == NULL || usage->n == 0)) {
        rc = store_agent_heartbeat(p->store, agent, &doc, err);
        json_decref(doc);
        return rc;
    }
    t = xcalloc(trs->n, sizeof(*t));
    for (i = 0; i < trs->n; i++) {
        t[i].from = glasspane_state_name(trs->items[i].from);
        t[i].to = glasspane_state_name(trs->items[i].to);
        t[i].reason = trs->items[i].reason;
        t[i].substate = trs->items[i].substate;
        t[i].truncated = trs->items[i].truncated;
    }
    if (usage != NULL && usage->n > 0)
        rc = store_agent_ingest(p->store, agent, t, trs->n, usage->items,
                                usage->n, err);
    else
        rc = store_agent_set_state(p->store, agent, t, trs->n, err);
    for (i = 0; rc == 0 && p->observe != NULL && i < trs->n; i++)
        p->observe(p->observe_ctx, agent, t[i].from, t[i].to, t[i].reason);
    free(t);
    return rc;
}

void
panes_set_observer(struct panes *p, panes_observer_fn fn, void *ctx)
{
    p->observe = fn;
    p->observe_ctx = ctx;
}

static json_t *
transitions_doc(const struct tr_list *trs)
{
    json_t *list = json_array();
    size_t i;

    for (i = 0; i < trs->n; i++)
        json_array_append_new(list, json_pack(
            "{s:s, s:s, s:s, s:s, s:b}",
            "from", glasspane_state_name(trs->items[i].from),
            "to", glasspane_state_name(trs->items[i].to),
            "reason", trs->items[i].reason,
            "substate", trs->items[i].substate,
            "truncated", trs->items[i].truncated));
    return list;
}

int
panes_ingest(struct panes *p, const char *agent, const char *text,
             size_t len, json_t *array, json_t **report,
             struct problem *err)
{
    struct pane *pane = pane_lock(p, agent, err);
    struct tr_list trs = {NULL, 0, 0};
    struct usage_list usage = {NULL, 0, 0};
    json_t *rejected = json_array();
    int64_t now = util_now_ms();
    size_t accepted = 0, nrejected = 0, line = 0, i;
    int rc = -1;

    if (pane == NULL) {
        json_decref(rejected);
        return -1;
    }
    if (text != NULL) {
        const char *pos = text, *end = text + len;

        while (pos < end) {
            const char *nl = memchr(pos, '\n', (size_t)(end - pos));
            size_t n = nl ? (size_t)(nl - pos) : (size_t)(end - pos);
            json_error_t jerr;
            json_t *ev;
            const char *type;
            size_t k, tlen;

            line++;
            for (k = 0; k < n && (pos[k] == ' ' || pos[k] == '\t' ||
                                  pos[k] == '\r'); k++)
                ;
            if (k == n) {
                /* blank line: nothing to say */
            } else if (n > LIMIT_INGEST_LINE) {
                reject(rejected, line, "line_too_long",
                       "the line is longer than the limit");
                nrejected++;
            } else if ((tlen = peek_type(pos, n, &type)) > 0 &&
                       glasspane_can_skip(pane->gp, type, tlen)) {
                /* The fast path: a streaming delta (message_update while
                 * working) cannot move the machine; parsing it would be
                 * most of the cost of a stream.  */
                accepted++;
            } else if ((ev = json_loadb(pos, n, JSON_DECODE_ANY,
                                        &jerr)) == NULL) {
                /* (DECODE_ANY: a scalar line is not_an_object, below) */
                reject(rejected, line, "invalid_json", jerr.text);
                nrejected++;
            } else if (!json_is_object(ev)) {
                reject(rejected, line, "not_an_object",
                       "an event must be a JSON object");
                json_decref(ev);
                nrejected++;
            } else {
                feed(pane, ev, now, &trs, &usage);
                json_decref(ev);
                accepted++;
            }
            pos = nl ? nl + 1 : end;
        }
    } else {
        for (i = 0; i < json_array_size(array); i++) {
            const json_t *ev = json_array_get(array, i);

            if (!json_is_object(ev)) {
                reject(rejected, i + 1, "not_an_object",
                       "an event must be a JSON object");
                nrejected++;
                continue;
            }
            feed(pane, ev, now, &trs, &usage);
            accepted++;
        }
    }
    if (commit(p, agent, &trs, &usage, err) < 0) {
        /* The machine moved but the store did not: forget the machine so
         * the next batch starts again from what was committed. */
        pthread_mutex_unlock(&pane->lock);
        panes_forget(p, agent);
        goto out;
    }
    *report = json_pack("{s:I, s:I, s:o, s:o, s:s, s:s}",
                        "accepted", (json_int_t)accepted,
                        "rejected_count", (json_int_t)nrejected,
                        "rejected", rejected,
                        "transitions", transitions_doc(&trs),
                        "state",
                        glasspane_state_name(glasspane_state(pane->gp)),
                        "substate", glasspane_substate(pane->gp));
    rejected = NULL;
    pthread_mutex_unlock(&pane->lock);
    rc = 0;
out:
    json_decref(rejected);
    free(trs.items);
    free(usage.items);
    return rc;
}

void
panes_tick(struct panes *p)
{
    struct pane *pane;
    char **due = NULL;
    size_t ndue = 0, i;
    int64_t now = util_now_ms();

    /* Collect the agents with a deadline now, then settle each under its
     * own lock (never holding the list lock across a store write). */
    pthread_mutex_lock(&p->lock);
    for (pane = p->list; pane != NULL; pane = pane->next) {
        int64_t deadline;

        pthread_mutex_lock(&pane->lock);
        deadline = glasspane_pending_deadline(pane->gp);
        pthread_mutex_unlock(&pane->lock);
        if (deadline != 0 && deadline <= now) {
            due = xrealloc(due, (ndue + 1) * sizeof(*due));
            due[ndue++] = xstrdup(pane->agent);
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < ndue; i++) {
        struct problem err = {0};
        struct tr_list trs = {NULL, 0, 0};

        pane = pane_lock(p, due[i], &err);
        if (pane != NULL) {
            tr_reserve(&trs, GP_MAX_TRANSITIONS);
            trs.n = (size_t)glasspane_tick(pane->gp, now, trs.items,
                                           GP_MAX_TRANSITIONS);
            if (trs.n > 0 && commit(p, due[i], &trs, NULL, &err) < 0)
                log_warnx("panes: settling %s: %s", due[i], err.detail);
            pthread_mutex_unlock(&pane->lock);
        }
        problem_clear(&err);
        free(trs.items);
        free(due[i]);
    }
    free(due);
}

int
panes_exit(struct panes *p, const char *agent, int status,
           const char **state, struct problem *err)
{
    struct pane *pane = pane_lock(p, agent, err);
    struct tr_list trs = {NULL, 0, 0};
    int rc = 0;

    if (pane == NULL)
        return -1;
    tr_reserve(&trs, GP_MAX_TRANSITIONS);
    trs.n = (size_t)glasspane_exit(pane->gp, status, util_now_ms(),
                                   trs.items, GP_MAX_TRANSITIONS);
    if (trs.n > 0 && commit(p, agent, &trs, NULL, err) < 0) {
        pthread_mutex_unlock(&pane->lock);
        panes_forget(p, agent);
        free(trs.items);
        return -1;
    }
    if (state != NULL)
        *state = glasspane_state_name(glasspane_state(pane->gp));
    pthread_mutex_unlock(&pane->lock);
    free(trs.items);
    return rc;
}
