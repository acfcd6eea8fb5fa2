/*
 * prompt_build.c - gathers the inputs of prompt assembly from the daemon
 * (configuration, skills catalog, store), records the hashes, and writes
 * the prefix file a spawned agent reads.  See prompt_build.h.
 */
#include "autoconf.h"

#include "prompt_build.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "limits.h"
#include "log.h"
#include "ops.h"
#include "skills.h"
#include "store.h"
#include "util.h"

/* How often an unchanged observation of a kind is written again (it
 * only moves last_seen). */
#define OBSERVE_REFRESH_MS  60000
#define OBSERVE_KINDS       64

/* The last observation recorded per kind, so that assembling the same
 * prefix again costs no write. */
static struct {
    char kind[LIMIT_AGENT_CHARS + 1];
    char region1[PROMPT_SHA256_HEX];
    char inputs[PROMPT_SHA256_HEX];
    int64_t at;
} seen[OBSERVE_KINDS];
static size_t nseen;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t notes_once = PTHREAD_ONCE_INIT;
static char *notes_default;
static size_t notes_default_len;

static void
notes_init(void)
{
    notes_default = prompt_tool_notes(ops_table, ops_count,
                                      &notes_default_len);
}

/* A prompt file's text: UTF-8, at most LIMIT_PROMPT_FILE_BYTES. */
static char *
read_text(const char *what, const char *path, size_t *len,
          struct problem *err)
{
    char *text = util_read_file(path, LIMIT_PROMPT_FILE_BYTES);

    if (text == NULL) {
        log_warn("prompt: %s %s", what, path);
        problem_set(err, 500, "prompt_file_unreadable",
                    "the %s file cannot be read: %s", what,
                    strerror(errno));
        return NULL;
    }
    *len = strlen(text);
    if (!util_utf8_valid(text, *len)) {
        free(text);
        problem_set(err, 500, "prompt_file_unreadable",
                    "the %s file is not UTF-8 text", what);
        return NULL;
    }
    return text;
}

/* The configured system prompt file of kind, or NULL (borrowed). */
static const char *
system_file(const struct config *cfg, const char *kind)
{
    size_t i, n = strlen(kind);

    for (i = 0; cfg->system_prompts && cfg->system_prompts[i]; i++) {
        const char *sp = cfg->system_prompts[i];

        if (strncmp(sp, kind, n) == 0 && sp[n] == '=')
            return sp + n + 1;
    }
    return NULL;
}

/* Every valid skill of the catalog, a page at a time: a JSON array of
 * {name, description, path, ...} (new). */
static int
catalog_skills(struct skills *sk, json_t **out, struct problem *err)
{
    json_t *all = json_array();
    char *after = NULL;

    for (;;) {
        json_t *page = NULL, *next;

        if (skills_list(sk, 0, LIMIT_LIST_MAX, after, &page, err) < 0) {
            free(after);
            json_decref(all);
            return -1;
        }
        json_array_extend(all, json_object_get(page, "items"));
        next = json_object_get(page, "next");
        free(after);
        after = json_is_string(next) ? xstrdup(json_string_value(next))
                                     : NULL;
        json_decref(page);
        if (after == NULL)
            break;
    }
    *out = all;
    return 0;
}

/* Records the hashes unless this process recorded the same ones for the
 * kind within OBSERVE_REFRESH_MS; a session is always checked. */
static int
observe(struct app *app, const char *kind, int64_t session,
        const struct prompt_out *out, struct problem *err)
{
    struct prompt_observation o;
    int64_t now = util_now_ms();
    size_t i;
    int fresh = 0;

    pthread_mutex_lock(&seen_lock);
    for (i = 0; i < nseen; i++)
        if (strcmp(seen[i].kind, kind) == 0)
            break;
    if (i < nseen && strcmp(seen[i].region1, out->region1_sha256) == 0 &&
        strcmp(seen[i].inputs, out->inputs_sha256) == 0 &&
        now - seen[i].at < OBSERVE_REFRESH_MS)
        fresh = 1;
    pthread_mutex_unlock(&seen_lock);
    if (fresh && session <= 0)
        return 0;

    memset(&o, 0, sizeof(o));
    o.kind = kind;
    o.region1_sha256 = out->region1_sha256;
    o.inputs_sha256 = out->inputs_sha256;
    o.session = session;
    o.prefix_sha256 = out->prefix_sha256;
    if (store_prompt_observe(app->store, &o, NULL, err) < 0)
        return -1;

    pthread_mutex_lock(&seen_lock);
    for (i = 0; i < nseen; i++)
        if (strcmp(seen[i].kind, kind) == 0)
            break;
    if (i == nseen && nseen < OBSERVE_KINDS)
        nseen++;
    if (i < nseen && strlen(kind) < sizeof(seen[i].kind)) {
        memcpy(seen[i].kind, kind, strlen(kind) + 1);
        memcpy(seen[i].region1, out->region1_sha256, PROMPT_SHA256_HEX);
        memcpy(seen[i].inputs, out->inputs_sha256, PROMPT_SHA256_HEX);
        seen[i].at = now;
    }
    pthread_mutex_unlock(&seen_lock);
    return 0;
}

int
prompt_build(struct app *app, const char *kind, int64_t task,
             int64_t session, struct prompt_out *out, char ***skill_dirs,
             struct problem *err)
{
    const char *sysfile = system_file(app->cfg, kind);
    char *system = NULL, *notes_file = NULL;
    json_t *skills = NULL, *doc = NULL, *depdocs = json_array();
    struct prompt_skill *sv = NULL;
    struct prompt_dep *dv = NULL;
    const char **rv = NULL;
    struct prompt_task t;
    struct prompt_input in;
    size_t i, n;
    json_t *v;
    int rc = -1;

    memset(&in, 0, sizeof(in));
    memset(out, 0, sizeof(*out));
    if (sysfile != NULL) {
        system = read_text("system prompt", sysfile, &in.system_len, err);
        if (system == NULL)
            goto out;
    } else {
        system = prompt_default_system(kind, &in.system_len);
    }
    in.system = system;
    if (app->cfg->tool_notes != NULL) {
        notes_file = read_text("tool notes", app->cfg->tool_notes,
                               &in.tool_notes_len, err);
        if (notes_file == NULL)
            goto out;
        in.tool_notes = notes_file;
    } else {
        pthread_once(&notes_once, notes_init);
        in.tool_notes = notes_default;
        in.tool_notes_len = notes_default_len;
    }

    if (app->skills != NULL &&
        catalog_skills(app->skills, &skills, err) < 0)
        goto out;
    n = json_array_size(skills);
    sv = xcalloc(n + 1, sizeof(*sv));
    json_array_foreach(skills, i, v) {
        sv[i].name = json_string_value(json_object_get(v, "name"));
        sv[i].description = json_string_value(json_object_get(v,
                                              "description"));
    }
    in.skills = sv;
    in.nskills = n;

    if (task > 0) {
        json_t *deps, *req;

        if (store_task_get(app->store, task, &doc, err) < 0)
            goto out;
        memset(&t, 0, sizeof(t));
        t.id = task;
        t.title = json_string_value(json_object_get(doc, "title"));
        t.body = json_string_value(json_object_get(doc, "body"));
        deps = json_object_get(doc, "depends_on");
        dv = xcalloc(json_array_size(deps) + 1, sizeof(*dv));
        json_array_foreach(deps, i, v) {
            json_t *dep = NULL;
            struct problem ignored = {0};

            dv[i].id = json_integer_value(v);
            if (store_task_get(app->store, dv[i].id, &dep, &ignored) == 0) {
                dv[i].title = json_string_value(json_object_get(dep,
                                                                "title"));
                json_array_append_new(depdocs, dep);
            }
            problem_clear(&ignored);
        }
        t.deps = dv;
        t.ndeps = json_array_size(deps);
        req = json_object_get(doc, "requires_skills");
        rv = xcalloc(json_array_size(req) + 1, sizeof(*rv));
        json_array_foreach(req, i, v)
            rv[i] = json_string_value(v);
        t.skills = rv;
        t.nskills = json_array_size(req);
        in.task = &t;
    }

    prompt_assemble(&in, out);
    if (observe(app, kind, session, out, err) < 0) {
        prompt_out_free(out);
        goto out;
    }
    if (skill_dirs != NULL) {
        /* The catalog lists by name, bytewise (SQLite's BINARY order). */
        char **dirs = xcalloc(n + 1, sizeof(*dirs));

        json_array_foreach(skills, i, v)
            dirs[i] = xstrdup(json_string_value(json_object_get(v,
                                                                "path")));
        *skill_dirs = dirs;
    }
    rc = 0;
out:
    free(system);
    free(notes_file);
    free(sv);
    free(dv);
    free((void *)rv);
    json_decref(skills);
    json_decref(doc);
    json_decref(depdocs);
    return rc;
}

int
prompt_write_file(const char *data_dir, const struct prompt_out *out,
                  char **path, struct problem *err)
{
    char *dir = xasprintf("%s/prompts", data_dir);
    char *final = xasprintf("%s/%s.md", dir, out->prefix_sha256);
    char *tmp = xasprintf("%s/.%s.md.XXXXXX", dir, out->prefix_sha256);
    const char *parts[2] = {out->region1, out->region2};
    size_t lens[2] = {out->region1_len, out->region2_len}, k;
    int fd = -1, rc = -1;
    struct stat st;

    if (util_mkdir_p(dir, 0700) < 0) {
        log_warn("prompt: mkdir %s", dir);
        problem_set(err, 500, "prompt_write_failed",
                    "cannot make the prompts directory: %s",
                    strerror(errno));
        goto out;
    }
    {
        /* The agent may run elsewhere (cwd): give it an absolute path. */
        char *abs = realpath(dir, NULL);

        if (abs != NULL) {
            free(final);
            free(tmp);
            final = xasprintf("%s/%s.md", abs, out->prefix_sha256);
            tmp = xasprintf("%s/.%s.md.XXXXXX", abs, out->prefix_sha256);
            free(abs);
        }
    }
    if (stat(final, &st) == 0 && S_ISREG(st.st_mode) &&
        (size_t)st.st_size == lens[0] + lens[1]) {
        rc = 0;                 /* its name is its content's hash */
        goto out;
    }
    fd = mkstemp(tmp);          /* mode 0600 */
    if (fd < 0)
        goto fail;
    for (k = 0; k < 2; k++) {
        const char *p = parts[k];
        size_t left = lens[k];

        while (left > 0) {
            ssize_t w = write(fd, p, left);

            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                goto fail;
            p += w;
            left -= (size_t)w;
        }
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, final) < 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    log_warn("prompt: write %s", final);
    problem_set(err, 500, "prompt_write_failed",
                "cannot write the prompt file: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    if (rc == 0)
        *path = final;
    else
        free(final);
    free(dir);
    free(tmp);
    return rc;
}

int
prompt_spawn_prefix(void *ctx, const char *kind, int64_t task, char **file,
                    char ***skill_dirs, char sha[PROMPT_SHA256_HEX],
                    struct problem *err)
{
    struct app *app = ctx;
    struct prompt_out out;
    char **dirs = NULL;

    *file = NULL;
    *skill_dirs = NULL;
    if (task <= 0 && system_file(app->cfg, kind) == NULL)
        return 0;
    if (prompt_build(app, kind, task, 0, &out, &dirs, err) < 0) {
        /* agent.spawn never required its task_id to exist: a missing
         * task gives no region 2 (and no prefix at all to a kind without
         * a system prompt), not a refused spawn. */
        if (task <= 0 || err->status != 404)
            return -1;
        log_warnx("prompt: %s: task %lld does not exist: no region 2",
                  kind, (long long)task);
        problem_clear(err);
        if (system_file(app->cfg, kind) == NULL)
            return 0;
        if (prompt_build(app, kind, 0, 0, &out, &dirs, err) < 0)
            return -1;
    }
    if (prompt_write_file(app->cfg->data_dir, &out, file, err) < 0) {
        size_t i;

        for (i = 0; dirs && dirs[i]; i++)
            free(dirs[i]);
        free(dirs);
        prompt_out_free(&out);
        return -1;
    }
    memcpy(sha, out.prefix_sha256, PROMPT_SHA256_HEX);
    *skill_dirs = dirs;
    prompt_out_free(&out);
    return 0;
}
