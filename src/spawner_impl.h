/*
 * spawner_impl.h - what spawner.c (starting, the API) and
 * spawner_supervise.c (the supervisor thread) share.  Not for other
 * modules: they use spawner.h.
 */
#ifndef COLIBRI_SPAWNER_IMPL_H
#define COLIBRI_SPAWNER_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "src/jail.h"
#include "src/limits.h"
#include "src/problem.h"

#define STDERR_TAIL     LIMIT_SPAWN_STDERR
#define OUT_CAP         (LIMIT_INGEST_LINE + 1)
#define SWEEP_MS        3000            /* escaped descendants are hunted
                                         * this long after a run ends */
#define SWEEP_EVERY_MS  50              /* and at most this often */
#define TICK_MS         200

struct child {
    char *agent;
    char *runner;
    char *task;                 /* or NULL */
    struct jail_cmd cmd;        /* what is executed */
    char **env;                 /* NULL-ended, new */
    char *cwd;                  /* or NULL */
    json_t *jail;               /* the request's jail object, or NULL */
    char *prefix_env;           /* COLIBRI_PROMPT_PREFIX, or NULL */
    char prefix_sha256[65];     /* of its prompt prefix; "" = none */
    char *jail_tag;             /* name of its ephemeral jail, or NULL */
    enum jail_priv jail_priv;   /* how that jail was created */
    char jail_cleanup[160];     /* after a run: checking, gone, removed,
                                 * failed: ... ("" = nothing to check) */
    pid_t pid;                  /* of the current or last run; 0 = none */
    int running;
    int ending;                 /* reaped, but its last lines, exit record
                                 * and session end not yet written */
    int out_fd, err_fd;         /* -1 when closed */
    char *out;                  /* partial stdout line(s) */
    size_t out_len;
    int out_discard;            /* dropping an over-long line */
    char errtail[STDERR_TAIL];
    size_t err_len;
    int exit_status;            /* shell style; -1 = none yet */
    int restarts, max_restarts;
    long floor_ms, cap_ms;
    int64_t restart_at;         /* monotonic ms; 0 = none */
    int64_t kill_at;            /* SIGKILL deadline; 0 = none */
    int64_t sweep_until;        /* hunt escaped descendants until */
    int64_t sweep_next;         /* the next hunt, not before */
    int stopped;                /* stopped by an operator: no restart */
    int saving;                 /* launch records an API thread is
                                 * writing without the lock (see
                                 * spawner_wait_saved) */
    char last_error[256];
    char *session;              /* this run's session log, or NULL */
    struct child *next;
};

struct spawner {
    pthread_mutex_t lock;
    pthread_cond_t saved;       /* a child's saving dropped */
    pthread_t thread;
    int quit;
    int wake[2];                /* self-pipe: SIGCHLD and API wakeups */
    struct child *children;
    struct jail_check *jail_checks;     /* spawner_jail.c */
    char **runner_names;        /* parallel, NULL-ended */
    char ***runner_argv;
    char **env_allow;           /* borrowed */
    struct jail_tools tools;
    char *url, *socket_path;
    struct sessions *sessions;  /* session logs, or NULL */
    struct panes *panes;
    struct store *store;
    int (*prefix)(void *, const char *, int64_t, char **, char ***,
                  char *, struct problem *);  /* spawner_options.prefix */
    void *prefix_ctx;
};

/* Pending work for the supervisor, done outside the lock. */
struct work {
    char *agent;
    char *text;                 /* lines to ingest, or NULL */
    size_t len;
    int exited;                 /* the run ended with status */
    int status;
    int launched;               /* a restart started: record it */
    pid_t pid;
    int restarts;
    char *jail;                 /* JSON text or NULL */
    struct work *next;
};

/* spawner.c */
struct child *spawner_find_child(struct spawner *sp, const char *agent);
/* Starts ch's command (lock held); 0, or -1 with ch->last_error. */
int spawner_launch(struct spawner *sp, struct child *ch);

/* spawner_supervise.c */
void *spawner_supervise(void *arg);
/* Wakes the supervisor (any thread). */
void spawner_wake(struct spawner *sp);
int64_t spawner_mono_ms(void);
/* Installs the SIGCHLD handler writing to fd (or removes it: fd -1). */
void spawner_sigchld(int fd);
/* Signals the descendants of agent's runs that left its process group
 * (agent NULL: all of them); lock held. */
void spawner_signal_escaped(struct spawner *sp, const char *agent, int sig);
void spawner_save_process(struct spawner *sp, const char *agent, pid_t pid,
                          int status, int restarts, const char *jail);
/* Waits (lock not held) until no launch record of agent is being
 * written: an exit record must come after its launch's. */
void spawner_wait_saved(struct spawner *sp, const char *agent);
/* new JSON text of jail, or NULL */
char *spawner_jail_text(const json_t *jail);

/* spawner_jail.c: after a run in an ephemeral jail, make sure the jail
 * is gone (all with the lock held). */
struct jail_check;
/* A new tag "colibri-<12 hex>" for an ephemeral jail. */
char *spawner_jail_tag(void);
/* ch's run ended: schedule the check of its jail (if it had one). */
void spawner_jail_ended(struct spawner *sp, struct child *ch);
/* Starts the steps that are due. */
void spawner_jail_tick(struct spawner *sp, int64_t now);
/* 1 if pid was a step (its status consumed), else 0. */
int spawner_jail_reaped(struct spawner *sp, pid_t pid, int wstatus);
int spawner_jail_pending(struct spawner *sp);
/* Is the jail of agent's last run still being checked?  Its next run
 * (same tag) waits, so that a removal cannot hit the new jail. */
int spawner_jail_busy(struct spawner *sp, const char *agent);
void spawner_jail_free(struct spawner *sp);

#endif
