/*
 * spawner_jail.c - makes sure an ephemeral jail is gone after its run.
 *
 * A spawn with a jail `path` runs `jail -c name=TAG path=... command=...`
 * (TAG = JAIL_TAG_PREFIX + random hex, chosen by the spawner).  Without
 * `persist` the kernel removes such a jail when its last process exits,
 * but a process left inside (one that left the run's process group and
 * outlived it) keeps it alive.  So when the run's leader has been reaped,
 * the supervisor checks, in steps it drives from its loop (never
 * blocking, never a shell):
 *
 *   probe   jls -j TAG jid          exit 0: the jail is still there
 *   remove  [mdo|helper] jail -r TAG (kills what is left, removes it)
 *   verify  jls -j TAG jid          exit 0 now: removal failed
 *
 * Each step is a child of the daemon, reaped by the supervisor's waitpid
 * loop, which hands its status here.  The outcome is on the agent's
 * process description (`jail_cleanup`) and in the log.  See
 * docs/internals/jail.md.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/types.h>
#include <sys/wait.h>

#include "src/log.h"
#include "src/spawner_impl.h"
#include "src/util.h"

#define SETTLE_MS 200           /* let the kernel finish a dying jail */

enum step { STEP_PROBE, STEP_REMOVE, STEP_VERIFY };

struct jail_check {
    char *agent;
    char *tag;
    enum jail_priv priv;
    enum step step;
    pid_t pid;                  /* the step running, or 0: due at `due` */
    int64_t due;
    struct jail_check *next;
};

static const char *const step_names[] = {"probe", "remove", "verify"};

/* Records the outcome on the agent's child (lock held). */
static void
set_outcome(struct spawner *sp, const char *agent, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_outcome(struct spawner *sp, const char *agent, const char *fmt, ...)
{
    struct child *ch = spawner_find_child(sp, agent);
    va_list ap;

    if (ch == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(ch->jail_cleanup, sizeof(ch->jail_cleanup), fmt, ap);
    va_end(ap);
}

void
spawner_jail_ended(struct spawner *sp, struct child *ch)
{
    struct jail_check *jc;

    if (ch->jail_tag == NULL)
        return;
    jc = xcalloc(1, sizeof(*jc));
    jc->agent = xstrdup(ch->agent);
    jc->tag = xstrdup(ch->jail_tag);
    jc->priv = ch->jail_priv;
    jc->step = STEP_PROBE;
    jc->due = spawner_mono_ms() + SETTLE_MS;
    jc->next = sp->jail_checks;
    sp->jail_checks = jc;
    snprintf(ch->jail_cleanup, sizeof(ch->jail_cleanup), "checking");
}

/* Starts one step's command with stdio on /dev/null; its pid, or -1.
 * The environment is PATH and, for the helper, the configured jail(8)
 * (COLIBRI_JAIL: the helper honours it only when it runs without
 * privilege, as in tests; setuid, it uses its compiled-in path). */
static pid_t
run_step(const struct jail_cmd *cmd, const char *jail_tool)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    const char *path = getenv("PATH");
    char *env[3] = {NULL, NULL, NULL};
    pid_t pid;
    int rc;

    env[0] = xasprintf("PATH=%s", path ? path : "/usr/sbin:/usr/bin:/sbin:"
                                                "/bin");
    if (jail_tool != NULL)
        env[1] = xasprintf("COLIBRI_JAIL=%s", jail_tool);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    util_spawnattr_init(&at);
    rc = posix_spawn(&pid, cmd->program, &fa, &at, cmd->argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(env[0]);
    free(env[1]);
    if (rc != 0) {
        log_warnx("spawner: cannot run %s: %s", cmd->program, strerror(rc));
        return -1;
    }
    return pid;
}

static void
check_free(struct jail_check *jc)
{
    free(jc->agent);
    free(jc->tag);
    free(jc);
}

/* Unlinks and frees jc (lock held). */
static void
check_done(struct spawner *sp, struct jail_check *jc)
{
    struct jail_check **pp;

    for (pp = &sp->jail_checks; *pp != NULL; pp = &(*pp)->next)
        if (*pp == jc) {
            *pp = jc->next;
            break;
        }
    check_free(jc);
}

void
spawner_jail_tick(struct spawner *sp, int64_t now)
{
    struct jail_check *jc, *next;

    for (jc = sp->jail_checks; jc != NULL; jc = next) {
        struct jail_cmd cmd = {0};
        char err[256];
        int rc;

        next = jc->next;
        if (jc->pid != 0 || now < jc->due)
            continue;
        rc = jc->step == STEP_REMOVE
                 ? jail_remove_cmd(jc->priv, &sp->tools, jc->tag, &cmd, err,
                                   sizeof(err))
                 : jail_probe_cmd(&sp->tools, jc->tag, &cmd, err,
                                  sizeof(err));
        if (rc == 0) {
            jc->pid = run_step(&cmd, jc->priv == JAIL_PRIV_HELPER
                                         ? sp->tools.jail : NULL);
            if (jc->pid < 0)
                snprintf(err, sizeof(err), "cannot run %s", cmd.program);
            jail_cmd_free(&cmd);
        }
        if (rc < 0 || jc->pid < 0) {
            log_warnx("spawner: %s: jail %s: %s failed: %s", jc->agent,
                      jc->tag, step_names[jc->step], err);
            set_outcome(sp, jc->agent, "failed: %s: %s",
                        step_names[jc->step], err);
            check_done(sp, jc);
        }
    }
}

int
spawner_jail_reaped(struct spawner *sp, pid_t pid, int wstatus)
{
    struct jail_check *jc;
    int present;

    for (jc = sp->jail_checks; jc != NULL; jc = jc->next)
        if (jc->pid == pid)
            break;
    if (jc == NULL)
        return 0;
    jc->pid = 0;
    present = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    switch (jc->step) {
    case STEP_PROBE:
        if (!present) {
            set_outcome(sp, jc->agent, "gone");
            check_done(sp, jc);
            break;
        }
        log_warnx("spawner: %s: ephemeral jail %s outlived its command; "
                  "removing it", jc->agent, jc->tag);
        jc->step = STEP_REMOVE;
        jc->due = 0;
        break;
    case STEP_REMOVE:
        jc->step = STEP_VERIFY;
        jc->due = spawner_mono_ms() + SETTLE_MS;
        break;
    case STEP_VERIFY:
        if (present) {
            log_warnx("spawner: %s: ephemeral jail %s is still there after "
                      "jail -r", jc->agent, jc->tag);
            set_outcome(sp, jc->agent, "failed: jail %s is still there "
                        "after jail -r", jc->tag);
        } else {
            log_info("spawner: %s: removed ephemeral jail %s", jc->agent,
                     jc->tag);
            set_outcome(sp, jc->agent, "removed");
        }
        check_done(sp, jc);
        break;
    }
    return 1;
}

int
spawner_jail_busy(struct spawner *sp, const char *agent)
{
    struct jail_check *jc;

    for (jc = sp->jail_checks; jc != NULL; jc = jc->next)
        if (strcmp(jc->agent, agent) == 0)
            return 1;
    return 0;
}

int
spawner_jail_pending(struct spawner *sp)
{
    return sp->jail_checks != NULL;
}

void
spawner_jail_free(struct spawner *sp)
{
    struct jail_check *jc, *next;

    for (jc = sp->jail_checks; jc != NULL; jc = next) {
        next = jc->next;
        check_free(jc);
    }
    sp->jail_checks = NULL;
}

char *
spawner_jail_tag(void)
{
    unsigned char r[6];
    char hex[2 * sizeof(r) + 1];
    size_t i;

    if (util_random(r, sizeof(r)) < 0)
        for (i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)rand();
    for (i = 0; i < sizeof(r); i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    return xasprintf("%s%s", JAIL_TAG_PREFIX, hex);
}
