/*
 * spawner.h - starts agents from configured runners, supervises them,
 * restarts them with backoff, and stops them (and their descendants).
 *
 * A runner is an argv template from the configuration ("smoke" ->
 * colibri-smoke-agent ...); the API names a runner and may append
 * arguments, never a binary.  Children are started with posix_spawn
 * (never a shell) in their own process group, with a chosen environment,
 * stdout and stderr on pipes.  One supervisor thread polls every child's
 * pipes, feeds stdout lines to the glasspane (panes_ingest), keeps the
 * tail of stderr, reaps exits (waitpid loop woken by a SIGCHLD
 * self-pipe), schedules restarts and escalates kills.  On Linux the
 * daemon is a child subreaper, so descendants that setsid() away are
 * reaped and found again (by their COLIBRI_AGENT_ID) when their agent is
 * killed.  See docs/internals/spawner.md.
 */
#ifndef COLIBRI_SPAWNER_H
#define COLIBRI_SPAWNER_H

#include <stdint.h>
#include <jansson.h>

#include "jail.h"
#include "problem.h"

struct spawner;
struct panes;
struct store;
struct sessions;

struct spawner_options {
    char **runners;             /* borrowed, NULL-ended "NAME=ARGV" */
    char **env_allow;           /* borrowed, NULL-ended names */
    struct jail_tools tools;    /* borrowed paths */
    const char *url;            /* COLIBRI_URL; borrowed */
    const char *socket_path;    /* COLIBRI_SOCKET; borrowed */
    const char *smoke_agent;    /* default "smoke" runner binary */
    struct sessions *sessions;  /* session logs (borrowed); NULL: none */
    struct panes *panes;        /* borrowed */
    struct store *store;        /* borrowed */
    /*
     * The prompt prefix of a spawn (prompt_spawn_prefix), or NULL: for a
     * runner (kind) and a task (<= 0: none), 0 with *file NULL when none
     * applies, else *file (new path of regions 1-2), *skill_dirs (new,
     * NULL-ended) and the prefix hash.  A pi runner gets them as
     * --append-system-prompt FILE and --skill DIR, others as
     * COLIBRI_PROMPT_PREFIX=FILE.
     */
    int (*prefix)(void *ctx, const char *kind, int64_t task, char **file,
                  char ***skill_dirs, char sha[65], struct problem *err);
    void *prefix_ctx;
};

/* Starts the supervisor.  0, or -1 with a reason in err (a runner that
 * does not parse). */
int spawner_start(struct spawner **out, const struct spawner_options *o,
                  char *err, size_t errlen);

/* Stops every child the way agent.kill does (SIGTERM, grace, SIGKILL,
 * escaped descendants too), reaps them, joins the thread.  NULL-safe. */
void spawner_stop(struct spawner *sp, int grace_seconds);

/* agent.spawn: args is the validated argument object (borrowed);
 * *result (new) is {id, pid}. */
int spawner_spawn(struct spawner *sp, const json_t *args, json_t **result,
                  struct problem *err);

/* agent.kill: SIGTERM to the group, SIGKILL after grace_seconds. */
int spawner_kill(struct spawner *sp, const char *agent, int grace_seconds,
                 json_t **result, struct problem *err);

/* agent.restart: kill (if running) and start again now, restarts reset. */
int spawner_restart(struct spawner *sp, const char *agent, json_t **result,
                    struct problem *err);

/* agent.process: pid, running, exit status, restarts, stderr tail. */
int spawner_describe(struct spawner *sp, const char *agent, json_t **result,
                     struct problem *err);

/* Full-jitter backoff: a delay in [floor, min(cap, floor * 2^attempt)],
 * from rnd in [0, 1).  Exposed for tests. */
long spawner_backoff_ms(long floor_ms, long cap_ms, int attempt, double rnd);

#endif
