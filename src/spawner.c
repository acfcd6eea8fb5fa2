/*
 * spawner.c - agent processes: start, supervise, restart, stop.
 * See spawner.h and docs/internals/spawner.md.
 *
 * Threads: API handlers (spawner_spawn/kill/restart/describe) and the one
 * supervisor thread share the child list under sp->lock.  Only the
 * supervisor reads pipes, reaps and ingests; it never holds the lock
 * across panes_ingest/panes_exit (store writes), so API calls are never
 * queued behind a group commit.  Children are never freed while the
 * spawner runs: an agent's record is reused by its next run.
 */
#include "autoconf.h"

#include "src/spawner.h"
#include "src/spawner_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/types.h>
#include <sys/wait.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif
#ifdef __FreeBSD__
#include <sys/procctl.h>
#endif

#include "src/limits.h"
#include "src/log.h"
#include "src/panes.h"
#include "src/session.h"
#include "src/store.h"
#include "src/util.h"

long
spawner_backoff_ms(long floor_ms, long cap_ms, int attempt, double rnd)
{
    long top = floor_ms;
    long d;
    int i;

    for (i = 0; i < attempt && top < cap_ms; i++)
        top *= 2;
    if (top > cap_ms)
        top = cap_ms;
    d = (long)(rnd * (double)top);
    return d < floor_ms ? floor_ms : d;
}

/* Splits "NAME=ARGV..." on blanks; 0 or -1. */
static int
parse_runner(const char *spec, char **name, char ***argv)
{
    const char *eq = strchr(spec, '=');
    char *copy, *tok, *save = NULL;
    char **v = NULL;
    size_t n = 0, i;

    if (eq == NULL || eq == spec)
        return -1;
    for (i = 0; spec + i < eq; i++) {
        char c = spec[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return -1;
    }
    copy = xstrdup(eq + 1);
    for (tok = strtok_r(copy, " \t", &save); tok != NULL;
         tok = strtok_r(NULL, " \t", &save)) {
        v = xrealloc(v, (n + 2) * sizeof(*v));
        v[n++] = xstrdup(tok);
        v[n] = NULL;
    }
    free(copy);
    if (n == 0)
        return -1;
    *name = xstrndup(spec, (size_t)(eq - spec));
    *argv = v;
    return 0;
}

static void
strv_free(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static void
add_runner(struct spawner *sp, size_t *n, char *name, char **argv)
{
    sp->runner_names = xrealloc(sp->runner_names,
                                (*n + 2) * sizeof(*sp->runner_names));
    sp->runner_argv = xrealloc(sp->runner_argv,
                               (*n + 2) * sizeof(*sp->runner_argv));
    sp->runner_names[*n] = name;
    sp->runner_argv[*n] = argv;
    (*n)++;
    sp->runner_names[*n] = NULL;
    sp->runner_argv[*n] = NULL;
}

static char **
find_runner(struct spawner *sp, const char *name)
{
    size_t i;

    for (i = 0; sp->runner_names != NULL && sp->runner_names[i]; i++)
        if (strcmp(sp->runner_names[i], name) == 0)
            return sp->runner_argv[i];
    return NULL;
}

struct child *
spawner_find_child(struct spawner *sp, const char *agent)
{
    struct child *ch;

    for (ch = sp->children; ch != NULL; ch = ch->next)
        if (strcmp(ch->agent, agent) == 0)
            return ch;
    return NULL;
}

/* Frees what spawner_start set up (runners, strings, the lock) and sp;
 * the children are the caller's to have stopped first. */
static void
spawner_release(struct spawner *sp)
{
    size_t i;

    for (i = 0; sp->runner_names != NULL && sp->runner_names[i] != NULL;
         i++) {
        free(sp->runner_names[i]);
        strv_free(sp->runner_argv[i]);
    }
    free(sp->runner_names);
    free(sp->runner_argv);
    free(sp->url);
    free(sp->socket_path);
    pthread_mutex_destroy(&sp->lock);
    pthread_cond_destroy(&sp->saved);
    free(sp);
}

int
spawner_start(struct spawner **out, const struct spawner_options *o,
              char *err, size_t errlen)
{
    struct spawner *sp = xcalloc(1, sizeof(*sp));
    size_t n = 0, i;
    char *name;
    char **argv;

    pthread_mutex_init(&sp->lock, NULL);
    pthread_cond_init(&sp->saved, NULL);
    for (i = 0; o->runners != NULL && o->runners[i] != NULL; i++) {
        if (parse_runner(o->runners[i], &name, &argv) < 0) {
            snprintf(err, errlen, "--runner '%s': expected NAME=PROGRAM "
                     "[ARGS...] with NAME of letters, digits, '.', '_', "
                     "'-'", o->runners[i]);
            goto fail;
        }
        add_runner(sp, &n, name, argv);
    }
    if (find_runner(sp, "smoke") == NULL && o->smoke_agent != NULL) {
        argv = xcalloc(2, sizeof(*argv));
        argv[0] = xstrdup(o->smoke_agent);
        add_runner(sp, &n, xstrdup("smoke"), argv);
    }
    sp->env_allow = o->env_allow;
    sp->tools = o->tools;
    sp->url = xstrdup(o->url ? o->url : "");
    sp->socket_path = xstrdup(o->socket_path ? o->socket_path : "");
    sp->sessions = o->sessions;
    sp->prefix = o->prefix;
    sp->prefix_ctx = o->prefix_ctx;
    sp->panes = o->panes;
    sp->store = o->store;
    if (pipe2(sp->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "spawner: pipe: %s", strerror(errno));
        goto fail;
    }
    spawner_sigchld(sp->wake[1]);
#ifdef __linux__
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        log_warn("spawner: cannot become a child subreaper");
#endif
#ifdef __FreeBSD__
    if (procctl(P_PID, getpid(), PROC_REAP_ACQUIRE, NULL) < 0)
        log_warn("spawner: cannot become a reaper");
#endif
    if (pthread_create(&sp->thread, NULL, spawner_supervise, sp) != 0) {
        snprintf(err, errlen, "spawner: cannot start the supervisor");
        goto fail;
    }
    *out = sp;
    return 0;
fail:
    spawner_release(sp);
    return -1;
}

/* Is name allowed to pass into a child's environment? */
static int
env_allowed(struct spawner *sp, const char *name, size_t len)
{
    size_t i;

    for (i = 0; sp->env_allow != NULL && sp->env_allow[i] != NULL; i++)
        if (strlen(sp->env_allow[i]) == len &&
            strncmp(sp->env_allow[i], name, len) == 0)
            return 1;
    return 0;
}

static void
env_push(char ***env, size_t *n, char *entry)
{
    *env = xrealloc(*env, (*n + 2) * sizeof(**env));
    (*env)[(*n)++] = entry;
    (*env)[*n] = NULL;
}

/* The request's env: an object of strings with allowed names only. */
static int
check_req_env(struct spawner *sp, json_t *req_env, struct problem *err)
{
    const char *key;
    json_t *val;

    if (req_env == NULL || json_is_null(req_env))
        return 0;
    if (!json_is_object(req_env))
        return problem_set(err, 400, "invalid_argument",
                           "'env' must be an object of strings");
    json_object_foreach(req_env, key, val) {
        if (!json_is_string(val))
            return problem_set(err, 400, "invalid_argument",
                               "env '%s' must be a string", key);
        if (!env_allowed(sp, key, strlen(key)))
            return problem_set(err, 400, "env_not_allowed",
                               "env '%s' is not in --spawn-env-allow", key);
    }
    return 0;
}

/*
 * The child's environment: PATH and HOME of the daemon, the names the
 * operator allowed (from the daemon's environment, overridden by the
 * request's env), and the COLIBRI_* injections, which nothing overrides.
 */
static int
build_env(struct spawner *sp, struct child *ch, json_t *req_env,
          struct problem *err)
{
    extern char **environ;
    char **env = NULL;
    size_t n = 0, i;
    const char *key;
    json_t *val;
    const char *keep[] = {"PATH", "HOME"};

    if (check_req_env(sp, req_env, err) < 0)
        return -1;
    for (i = 0; environ[i] != NULL; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t len = eq ? (size_t)(eq - environ[i]) : 0, k;
        int ok = 0;

        if (eq == NULL || strncmp(environ[i], "COLIBRI_", 8) == 0)
            continue;
        for (k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
            if (strlen(keep[k]) == len &&
                strncmp(environ[i], keep[k], len) == 0)
                ok = 1;
        if (!ok && !env_allowed(sp, environ[i], len))
            continue;
        if (req_env != NULL && json_is_object(req_env)) {
            char *name = xstrndup(environ[i], len);
            int overridden = json_object_get(req_env, name) != NULL;

            free(name);
            if (overridden)
                continue;
        }
        env_push(&env, &n, xstrdup(environ[i]));
    }
    if (req_env != NULL && json_is_object(req_env))
        json_object_foreach(req_env, key, val)
            if (strncmp(key, "COLIBRI_", 8) != 0)
                env_push(&env, &n, xasprintf("%s=%s", key,
                                             json_string_value(val)));
    env_push(&env, &n, xasprintf("COLIBRI_AGENT_ID=%s", ch->agent));
    if (ch->task != NULL)
        env_push(&env, &n, xasprintf("COLIBRI_TASK_ID=%s", ch->task));
    if (ch->prefix_env != NULL)
        env_push(&env, &n, xasprintf("COLIBRI_PROMPT_PREFIX=%s",
                                     ch->prefix_env));
    env_push(&env, &n, xasprintf("COLIBRI_URL=%s", sp->url));
    env_push(&env, &n, xasprintf("COLIBRI_SOCKET=%s", sp->socket_path));
    if (ch->jail != NULL && ch->jail_priv == JAIL_PRIV_HELPER) {
        /* The configured tools, for a helper that runs without privilege
         * (tests); a setuid helper ignores them and uses its own. */
        env_push(&env, &n, xasprintf("COLIBRI_JEXEC=%s", sp->tools.jexec));
        env_push(&env, &n, xasprintf("COLIBRI_JAIL=%s", sp->tools.jail));
    }
    strv_free(ch->env);
    ch->env = env;
    return 0;
}

/*
 * Starts ch's command.  Own process group, stdin /dev/null, stdout and
 * stderr on pipes, default signal dispositions and an empty mask (the
 * daemon blocks and ignores some), and every other descriptor closed
 * (they are all close-on-exec too; closefrom is the second belt).
 * Called with the lock held.
 */
int
spawner_launch(struct spawner *sp, struct child *ch)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    int rc;
    pid_t pid;

    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = errno;
        goto fail;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34) && !defined(COLIBRI_AUDIT_FDS)
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    if (ch->cwd != NULL)
        posix_spawn_file_actions_addchdir_np(&fa, ch->cwd);
    util_spawnattr_init(&at);
    rc = posix_spawnp(&pid, ch->cmd.program, &fa, &at, ch->cmd.argv,
                      ch->env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0)
        goto fail;
    close(outp[1]);
    close(errp[1]);
    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    ch->pid = pid;
    ch->running = 1;
    ch->out_fd = outp[0];
    ch->err_fd = errp[0];
    ch->out_len = 0;
    ch->out_discard = 0;
    ch->err_len = 0;
    ch->kill_at = 0;
    ch->restart_at = 0;
    ch->sweep_until = 0;
    free(ch->session);
    ch->session = NULL;
    /* The run's session log: begun (file, spawn line, index row) before
     * the supervisor can read a line of the run. */
    if (sp->sessions != NULL)
        sessions_begin(sp->sessions, ch->agent,
                       ch->task ? strtoll(ch->task, NULL, 10) : -1,
                       ch->runner,
                       /* the prompt prefix the session starts with
                        * (drift is measured against it:
                        * store_prompt_observe) */
                       ch->prefix_sha256[0] != '\0' ? ch->prefix_sha256
                                                     : NULL,
                       (long)pid, ch->restarts, NULL, &ch->session);
    log_info("spawner: %s started (pid %ld, %s)", ch->agent, (long)pid,
             ch->cmd.program);
    spawner_wake(sp);
    return 0;
fail:
    if (outp[0] >= 0) {
        close(outp[0]);
        close(outp[1]);
    }
    if (errp[0] >= 0) {
        close(errp[0]);
        close(errp[1]);
    }
    snprintf(ch->last_error, sizeof(ch->last_error), "cannot start %s: %s",
             ch->cmd.program, strerror(rc));
    return -1;
}

static void
child_free(struct child *ch)
{
    free(ch->agent);
    free(ch->runner);
    free(ch->task);
    jail_cmd_free(&ch->cmd);
    strv_free(ch->env);
    free(ch->cwd);
    json_decref(ch->jail);
    free(ch->jail_tag);
    free(ch->prefix_env);
    free(ch->out);
    free(ch->session);
    free(ch);
}

static const char *
obj_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static json_int_t
arg_int(const json_t *args, const char *key, json_int_t def)
{
    json_t *v = json_object_get(args, key);

    return json_is_integer(v) ? json_integer_value(v) : def;
}

/* The argv for a spawn: the runner's template, then args, then extra
 * (the prompt prefix's options, NULL-ended, may be NULL), then the
 * prompt. */
static const char **
spawn_argv(char **tmpl, const json_t *args, char **extra_opts)
{
    json_t *extra = json_object_get(args, "args");
    const char *prompt = obj_str(args, "prompt");
    size_t n = 0, i, k = 0;
    const char **v;

    while (tmpl[n] != NULL)
        n++;
    for (i = 0; extra_opts != NULL && extra_opts[i] != NULL; i++)
        ;
    v = xcalloc(n + json_array_size(extra) + i + 2, sizeof(*v));
    for (i = 0; i < n; i++)
        v[k++] = tmpl[i];
    for (i = 0; i < json_array_size(extra); i++)
        v[k++] = json_string_value(json_array_get(extra, i));
    for (i = 0; extra_opts != NULL && extra_opts[i] != NULL; i++)
        v[k++] = extra_opts[i];
    if (prompt != NULL)
        v[k++] = prompt;
    v[k] = NULL;
    return v;
}

/*
 * The prompt prefix of a spawn (spawner_options.prefix): a pi runner
 * (its program's base name is "pi") gets --append-system-prompt FILE and
 * one --skill DIR per catalog skill as options (*opts, new, NULL-ended);
 * any other runner gets *env = FILE, for COLIBRI_PROMPT_PREFIX.
 */
static int
spawn_prefix(struct spawner *sp, const char *runner, const char *program,
             const json_t *args, char ***opts, char **env, char sha[65],
             struct problem *err)
{
    const char *base = strrchr(program, '/');
    char *file = NULL, **dirs = NULL, **v;
    size_t n = 0, i, k = 0;

    *opts = NULL;
    *env = NULL;
    sha[0] = '\0';
    if (sp->prefix == NULL)
        return 0;
    if (sp->prefix(sp->prefix_ctx, runner, arg_int(args, "task_id", 0),
                   &file, &dirs, sha, err) < 0)
        return -1;
    if (file == NULL) {
        sha[0] = '\0';
        strv_free(dirs);
        return 0;
    }
    base = base != NULL ? base + 1 : program;
    if (strcmp(base, "pi") != 0) {
        *env = file;
        strv_free(dirs);
        return 0;
    }
    while (dirs != NULL && dirs[n] != NULL)
        n++;
    v = xcalloc(2 * n + 3, sizeof(*v));
    v[k++] = xstrdup("--append-system-prompt");
    v[k++] = file;
    for (i = 0; i < n; i++) {
        v[k++] = xstrdup("--skill");
        v[k++] = dirs[i];
    }
    free(dirs);
    *opts = v;
    return 0;
}

int
spawner_spawn(struct spawner *sp, const json_t *args, json_t **result,
              struct problem *err)
{
    const char *runner = obj_str(args, "runner");
    const char *id = obj_str(args, "id");
    const char *cwd = obj_str(args, "cwd");
    json_t *jail = json_object_get(args, "jail");
    json_t *fields, *agent_doc = NULL;
    struct jail_config jc = {0};
    struct jail_cmd cmd = {0};
    enum jail_priv priv = JAIL_PRIV_NONE;
    char *tag = NULL;
    char **prefix_opts = NULL, *prefix_env = NULL, prefix_sha[65] = "";
    struct child *ch, tmp;
    char **tmpl, reason[256] = "";
    const char **argv;
    char *agent;
    int rc = -1;

    tmpl = find_runner(sp, runner);
    if (tmpl == NULL)
        return problem_set(err, 400, "unknown_runner",
                           "no runner '%s' is configured (--runner)",
                           runner);
    if (cwd != NULL && cwd[0] != '/')
        return problem_set(err, 400, "invalid_argument",
                           "cwd must be an absolute path");
    if (check_req_env(sp, json_object_get(args, "env"), err) < 0)
        return -1;
    if (jail != NULL && !json_is_null(jail)) {
        static const char *const keys[] = {"name", "path", "ip4", "user"};
        const char *k;
        json_t *v;
        size_t i;

        if (!json_is_object(jail))
            return problem_set(err, 400, "invalid_jail",
                               "'jail' must be an object {name, path, "
                               "ip4, user}");
        json_object_foreach(jail, k, v) {
            int known = 0;

            for (i = 0; i < 4; i++)
                if (strcmp(k, keys[i]) == 0)
                    known = 1;
            if (!known || !(json_is_string(v) || json_is_null(v)))
                return problem_set(err, 400, "invalid_jail",
                                   "jail: '%s' is not a string field of "
                                   "{name, path, ip4, user}", k);
        }
        jc.name = obj_str(jail, "name");
        jc.path = obj_str(jail, "path");
        jc.ip4 = obj_str(jail, "ip4");
        jc.user = obj_str(jail, "user");
        /* An ephemeral jail gets a name, so that it can be found (and
         * removed) if it outlives its command. */
        if (jc.path != NULL && jc.path[0] != '\0' &&
            (jc.name == NULL || jc.name[0] == '\0'))
            jc.tag = tag = spawner_jail_tag();
    }
    if (spawn_prefix(sp, runner, tmpl[0], args, &prefix_opts, &prefix_env,
                     prefix_sha, err) < 0) {
        free(tag);
        return -1;
    }
    argv = spawn_argv(tmpl, args, prefix_opts);   /* borrows them */
    if (jail_config_wanted(&jc)) {
        if (jail_priv_parse(getenv("COLIBRI_JAIL_PRIV_MODE"), &priv, reason,
                            sizeof(reason)) < 0) {
            free((void *)argv);
            strv_free(prefix_opts);
            free(tag);
            free(prefix_env);
            return problem_set(err, 400, "invalid_jail", "%s", reason);
        }
        rc = jail_wrap(&jc, priv, &sp->tools, argv[0],
                       argv, &cmd, reason,
                       sizeof(reason));
    } else {
        rc = jail_wrap(NULL, JAIL_PRIV_NONE, &sp->tools, argv[0],
                       argv, &cmd, reason,
                       sizeof(reason));
    }
    free((void *)argv);
    strv_free(prefix_opts);
    if (rc < 0) {
        free(tag);
        free(prefix_env);
        return problem_set(err, 400, "invalid_jail", "%s", reason);
    }

    /* The agent: registered now, or already known (and not running). */
    fields = json_pack("{s:s}", "kind", runner);
    if (id != NULL)
        json_object_set_new(fields, "id", json_string(id));
    rc = store_agent_register(sp->store, fields, &agent_doc, err);
    json_decref(fields);
    if (rc < 0 && err->status == 409 && id != NULL) {
        problem_clear(err);
        memset(err, 0, sizeof(*err));
        agent = xstrdup(id);
    } else if (rc < 0) {
        jail_cmd_free(&cmd);
        free(tag);
        free(prefix_env);
        return -1;
    } else {
        agent = xstrdup(obj_str(agent_doc, "id"));
    }
    json_decref(agent_doc);

    memset(&tmp, 0, sizeof(tmp));
    pthread_mutex_lock(&sp->lock);
    ch = spawner_find_child(sp, agent);
    if (ch != NULL && (ch->running || ch->ending || ch->restart_at != 0)) {
        pthread_mutex_unlock(&sp->lock);
        problem_set(err, 409, "agent_running",
                    "agent '%s' is running (pid %ld): kill it first", agent,
                    (long)ch->pid);
        free(agent);
        jail_cmd_free(&cmd);
        free(tag);
        free(prefix_env);
        return -1;
    }
    if (ch == NULL) {
        ch = xcalloc(1, sizeof(*ch));
        ch->agent = agent;
        ch->out_fd = ch->err_fd = -1;
        ch->next = sp->children;
        sp->children = ch;
    } else {
        free(agent);
    }
    free(ch->runner);
    ch->runner = xstrdup(runner);
    free(ch->task);
    ch->task = json_object_get(args, "task_id") != NULL
                   ? xasprintf("%lld", (long long)arg_int(args, "task_id", 0))
                   : NULL;
    jail_cmd_free(&ch->cmd);
    ch->cmd = cmd;
    free(ch->jail_tag);
    ch->jail_tag = tag;
    ch->jail_priv = priv;
    ch->jail_cleanup[0] = '\0';
    free(ch->cwd);
    ch->cwd = cwd ? xstrdup(cwd) : NULL;
    free(ch->prefix_env);
    ch->prefix_env = prefix_env;
    prefix_env = NULL;
    memcpy(ch->prefix_sha256, prefix_sha, sizeof(ch->prefix_sha256));
    json_decref(ch->jail);
    ch->jail = jail && json_is_object(jail) ? json_deep_copy(jail) : NULL;
    ch->exit_status = -1;
    ch->restarts = 0;
    ch->max_restarts = (int)arg_int(args, "max_restarts", 3);
    ch->floor_ms = (long)arg_int(args, "backoff_floor_ms", 500);
    ch->cap_ms = (long)arg_int(args, "backoff_cap_ms", 30000);
    if (ch->cap_ms < ch->floor_ms)
        ch->cap_ms = ch->floor_ms;
    ch->stopped = 0;
    ch->last_error[0] = '\0';
    rc = -1;
    if (build_env(sp, ch, json_object_get(args, "env"), err) < 0)
        goto out;
    if (spawner_launch(sp, ch) < 0) {
        problem_set(err, 500, "spawn_failed", "%s", ch->last_error);
        goto out;
    }
    *result = json_pack("{s:s, s:I}", "id", ch->agent, "pid",
                        (json_int_t)ch->pid);
    /* The launch record is written without the lock, so that the
     * supervisor reads the run's first lines meanwhile (their ingestion
     * may share its group commit); ch->saving makes the record of a
     * quick exit wait for it (spawner_wait_saved).  The answer still
     * waits for the commit. */
    {
        char *jt = spawner_jail_text(ch->jail);
        pid_t pid = ch->pid;

        ch->saving++;
        pthread_mutex_unlock(&sp->lock);
        spawner_save_process(sp, ch->agent, pid, -1, 0, jt);
        free(jt);
        pthread_mutex_lock(&sp->lock);
        ch->saving--;
        pthread_cond_broadcast(&sp->saved);
    }
    rc = 0;
out:
    pthread_mutex_unlock(&sp->lock);
    return rc;
}

static json_t *
describe(const struct child *ch)
{
    char *tail = xstrndup(ch->errtail, ch->err_len);
    char *clean = util_utf8_printable(tail);
    json_t *doc;

    doc = json_pack("{s:s, s:s, s:I, s:b, s:o, s:i, s:i, s:b, s:s?, s:s, "
                    "s:O?, s:s?}",
                    "id", ch->agent, "runner", ch->runner,
                    "pid", (json_int_t)ch->pid, "running", ch->running || ch->ending,
                    "exit_status", ch->exit_status < 0
                                       ? json_null()
                                       : json_integer(ch->exit_status),
                    "restarts", ch->restarts,
                    "max_restarts", ch->max_restarts,
                    "stopped", ch->stopped,
                    "last_error", ch->last_error[0] ? ch->last_error : NULL,
                    "stderr", clean, "jail", ch->jail,
                    "session", ch->session);
    if (ch->jail_tag != NULL)
        json_object_set_new(doc, "jail_name", json_string(ch->jail_tag));
    if (ch->jail_cleanup[0] != '\0')
        json_object_set_new(doc, "jail_cleanup",
                            json_string(ch->jail_cleanup));
    free(tail);
    free(clean);
    return doc;
}

/* agent's child with the lock held, or NULL (404 agent_not_spawned) with
 * the lock released. */
static struct child *
lock_child(struct spawner *sp, const char *agent, struct problem *err)
{
    struct child *ch;

    pthread_mutex_lock(&sp->lock);
    ch = spawner_find_child(sp, agent);
    if (ch == NULL) {
        pthread_mutex_unlock(&sp->lock);
        problem_set(err, 404, "agent_not_spawned",
                    "agent '%s' was not started by this daemon", agent);
    }
    return ch;
}

int
spawner_kill(struct spawner *sp, const char *agent, int grace_seconds,
             json_t **result, struct problem *err)
{
    struct child *ch;

    ch = lock_child(sp, agent, err);
    if (ch == NULL)
        return -1;
    ch->stopped = 1;
    ch->restart_at = 0;
    if (ch->running) {
        kill(-ch->pid, SIGTERM);
        spawner_signal_escaped(sp, agent, SIGTERM);
        ch->kill_at = spawner_mono_ms() + (int64_t)grace_seconds * 1000;
        if (grace_seconds == 0) {
            kill(-ch->pid, SIGKILL);
            spawner_signal_escaped(sp, agent, SIGKILL);
        }
    }
    *result = describe(ch);
    pthread_mutex_unlock(&sp->lock);
    spawner_wake(sp);
    return 0;
}

int
spawner_restart(struct spawner *sp, const char *agent, json_t **result,
                struct problem *err)
{
    struct child *ch;
    int64_t deadline = spawner_mono_ms() + 10000;

    ch = lock_child(sp, agent, err);
    if (ch == NULL)
        return -1;
    ch->stopped = 1;            /* this run's end is not a crash */
    ch->restart_at = 0;
    if (ch->running) {
        kill(-ch->pid, SIGTERM);
        spawner_signal_escaped(sp, agent, SIGTERM);
        ch->kill_at = spawner_mono_ms() + 5000;
    }
    pthread_mutex_unlock(&sp->lock);
    spawner_wake(sp);
    /* Wait for the run to end (the supervisor reaps it). */
    for (;;) {
        int running;

        pthread_mutex_lock(&sp->lock);
        running = ch->running || ch->ending ||
                  spawner_jail_busy(sp, ch->agent);
        if (!running) {
            /* The last launch record first (see spawner_spawn). */
            while (ch->saving > 0)
                pthread_cond_wait(&sp->saved, &sp->lock);
            ch->stopped = 0;
            ch->restarts = 0;
            ch->exit_status = -1;
            ch->last_error[0] = '\0';
            if (spawner_launch(sp, ch) < 0) {
                problem_set(err, 500, "spawn_failed", "%s",
                            ch->last_error);
                pthread_mutex_unlock(&sp->lock);
                return -1;
            }
            {
                char *jt = spawner_jail_text(ch->jail);
                pid_t pid = ch->pid;

                *result = json_pack("{s:s, s:I}", "id", ch->agent, "pid",
                                    (json_int_t)pid);
                spawner_save_process(sp, agent, pid, -1, 0, jt);
                pthread_mutex_unlock(&sp->lock);
                free(jt);
            }
            return 0;
        }
        pthread_mutex_unlock(&sp->lock);
        if (spawner_mono_ms() > deadline)
            return problem_set(err, 503, "agent_not_stopping",
                               "agent '%s' did not stop", agent);
        usleep(20000);
    }
}

int
spawner_describe(struct spawner *sp, const char *agent, json_t **result,
                 struct problem *err)
{
    struct child *ch;

    ch = lock_child(sp, agent, err);
    if (ch == NULL)
        return -1;
    *result = describe(ch);
    pthread_mutex_unlock(&sp->lock);
    return 0;
}

static int
jail_checks_pending(struct spawner *sp)
{
    int n;

    pthread_mutex_lock(&sp->lock);
    n = spawner_jail_pending(sp);
    pthread_mutex_unlock(&sp->lock);
    return n;
}

static int
any_running(struct spawner *sp)
{
    struct child *ch;
    int n = 0;

    pthread_mutex_lock(&sp->lock);
    for (ch = sp->children; ch != NULL; ch = ch->next)
        n += ch->running;
    pthread_mutex_unlock(&sp->lock);
    return n;
}

void
spawner_stop(struct spawner *sp, int grace_seconds)
{
    struct child *ch, *next;
    int64_t deadline;

    if (sp == NULL)
        return;
    pthread_mutex_lock(&sp->lock);
    for (ch = sp->children; ch != NULL; ch = ch->next) {
        ch->stopped = 1;
        ch->restart_at = 0;
        if (ch->running)
            kill(-ch->pid, SIGTERM);
    }
    spawner_signal_escaped(sp, NULL, SIGTERM);
    pthread_mutex_unlock(&sp->lock);
    spawner_wake(sp);
    deadline = spawner_mono_ms() + (int64_t)grace_seconds * 1000;
    while (any_running(sp) && spawner_mono_ms() < deadline)
        usleep(20000);
    pthread_mutex_lock(&sp->lock);
    for (ch = sp->children; ch != NULL; ch = ch->next)
        if (ch->running)
            kill(-ch->pid, SIGKILL);
    spawner_signal_escaped(sp, NULL, SIGKILL);
    pthread_mutex_unlock(&sp->lock);
    deadline = spawner_mono_ms() + 2000;
    while (any_running(sp) && spawner_mono_ms() < deadline)
        usleep(20000);
    /* Leftover ephemeral jails are removed before the daemon goes. */
    deadline = spawner_mono_ms() + 3000;
    while (jail_checks_pending(sp) && spawner_mono_ms() < deadline)
        usleep(20000);
    pthread_mutex_lock(&sp->lock);
    sp->quit = 1;
    pthread_mutex_unlock(&sp->lock);
    spawner_wake(sp);
    pthread_join(sp->thread, NULL);
    /* Adopted descendants that were still dying. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    spawner_sigchld(-1);
    close(sp->wake[0]);
    close(sp->wake[1]);
    for (ch = sp->children; ch != NULL; ch = next) {
        next = ch->next;
        if (ch->out_fd >= 0)
            close(ch->out_fd);
        if (ch->err_fd >= 0)
            close(ch->err_fd);
        child_free(ch);
    }
    spawner_jail_free(sp);
    spawner_release(sp);
}
