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

#define STDERR_TAIL     LIMIT_SPAWN_STDERR
#define OUT_CAP         (LIMIT_INGEST_LINE + 1)
#define SWEEP_MS        3000            /* escaped descendants are hunted
                                         * this long after a run ends */
#define TICK_MS         200

struct child {
    char *agent;
    char *runner;
    char *task;                 /* or NULL */
    struct jail_cmd cmd;        /* what is executed */
    char **env;                 /* NULL-ended, new */
    char *cwd;                  /* or NULL */
    json_t *jail;               /* the request's jail object, or NULL */
    pid_t pid;                  /* of the current or last run; 0 = none */
    int running;
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
    int stopped;                /* stopped by an operator: no restart */
    char last_error[256];
    char *session;              /* this run's session log, or NULL */
    struct child *next;
};

struct spawner {
    pthread_mutex_t lock;
    pthread_t thread;
    int quit;
    int wake[2];                /* self-pipe: SIGCHLD and API wakeups */
    struct child *children;
    char **runner_names;        /* parallel, NULL-ended */
    char ***runner_argv;
    char **env_allow;           /* borrowed */
    struct jail_tools tools;
    char *url, *socket_path;
    char *session_dir;          /* or NULL */
    struct panes *panes;
    struct store *store;
};

/* Pending work for the supervisor, done outside the lock. */
struct work {
    char *agent;
    char *text;                 /* lines to ingest, or NULL */
    size_t len;
    int exited;                 /* the run ended with status */
    int status;
    int launched;               /* a restart started: record it */
    char *session;              /* the session log to append to */
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
/* Appends to a run's session log (path NULL: nothing). */
void spawner_session_append(const char *path, const char *text, size_t len);
/* new JSON text of jail, or NULL */
char *spawner_jail_text(const json_t *jail);

#endif
