/*
 * spawner_supervise.c - the spawner's supervisor thread: reads every
 * child's pipes, feeds the glasspane and the session logs, reaps exits,
 * restarts with backoff, escalates kills, and hunts descendants that left
 * their process group.  See spawner.c and docs/internals/spawner.md.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/types.h>
#include <sys/wait.h>

#ifdef __FreeBSD__
#include <sys/procctl.h>
#endif

#include "src/log.h"
#include "src/panes.h"
#include "src/session.h"
#include "src/spawner.h"
#include "src/spawner_impl.h"
#include "src/store.h"
#include "src/util.h"

static int wake_fd = -1;        /* the SIGCHLD handler's end */

static void on_sigchld(int sig);

void
spawner_sigchld(int fd)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    if (fd < 0) {
        sa.sa_handler = SIG_DFL;
        sigaction(SIGCHLD, &sa, NULL);
        wake_fd = -1;
        return;
    }
    wake_fd = fd;
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
}

int64_t
spawner_mono_ms(void)
{
    return util_mono_us() / 1000;
}

static void
on_sigchld(int sig)
{
    int saved = errno;
    char c = 'c';

    (void)sig;
    if (wake_fd >= 0 && write(wake_fd, &c, 1) < 0) {
        /* full pipe: a wakeup is pending anyway */
    }
    errno = saved;
}

void
spawner_wake(struct spawner *sp)
{
    char c = 'w';

    if (write(sp->wake[1], &c, 1) < 0) {
        /* full pipe: a wakeup is pending anyway */
    }
}

static double
random_unit(void)
{
    uint32_t r = 0;

    if (util_random(&r, sizeof(r)) < 0)
        r = (uint32_t)rand();
    return (double)r / 4294967296.0;
}

#ifdef __linux__
#define LIMIT_ADOPTED 4096      /* children of the daemon looked at */

/* Appends the pids listed in a /proc/.../children file (or, with
 * parent_only, the pid of a /proc/N/stat whose parent is self). */
static size_t
read_pids(const char *path, pid_t *out, size_t n, size_t cap)
{
    char buf[8192], *p, *end;
    ssize_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return n;
    len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return n;
    buf[len] = '\0';
    for (p = buf; n < cap; p = end) {
        long v = strtol(p, &end, 10);

        if (end == p)
            break;
        if (v > 0)
            out[n++] = (pid_t)v;
    }
    return n;
}

/*
 * The daemon's children, ours or adopted (it is their subreaper): the
 * children files of its threads (a few small reads), else, without
 * CONFIG_PROC_CHILDREN, a scan of /proc for parent == self.
 */
static size_t
adopted_pids(pid_t *out, size_t cap)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    size_t n = 0;
    int have_children_files = 0;
    pid_t self = getpid();

    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            char path[300];

            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "/proc/self/task/%s/children",
                     de->d_name);
            if (access(path, R_OK) == 0)
                have_children_files = 1;
            n = read_pids(path, out, n, cap);
        }
        closedir(d);
    }
    if (have_children_files)
        return n;
    d = opendir("/proc");
    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL && n < cap) {
        char path[64], buf[512], *p;
        long pid, ppid;
        ssize_t len;
        int fd;

        pid = strtol(de->d_name, &p, 10);
        if (*p != '\0' || pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        len = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        p = strrchr(buf, ')');
        if (p != NULL && sscanf(p + 1, " %*c %ld", &ppid) == 1 &&
            ppid == (long)self)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

/* The value of pid's environment variable prefix ("NAME=") into out: 0,
 * or -1 when it has none (or it is longer than outlen - 1). */
static int
environ_get(pid_t pid, const char *prefix, char *out, size_t outlen)
{
    char path[64], env[65536];
    size_t off = 0, pl = strlen(prefix);
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, env, sizeof(env) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    env[n] = '\0';
    while (off < (size_t)n) {
        size_t l = strlen(env + off);

        if (l >= pl && memcmp(env + off, prefix, pl) == 0) {
            if (l - pl >= outlen)
                return -1;
            memcpy(out, env + off + pl, l - pl + 1);
            return 0;
        }
        off += l + 1;
    }
    return -1;
}

/* Does pid's environment hold entry ("NAME=value")? */
static int
environ_has(pid_t pid, const char *entry)
{
    char path[64], env[65536];
    size_t off = 0, wl = strlen(entry);
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, env, sizeof(env) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    env[n] = '\0';
    while (off < (size_t)n) {
        size_t l = strlen(env + off);

        if (l == wl && memcmp(env + off, entry, wl) == 0)
            return 1;
        off += l + 1;
    }
    return 0;
}
#endif

/*
 * Signals the processes that escaped agent's process group: on Linux,
 * the daemon is their subreaper, so they are our children that we did
 * not start; they are matched by the COLIBRI_AGENT_ID they inherited
 * (agent NULL: every such process, for shutdown).  Lock held.  Linux
 * lists them from the children files of its threads, cheap enough to
 * run on every supervisor tick while a run's leftovers are hunted.
 */
void
spawner_signal_escaped(struct spawner *sp, const char *agent, int sig)
{
#ifdef __FreeBSD__
    /* The reaper knows each descendant's subtree (the direct child it
     * came from), even after it escaped the group and its parent died. */
    struct child *ch;

    for (ch = sp->children; ch != NULL; ch = ch->next) {
        struct procctl_reaper_kill rk;

        if (ch->pid <= 0 || (agent != NULL && strcmp(ch->agent, agent)))
            continue;
        memset(&rk, 0, sizeof(rk));
        rk.rk_sig = sig;
        rk.rk_flags = REAPER_KILL_SUBTREE;
        rk.rk_subtree = ch->pid;
        (void)procctl(P_PID, getpid(), PROC_REAP_KILL, &rk);
    }
#elif defined(__linux__)
    pid_t pids[LIMIT_ADOPTED];
    size_t n = adopted_pids(pids, LIMIT_ADOPTED), i;
    char *want = agent ? xasprintf("COLIBRI_AGENT_ID=%s", agent) : NULL;

    for (i = 0; i < n; i++) {
        struct child *ch;
        int tracked = 0;

        for (ch = sp->children; ch != NULL; ch = ch->next)
            if (ch->running && ch->pid == pids[i])
                tracked = 1;
        if (tracked || (want != NULL && !environ_has(pids[i], want)))
            continue;
        kill(pids[i], sig);
    }
    free(want);
#else
    (void)sp;
    (void)agent;
    (void)sig;
#endif
}

/* Moves complete stdout lines of ch into a work item (lock held). */
static void
take_lines(struct child *ch, struct work **todo, int all)
{
    char *nl;
    size_t n;
    struct work *w;

    if (ch->out_len == 0)
        return;
    nl = NULL;
    for (n = ch->out_len; n > 0; n--)
        if (ch->out[n - 1] == '\n') {
            nl = ch->out + n - 1;
            break;
        }
    n = all ? ch->out_len : nl ? (size_t)(nl - ch->out) + 1 : 0;
    if (n == 0)
        return;
    w = xcalloc(1, sizeof(*w));
    w->agent = xstrdup(ch->agent);
    w->text = xstrndup(ch->out, n);
    w->len = n;
    memmove(ch->out, ch->out + n, ch->out_len - n);
    ch->out_len -= n;
    w->next = *todo;
    *todo = w;
}

/* Reads what is there on ch's pipes (lock held). */
static void
drain(struct child *ch, struct work **todo)
{
    char buf[65536];
    ssize_t n;

    while (ch->out_fd >= 0) {
        n = read(ch->out_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(ch->out_fd);
                ch->out_fd = -1;
            }
            break;
        }
        if (ch->out == NULL)
            ch->out = xmalloc(OUT_CAP);
        if (ch->out_len + (size_t)n > OUT_CAP) {
            /* An over-long line: keep what lines there are, drop the
             * rest (the glasspane would refuse it anyway). */
            take_lines(ch, todo, 0);
            if (ch->out_len + (size_t)n > OUT_CAP) {
                ch->out_len = 0;
                ch->out_discard = 1;
                continue;
            }
        }
        if (ch->out_discard) {
            char *nl = memchr(buf, '\n', (size_t)n);

            if (nl == NULL)
                continue;
            ch->out_discard = 0;
            memcpy(ch->out, nl + 1, (size_t)(buf + n - nl - 1));
            ch->out_len = (size_t)(buf + n - nl - 1);
        } else {
            memcpy(ch->out + ch->out_len, buf, (size_t)n);
            ch->out_len += (size_t)n;
        }
        take_lines(ch, todo, 0);
    }
    while (ch->err_fd >= 0) {
        n = read(ch->err_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(ch->err_fd);
                ch->err_fd = -1;
            }
            break;
        }
        /* Keep the tail. */
        if ((size_t)n >= STDERR_TAIL) {
            memcpy(ch->errtail, buf + n - STDERR_TAIL, STDERR_TAIL);
            ch->err_len = STDERR_TAIL;
        } else {
            if (ch->err_len + (size_t)n > STDERR_TAIL) {
                size_t drop = ch->err_len + (size_t)n - STDERR_TAIL;

                memmove(ch->errtail, ch->errtail + drop,
                        ch->err_len - drop);
                ch->err_len -= drop;
            }
            memcpy(ch->errtail + ch->err_len, buf, (size_t)n);
            ch->err_len += (size_t)n;
        }
    }
}

/* Reaps every exited child (lock held); ended runs become work. */
static void
reap(struct spawner *sp, struct work **todo)
{
    struct child *ch;
    int st;
    pid_t pid;

    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (spawner_jail_reaped(sp, pid, st))
            continue;           /* a step of an ephemeral jail's check */
        for (ch = sp->children; ch != NULL; ch = ch->next)
            if (ch->running && ch->pid == pid)
                break;
        if (ch == NULL)
            continue;           /* an adopted descendant */
        ch->running = 0;
        ch->ending = 1;
        ch->exit_status = WIFEXITED(st) ? WEXITSTATUS(st)
                          : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
        /* What it wrote before it died is in the pipe: take it all, then
         * stop listening (descendants may hold the pipe open). */
        drain(ch, todo);
        take_lines(ch, todo, 1);
        if (ch->out_fd >= 0)
            close(ch->out_fd);
        if (ch->err_fd >= 0)
            close(ch->err_fd);
        ch->out_fd = ch->err_fd = -1;
        ch->out_len = 0;
        /* Whatever is left of its group goes now; what escaped it, in
         * this tick's sweep (sweep_escaped), once the lines are in. */
        kill(-pid, SIGKILL);
        ch->kill_at = 0;
        ch->sweep_until = spawner_mono_ms() + SWEEP_MS;
        ch->sweep_next = 0;
        spawner_jail_ended(sp, ch);
        {
            struct work *w = xcalloc(1, sizeof(*w));

            w->agent = xstrdup(ch->agent);
            w->exited = 1;
            w->status = ch->exit_status;
            w->pid = pid;
            w->restarts = ch->restarts;
            w->jail = spawner_jail_text(ch->jail);
            w->next = *todo;
            *todo = w;
        }
        log_info("spawner: %s (pid %ld) ended with status %d", ch->agent,
                 (long)pid, ch->exit_status);
    }
}

/* After a run ended and its state is known: restart or give up.  A
 * give-up's reason goes into reason (else it stays ""): the caller makes
 * it the child's last_error when the run is fully recorded. */
static void
after_exit(struct spawner *sp, const char *agent, int status,
           const char *state, char *reason, size_t reasonlen)
{
    struct child *ch;
    int give_up = 0;

    pthread_mutex_lock(&sp->lock);
    ch = spawner_find_child(sp, agent);
    if (ch == NULL || ch->running || ch->stopped ||
        (state != NULL && strcmp(state, "done") == 0)) {
        pthread_mutex_unlock(&sp->lock);
        return;
    }
    if (ch->restarts < ch->max_restarts) {
        long d = spawner_backoff_ms(ch->floor_ms, ch->cap_ms, ch->restarts,
                                    random_unit());

        ch->restarts++;
        ch->restart_at = spawner_mono_ms() + d;
        log_info("spawner: %s restarts in %ld ms (attempt %d of %d)",
                 agent, d, ch->restarts, ch->max_restarts);
    } else {
        snprintf(reason, reasonlen,
                 "gave up after %d restart%s (exit status %d)",
                 ch->restarts, ch->restarts == 1 ? "" : "s", status);
        give_up = 1;
    }
    pthread_mutex_unlock(&sp->lock);
    if (give_up && (state == NULL || strcmp(state, "error") != 0)) {
        /* The run did not end in error by itself (a clean exit before
         * any work): say it failed, with the reason, through the same
         * pipeline. */
        struct problem err = {0};
        json_t *report = NULL;
        char *text = xasprintf(
            "{\"type\":\"agent_start\"}\n{\"type\":\"auto_retry_end\","
            "\"success\":false,\"finalError\":\"colibri: %s\"}\n", reason);

        if (panes_ingest(sp->panes, agent, text, strlen(text), NULL,
                         &report, &err) < 0)
            log_warnx("spawner: %s: %s", agent, err.detail);
        json_decref(report);
        problem_clear(&err);
        free(text);
    }
}

static void
do_work(struct spawner *sp, struct work *todo)
{
    struct work *rev = NULL, *w, *next;
    char gave_up[256];

    /* Items were pushed newest first: apply them in order. */
    for (w = todo; w != NULL; w = next) {
        next = w->next;
        w->next = rev;
        rev = w;
    }
    for (w = rev; w != NULL; w = next) {
        struct problem err = {0};
        json_t *report = NULL;
        const char *state = NULL;

        next = w->next;
        if (w->text != NULL) {
            sessions_append(sp->sessions, w->agent, w->text, w->len);
            if (panes_ingest(sp->panes, w->agent, w->text, w->len, NULL,
                             &report, &err) < 0)
                log_warnx("spawner: %s: %s", w->agent, err.detail);
            json_decref(report);
        } else if (w->exited) {
            spawner_wait_saved(sp, w->agent);
            spawner_save_process(sp, w->agent, w->pid, w->status, w->restarts,
                         w->jail);
            if (panes_exit(sp->panes, w->agent, w->status, &state,
                           &err) < 0)
                log_warnx("spawner: %s: %s", w->agent, err.detail);
            gave_up[0] = '\0';
            after_exit(sp, w->agent, w->status, state, gave_up,
                       sizeof(gave_up));
            /* After after_exit: a give-up is annotated in this run. */
            sessions_end(sp->sessions, w->agent, w->status, state);
            /* Only now is the run over for a reader of agent.process:
             * its lines, exit status, state, session and (a give-up)
             * last_error are there at once. */
            pthread_mutex_lock(&sp->lock);
            {
                struct child *ch = spawner_find_child(sp, w->agent);

                if (ch != NULL && ch->pid == w->pid) {
                    if (gave_up[0] != '\0')
                        snprintf(ch->last_error, sizeof(ch->last_error),
                                 "%s", gave_up);
                    ch->ending = 0;
                }
            }
            pthread_mutex_unlock(&sp->lock);
        } else if (w->launched) {
            spawner_save_process(sp, w->agent, w->pid, -1, w->restarts, w->jail);
        }
        problem_clear(&err);
        free(w->agent);
        free(w->text);
        free(w->jail);
        free(w);
    }
}

/*
 * Hunts the escaped descendants of runs that ended less than SWEEP_MS
 * ago: a pass when a run just ended (sweep_next 0) or SWEEP_EVERY_MS
 * after the last, and each pass serves every run still hunted.  After
 * the tick's work: the /proc reads are the slow part of a tick, and the
 * lines a run wrote before it died should not wait for them.  On Linux
 * a pass lists the daemon's children once and reads each untracked
 * one's environment once (when many agents end together, a pass per run
 * per tick was most of the supervisor's time).
 */
static void
sweep_escaped(struct spawner *sp)
{
    struct child *ch;
    int64_t now = spawner_mono_ms();
    const char **due = NULL;
    size_t ndue = 0;
    int pass = 0;

    pthread_mutex_lock(&sp->lock);
    for (ch = sp->children; ch != NULL; ch = ch->next) {
        if (ch->running || ch->sweep_until == 0)
            continue;
        if (now >= ch->sweep_until)
            ch->sweep_until = 0;
        else if (now >= ch->sweep_next)
            pass = 1;
    }
    for (ch = sp->children; pass && ch != NULL; ch = ch->next) {
        if (ch->running || ch->sweep_until == 0)
            continue;
        ch->sweep_next = now + SWEEP_EVERY_MS;
        due = xrealloc(due, (ndue + 1) * sizeof(*due));
        due[ndue++] = ch->agent;
    }
#ifdef __linux__
    if (ndue > 0) {
        pid_t pids[LIMIT_ADOPTED];
        size_t n = adopted_pids(pids, LIMIT_ADOPTED), i, k;
        char id[LIMIT_AGENT_CHARS + 1];

        for (i = 0; i < n; i++) {
            int tracked = 0;

            for (ch = sp->children; ch != NULL && !tracked; ch = ch->next)
                tracked = ch->running && ch->pid == pids[i];
            if (tracked ||
                environ_get(pids[i], "COLIBRI_AGENT_ID=", id, sizeof(id)) < 0)
                continue;
            for (k = 0; k < ndue; k++)
                if (strcmp(due[k], id) == 0) {
                    kill(pids[i], SIGKILL);
                    break;
                }
        }
    }
#else
    {
        size_t k;

        for (k = 0; k < ndue; k++)
            spawner_signal_escaped(sp, due[k], SIGKILL);
    }
#endif
    pthread_mutex_unlock(&sp->lock);
    free(due);
}

void *
spawner_supervise(void *arg)
{
    struct spawner *sp = arg;
    struct pollfd *pfd = NULL;
    struct child **who = NULL;
    size_t cap = 0;

    for (;;) {
        struct child *ch;
        struct work *todo = NULL;
        size_t n = 1, i;
        int64_t now = spawner_mono_ms(), timeout = TICK_MS;
        char sink[256];

        pthread_mutex_lock(&sp->lock);
        if (sp->quit) {
            pthread_mutex_unlock(&sp->lock);
            break;
        }
        for (ch = sp->children; ch != NULL; ch = ch->next)
            n += 2;
        if (n > cap) {
            cap = n * 2;
            pfd = xrealloc(pfd, cap * sizeof(*pfd));
            who = xrealloc(who, cap * sizeof(*who));
        }
        pfd[0].fd = sp->wake[0];
        pfd[0].events = POLLIN;
        n = 1;
        for (ch = sp->children; ch != NULL; ch = ch->next) {
            /* Wake for the next restart or kill deadline, not later. */
            if (ch->restart_at != 0 && ch->restart_at - now < timeout &&
                !spawner_jail_busy(sp, ch->agent))
                timeout = ch->restart_at - now;
            if (ch->kill_at != 0 && ch->kill_at - now < timeout)
                timeout = ch->kill_at - now;
            if (ch->out_fd >= 0) {
                pfd[n].fd = ch->out_fd;
                pfd[n].events = POLLIN;
                who[n++] = ch;
            }
            if (ch->err_fd >= 0) {
                pfd[n].fd = ch->err_fd;
                pfd[n].events = POLLIN;
                who[n++] = ch;
            }
        }
        pthread_mutex_unlock(&sp->lock);
        if (timeout < 0)
            timeout = 0;
        if (poll(pfd, n, (int)timeout) < 0 && errno != EINTR)
            log_warn("spawner: poll");
        while (read(sp->wake[0], sink, sizeof(sink)) > 0)
            ;
        pthread_mutex_lock(&sp->lock);
        for (i = 1; i < n; i++)
            if (pfd[i].revents != 0)
                drain(who[i], &todo);
        reap(sp, &todo);
        now = spawner_mono_ms();
        spawner_jail_tick(sp, now);
        for (ch = sp->children; ch != NULL; ch = ch->next) {
            if (ch->running && ch->kill_at != 0 && now >= ch->kill_at) {
                log_info("spawner: %s did not stop in time: SIGKILL",
                         ch->agent);
                kill(-ch->pid, SIGKILL);
                spawner_signal_escaped(sp, ch->agent, SIGKILL);
                ch->kill_at = 0;
            }
            if (!ch->running && !ch->stopped && ch->restart_at != 0 &&
                now >= ch->restart_at &&
                !spawner_jail_busy(sp, ch->agent)) {
                ch->restart_at = 0;
                if (spawner_launch(sp, ch) < 0) {
                    log_warnx("spawner: %s: %s", ch->agent,
                              ch->last_error);
                } else {
                    struct work *w = xcalloc(1, sizeof(*w));

                    w->agent = xstrdup(ch->agent);
                    w->launched = 1;
                    w->pid = ch->pid;
                    w->restarts = ch->restarts;
                    w->jail = spawner_jail_text(ch->jail);
                    w->next = todo;
                    todo = w;
                }
            }
        }
        pthread_mutex_unlock(&sp->lock);
        do_work(sp, todo);
        sweep_escaped(sp);
    }
    free(pfd);
    free(who);
    return NULL;
}

/* Records pid, exit status, restarts and jail on the agent in the store.
 * Never ordered by the lock alone: agent.spawn writes a launch record
 * without it (child->saving, which the exit record waits for), and
 * agent.restart with it (the store's writer never takes the spawner's
 * lock). */
void
spawner_save_process(struct spawner *sp, const char *agent, pid_t pid, int status,
             int restarts, const char *jail)
{
    struct problem err = {0};

    if (store_agent_set_process(sp->store, agent, (long long)pid, status,
                                restarts, jail, &err) < 0)
        log_warnx("spawner: %s: %s", agent, err.detail);
    problem_clear(&err);
}

void
spawner_wait_saved(struct spawner *sp, const char *agent)
{
    struct child *ch;

    pthread_mutex_lock(&sp->lock);
    ch = spawner_find_child(sp, agent);
    while (ch != NULL && ch->saving > 0)
        pthread_cond_wait(&sp->saved, &sp->lock);
    pthread_mutex_unlock(&sp->lock);
}

char *
spawner_jail_text(const json_t *jail)
{
    return jail != NULL ? json_dumps(jail, JSON_COMPACT | JSON_SORT_KEYS)
                        : NULL;
}
