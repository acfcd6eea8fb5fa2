/*
 * session.c - the registry of open sessions: begin, append, annotate,
 * end, recovery after a crash, retention, and followers (parked SSE
 * streams; the socket's polling loop).  The file itself (writing,
 * reading) is session_file.c.  See session.h and
 * docs/internals/sessions.md.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "limits.h"
#include "log.h"
#include "session.h"
#include "store.h"
#include "util.h"

/* The socket follower's output buffer cap: a page of entries. */
#define FOLLOW_BUF_BYTES (16 * 1024 * 1024)
/* Retention runs this often, and soon after a session ends. */
#define PRUNE_EVERY_MS  60000

/* --- the registry ---------------------------------------------------- */

struct open_session {
    char *agent;
    int64_t id;
    char *path;                 /* absolute */
    struct session_file *f;
    char state[16];             /* last annotated; "" = none */
    int ended;                  /* exit written, index row being closed */
    struct open_session *next;
};

struct waiter {
    int64_t id;
    int64_t since_ms;
    void (*wake)(void *ctx, enum session_wake why);
    void *ctx;
    struct waiter *next;
};

/* Wakes gathered under the lock, called after it. */
struct wake_list {
    struct waiter *head;
};

struct sessions {
    char *data_dir;
    char *dir;                  /* data_dir/sessions */
    struct store *store;
    int64_t max_age_ms, max_bytes;
    int64_t heartbeat_ms;
    size_t max_followers;
    size_t followers;
    pthread_mutex_t lock;       /* everything below */
    struct open_session *open;
    struct waiter *waiters;
    int closing;
    int prune_due;
    int64_t next_prune_ms;
};

static void
wake_take(struct sessions *ss, struct wake_list *wl, int64_t id, int all,
          int64_t parked_before)
{
    struct waiter **pp = &ss->waiters, *w;

    while ((w = *pp) != NULL) {
        if ((all || w->id == id) &&
            (parked_before < 0 || w->since_ms <= parked_before)) {
            *pp = w->next;
            w->next = wl->head;
            wl->head = w;
        } else {
            pp = &w->next;
        }
    }
}

static void
wake_run(struct wake_list *wl, enum session_wake why)
{
    struct waiter *w, *next;

    for (w = wl->head; w != NULL; w = next) {
        next = w->next;
        w->wake(w->ctx, why);
        free(w);
    }
    wl->head = NULL;
}

static struct open_session *
find_agent(struct sessions *ss, const char *agent)
{
    struct open_session *o;

    for (o = ss->open; o != NULL; o = o->next)
        if (!o->ended && strcmp(o->agent, agent) == 0)
            return o;
    return NULL;
}

static void
time_now(char out[UTIL_TIME_LEN])
{
    util_format_time(util_now_ms(), out);
}

/* Appends one annotation (compact JSON, stolen) to o; lock held. */
static void
annotate(struct open_session *o, json_t *note)
{
    char *text = json_dumps(note, JSON_COMPACT);

    json_decref(note);
    if (text == NULL)
        return;
    if (session_file_append(o->f, text, strlen(text)) < 0)
        log_warn("session: %s", o->path);
    free(text);
}

/*
 * How a run a crash interrupted ended, from what the store committed, not
 * from the file (an agent could print lines that look like Colibri's own
 * annotations): the glasspane's state if it is this run's (set since the
 * session started) and settled (done, error), else error; the exit
 * status if the process record is this run's (the pid in the file's
 * name) and has one, else none.
 */
static void
recover_outcome(const json_t *o, const char *rel, char *state,
                size_t statelen, int *status)
{
    const char *to = json_string_value(json_object_get(o, "state"));
    const char *base = strrchr(rel, '/');
    const char *dash = base ? strchr(base, '-') : NULL;
    long pid = dash ? strtol(dash + 1, NULL, 10) : 0;

    snprintf(state, statelen, "error");
    if (to != NULL && (!strcmp(to, "done") || !strcmp(to, "error")) &&
        json_integer_value(json_object_get(o, "state_since")) >=
            json_integer_value(json_object_get(o, "started_at")))
        snprintf(state, statelen, "%s", to);
    *status = -1;
    if (pid > 0 && json_is_integer(json_object_get(o, "exit_status")) &&
        json_integer_value(json_object_get(o, "pid")) == pid)
        *status = (int)json_integer_value(json_object_get(o,
                                                          "exit_status"));
}

/* Closes what a crash left open. */
static int
recover(struct sessions *ss, struct problem *err)
{
    json_t *open_list = NULL;
    size_t i;

    if (store_session_open_list(ss->store, &open_list, err) < 0)
        return -1;
    for (i = 0; i < json_array_size(open_list); i++) {
        json_t *o = json_array_get(open_list, i);
        int64_t id = json_integer_value(json_object_get(o, "id"));
        const char *rel = json_string_value(json_object_get(o, "path"));
        char *path = xasprintf("%s/%s", ss->data_dir, rel);
        struct session_end end;
        struct stat sb;
        char state[16];
        int status;

        memset(&end, 0, sizeof(end));
        recover_outcome(o, rel, state, sizeof(state), &status);
        session_file_count(path, &end.size, &end.lines);
        end.ended_at = stat(path, &sb) == 0
                           ? (int64_t)sb.st_mtime * 1000 +
                                 (int64_t)(sb.st_mtim.tv_nsec / 1000000)
                           : util_now_ms();
        end.state = state;
        end.exit_status = status;
        if (store_session_end(ss->store, id, &end, err) < 0) {
            free(path);
            json_decref(open_list);
            return -1;
        }
        log_info("session: closed session %lld left open by a crash "
                 "(%s)", (long long)id, state);
        free(path);
    }
    json_decref(open_list);
    return 0;
}

int
sessions_open(struct sessions **out, const struct sessions_options *o,
              struct problem *err)
{
    struct sessions *ss = xcalloc(1, sizeof(*ss));

    ss->data_dir = xstrdup(o->data_dir);
    ss->dir = xasprintf("%s/sessions", o->data_dir);
    ss->store = o->store;
    ss->max_age_ms = o->max_age_ms;
    ss->max_bytes = o->max_bytes;
    ss->heartbeat_ms = (int64_t)(o->heartbeat_seconds > 0
                                     ? o->heartbeat_seconds : 15) * 1000;
    ss->max_followers = o->max_followers;
    ss->prune_due = 1;
    pthread_mutex_init(&ss->lock, NULL);
    if (recover(ss, err) < 0) {
        sessions_close(ss);
        return -1;
    }
    *out = ss;
    return 0;
}

const char *
sessions_data_dir(const struct sessions *ss)
{
    return ss->data_dir;
}

static void
open_free(struct open_session *o)
{
    session_file_close(o->f);
    free(o->agent);
    free(o->path);
    free(o);
}

/*
 * Writes o's exit annotation (lock held) and fills *end for the index
 * row; state is copied into final.  The final state is the last
 * annotated one, else the one given.
 */
static void
write_exit(struct open_session *o, int exit_status, const char *state,
           struct session_end *end, char final[16])
{
    char when[UTIL_TIME_LEN];

    if (o->state[0] != '\0')
        state = o->state;
    snprintf(final, 16, "%s", state ? state : "");
    time_now(when);
    annotate(o, json_pack("{s:s, s:s, s:o, s:o}", "colibri", "exit",
                          "time", when, "exit_status",
                          exit_status >= 0 ? json_integer(exit_status)
                                           : json_null(),
                          "state", final[0] ? json_string(final)
                                            : json_null()));
    memset(end, 0, sizeof(*end));
    end->ended_at = util_now_ms();
    end->size = session_file_size(o->f);
    end->lines = session_file_lines(o->f);
    end->state = final[0] ? final : NULL;
    end->exit_status = exit_status;
    o->ended = 1;
}

static void
store_end(struct sessions *ss, int64_t id, const struct session_end *end)
{
    struct problem err = {0};

    if (store_session_end(ss->store, id, end, &err) < 0)
        log_warnx("session: ending %lld: %s", (long long)id, err.detail);
    problem_clear(&err);
}

void
sessions_close(struct sessions *ss)
{
    struct open_session *o, *next;

    if (ss == NULL)
        return;
    for (o = ss->open; o != NULL; o = next) {
        struct session_end end;
        char final[16];

        next = o->next;
        if (!o->ended) {
            write_exit(o, -1, NULL, &end, final);
            store_end(ss, o->id, &end);
        }
        open_free(o);
    }
    while (ss->waiters != NULL) {
        struct waiter *w = ss->waiters;

        ss->waiters = w->next;
        free(w);
    }
    pthread_mutex_destroy(&ss->lock);
    free(ss->data_dir);
    free(ss->dir);
    free(ss);
}

/* Unlinks session id from the list (lock held); NULL: not there. */
static struct open_session *
take_id(struct sessions *ss, int64_t id)
{
    struct open_session **pp;

    for (pp = &ss->open; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct open_session *o = *pp;

            *pp = o->next;
            return o;
        }
    }
    return NULL;
}

int
sessions_begin(struct sessions *ss, const char *agent, int64_t task_id,
               const char *runner, const char *prefix_sha256, long pid,
               int restarts, int64_t *id, char **path)
{
    struct open_session *o;
    struct session_start start;
    struct problem err = {0};
    char *dir, *rel, when[UTIL_TIME_LEN];
    int64_t now = util_now_ms();

    /* One open session per agent: a run still open is ended first. */
    sessions_end(ss, agent, -1, NULL);
    dir = xasprintf("%s/%s", ss->dir, agent);
    if (util_mkdir_p(dir, 0700) < 0) {
        log_warn("session: directory %s", dir);
        free(dir);
        return -1;
    }
    free(dir);
    rel = xasprintf("sessions/%s/%lld-%ld.jsonl", agent, (long long)now,
                    pid);
    o = xcalloc(1, sizeof(*o));
    o->agent = xstrdup(agent);
    o->path = xasprintf("%s/%s", ss->data_dir, rel);
    if (session_file_open(&o->f, o->path) < 0) {
        log_warn("session: %s", o->path);
        free(rel);
        open_free(o);
        return -1;
    }
    time_now(when);
    annotate(o, json_pack("{s:s, s:s, s:I, s:s?, s:i, s:o}",
                          "colibri", "spawn", "time", when,
                          "pid", (json_int_t)pid, "runner", runner,
                          "restarts", restarts, "task_id",
                          task_id >= 0 ? json_integer(task_id)
                                       : json_null()));
    memset(&start, 0, sizeof(start));
    start.agent = agent;
    start.task_id = task_id;
    start.runner = runner;
    start.path = rel;
    start.started_at = now;
    start.prefix_sha256 = prefix_sha256;
    if (store_session_start(ss->store, &start, &o->id, &err) < 0) {
        log_warnx("session: indexing %s: %s", rel, err.detail);
        problem_clear(&err);
        free(rel);
        open_free(o);
        return -1;
    }
    free(rel);
    if (id != NULL)
        *id = o->id;
    if (path != NULL)
        *path = xstrdup(o->path);
    pthread_mutex_lock(&ss->lock);
    o->next = ss->open;
    ss->open = o;
    pthread_mutex_unlock(&ss->lock);
    return 0;
}

void
sessions_append(struct sessions *ss, const char *agent, const char *text,
                size_t len)
{
    struct open_session *o;
    struct wake_list wl = {NULL};

    if (ss == NULL || len == 0)
        return;
    pthread_mutex_lock(&ss->lock);
    o = find_agent(ss, agent);
    if (o != NULL) {
        if (session_file_append(o->f, text, len) < 0)
            log_warn("session: %s", o->path);
        wake_take(ss, &wl, o->id, 0, -1);
    }
    pthread_mutex_unlock(&ss->lock);
    wake_run(&wl, SESSION_WAKE_DATA);
}

void
sessions_note_state(struct sessions *ss, const char *agent,
                    const char *from, const char *to, const char *reason)
{
    struct open_session *o;
    struct wake_list wl = {NULL};
    char when[UTIL_TIME_LEN];

    if (ss == NULL)
        return;
    time_now(when);
    pthread_mutex_lock(&ss->lock);
    o = find_agent(ss, agent);
    if (o != NULL) {
        annotate(o, json_pack("{s:s, s:s, s:s, s:s, s:s}", "colibri",
                              "state", "time", when, "from", from, "to", to,
                              "reason", reason ? reason : ""));
        snprintf(o->state, sizeof(o->state), "%s", to);
        wake_take(ss, &wl, o->id, 0, -1);
    }
    pthread_mutex_unlock(&ss->lock);
    wake_run(&wl, SESSION_WAKE_DATA);
}

/*
 * Two steps, so that a follower never sees the session gone before its
 * exit line is in the file and its row is closed: the exit line is
 * written (and followers woken to read it) with the session still
 * listed, the row is closed, and only then is it taken off the list (and
 * followers woken to find it ended).
 */
void
sessions_end(struct sessions *ss, const char *agent, int exit_status,
             const char *state)
{
    struct open_session *o;
    struct wake_list wl = {NULL};
    struct session_end end;
    char final[16];
    int64_t id;

    if (ss == NULL)
        return;
    pthread_mutex_lock(&ss->lock);
    o = find_agent(ss, agent);
    if (o == NULL) {
        pthread_mutex_unlock(&ss->lock);
        return;
    }
    write_exit(o, exit_status, state, &end, final);
    id = o->id;
    wake_take(ss, &wl, id, 0, -1);
    pthread_mutex_unlock(&ss->lock);
    wake_run(&wl, SESSION_WAKE_DATA);
    store_end(ss, id, &end);
    pthread_mutex_lock(&ss->lock);
    o = take_id(ss, id);
    wake_take(ss, &wl, id, 0, -1);
    ss->prune_due = 1;
    pthread_mutex_unlock(&ss->lock);
    wake_run(&wl, SESSION_WAKE_DATA);
    if (o != NULL)
        open_free(o);
}

int
sessions_live(struct sessions *ss, int64_t id, int64_t *size,
              int64_t *lines)
{
    struct open_session *o;
    int found = 0;

    pthread_mutex_lock(&ss->lock);
    for (o = ss->open; o != NULL; o = o->next) {
        if (o->id == id) {
            *size = session_file_size(o->f);
            *lines = session_file_lines(o->f);
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&ss->lock);
    return found;
}

/* --- retention ------------------------------------------------------- */

int
sessions_prune(struct sessions *ss, int *removed, struct problem *err)
{
    char **paths = NULL;
    size_t n = 0, i;
    int64_t before = ss->max_age_ms > 0 ? util_now_ms() - ss->max_age_ms
                                        : -1;

    if (removed != NULL)
        *removed = 0;
    if (before < 0 && ss->max_bytes <= 0)
        return 0;
    if (store_session_prune(ss->store, before,
                            ss->max_bytes > 0 ? ss->max_bytes : -1, &paths,
                            &n, err) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        char *abs = xasprintf("%s/%s", ss->data_dir, paths[i]);
        char *slash;

        if (unlink(abs) < 0 && errno != ENOENT)
            log_warn("session: removing %s", abs);
        /* The agent's directory goes when it is empty. */
        slash = strrchr(abs, '/');
        if (slash != NULL) {
            *slash = '\0';
            (void)rmdir(abs);
        }
        free(abs);
        free(paths[i]);
    }
    free(paths);
    if (removed != NULL)
        *removed = (int)n;
    return 0;
}

void
sessions_tick(struct sessions *ss)
{
    struct wake_list wl = {NULL};
    int64_t now = util_now_ms();
    int prune = 0;

    if (ss == NULL)
        return;
    pthread_mutex_lock(&ss->lock);
    wake_take(ss, &wl, 0, 1, now - ss->heartbeat_ms);
    if (ss->prune_due || now >= ss->next_prune_ms) {
        prune = 1;
        ss->prune_due = 0;
        ss->next_prune_ms = now + PRUNE_EVERY_MS;
    }
    pthread_mutex_unlock(&ss->lock);
    wake_run(&wl, SESSION_WAKE_HEARTBEAT);
    if (prune) {
        struct problem err = {0};
        int removed = 0;

        if (sessions_prune(ss, &removed, &err) < 0)
            log_warnx("session: retention: %s", err.detail);
        else if (removed > 0)
            log_info("session: retention removed %d session%s", removed,
                     removed == 1 ? "" : "s");
        problem_clear(&err);
    }
}

/* --- followers ------------------------------------------------------- */

int
sessions_follow_add(struct sessions *ss)
{
    int rc = -1;

    pthread_mutex_lock(&ss->lock);
    if (!ss->closing && ss->followers < ss->max_followers) {
        ss->followers++;
        rc = 0;
    }
    pthread_mutex_unlock(&ss->lock);
    return rc;
}

void
sessions_follow_remove(struct sessions *ss)
{
    pthread_mutex_lock(&ss->lock);
    ss->followers--;
    pthread_mutex_unlock(&ss->lock);
}

enum session_wait
sessions_follow_wait(struct sessions *ss, int64_t id, int64_t seen,
                     void (*park)(void *ctx),
                     void (*wake)(void *ctx, enum session_wake why),
                     void *ctx)
{
    struct open_session *o;
    struct waiter *w;
    enum session_wait rc;

    pthread_mutex_lock(&ss->lock);
    for (o = ss->open; o != NULL; o = o->next)
        if (o->id == id)
            break;
    if (ss->closing) {
        rc = SESSION_WAIT_CLOSING;
    } else if (o == NULL) {
        rc = SESSION_WAIT_ENDED;
    } else if (session_file_size(o->f) > seen) {
        rc = SESSION_WAIT_MORE;
    } else {
        w = xcalloc(1, sizeof(*w));
        w->id = id;
        w->since_ms = util_now_ms();
        w->wake = wake;
        w->ctx = ctx;
        w->next = ss->waiters;
        ss->waiters = w;
        park(ctx);
        rc = SESSION_WAIT_PARKED;
    }
    pthread_mutex_unlock(&ss->lock);
    return rc;
}

void
sessions_follow_close(struct sessions *ss)
{
    struct wake_list wl = {NULL};

    if (ss == NULL)
        return;
    pthread_mutex_lock(&ss->lock);
    ss->closing = 1;
    wake_take(ss, &wl, 0, 1, -1);
    pthread_mutex_unlock(&ss->lock);
    wake_run(&wl, SESSION_WAKE_CLOSING);
}

/* --- followers with a thread of their own (the socket) --------------- */

#define FOLLOW_POLL_MS  200

int
sessions_follow_check(struct sessions *ss, int64_t id, int64_t after,
                      char **path, struct problem *err)
{
    json_t *doc = NULL, *none;
    char *rel = NULL, *abs;
    int64_t next, seen;
    int rc;

    if (store_session_get(ss->store, id, &doc, &rel, err) < 0)
        return -1;
    json_decref(doc);
    abs = xasprintf("%s/%s", ss->data_dir, rel);
    free(rel);
    none = json_array();
    rc = session_read(abs, after, 0, none, &next, &seen, err);
    json_decref(none);
    if (rc < 0) {
        free(abs);
        return -1;
    }
    *path = abs;
    return 0;
}

/* Is session id open here, and how big is its file? */
static int
follow_open_size(struct sessions *ss, int64_t id, int64_t *size)
{
    int64_t lines;

    return sessions_live(ss, id, size, &lines);
}

int
sessions_follow_run(struct sessions *ss, int64_t id, const char *path,
                    int64_t after,
                    int (*emit)(void *ctx, const char *text, size_t len),
                    int (*idle)(void *ctx, int ms), void *ctx)
{
    struct buf out;
    int64_t offset = after, seen = 0, size = 0, quiet_ms = 0;
    int rc = -1, open_now;

    buf_init(&out, FOLLOW_BUF_BYTES);
    for (;;) {
        json_t *items = json_array();
        struct problem err = {0};
        int64_t next = offset;
        size_t i;

        /* Whether it was open is looked at before the read: a session
         * seen ended here has all its lines in the file. */
        open_now = follow_open_size(ss, id, &size);
        if (session_read(path, offset, 256, items, &next, &seen,
                         &err) < 0) {
            buf_printf(&out, "{\"event\":\"error\",\"code\":\"%s\"}\n",
                       err.code);
            problem_clear(&err);
            json_decref(items);
            emit(ctx, out.data, out.len);
            break;
        }
        for (i = 0; i < json_array_size(items); i++) {
            json_t *item = json_array_get(items, i);
            json_t *after_item = json_array_get(items, i + 1);
            json_t *line = json_pack(
                "{s:s, s:O, s:I, s:O}", "event", "entry", "offset",
                json_object_get(item, "offset"), "next",
                after_item != NULL
                    ? json_integer_value(json_object_get(after_item,
                                                         "offset"))
                    : (json_int_t)next,
                "entry", json_object_get(item, "entry"));
            char *text = json_dumps(line, JSON_COMPACT);

            json_decref(line);
            if (text != NULL) {
                buf_append(&out, text, strlen(text));
                buf_append(&out, "\n", 1);
                free(text);
            }
        }
        offset = next;
        if (json_array_size(items) > 0) {
            json_decref(items);
            quiet_ms = 0;
            if (emit(ctx, out.data, out.len) < 0)
                goto out;
            buf_reset(&out);
            continue;
        }
        json_decref(items);
        if (!open_now) {
            json_t *doc = NULL;
            char *text = NULL;

            if (store_session_get(ss->store, id, &doc, NULL, &err) == 0) {
                json_t *line = json_pack("{s:s, s:o}", "event", "end",
                                         "session", doc);

                text = json_dumps(line, JSON_COMPACT);
                json_decref(line);
            }
            problem_clear(&err);
            buf_printf(&out, "%s\n", text ? text : "{\"event\":\"end\"}");
            free(text);
            rc = emit(ctx, out.data, out.len) < 0 ? -1 : 0;
            goto out;
        }
        if (quiet_ms >= ss->heartbeat_ms) {
            quiet_ms = 0;
            if (emit(ctx, "{\"event\":\"heartbeat\"}\n", 22) < 0)
                goto out;
        }
        if (idle(ctx, FOLLOW_POLL_MS) < 0)
            goto out;
        quiet_ms += FOLLOW_POLL_MS;
    }
out:
    buf_free(&out);
    return rc;
}
