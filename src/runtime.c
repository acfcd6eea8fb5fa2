/*
 * runtime.c - the runtime inventory (see runtime.h): host facts read
 * live, runtimes on PATH and jails behind a 60 s cache because they cost
 * a program run each.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __FreeBSD__
#include <sys/sysctl.h>
#endif

#include "jail.h"
#include "runtime.h"
#include "util.h"

extern char **environ;

const char *const runtime_default_tools[] = {
    "pi", "node", "npm", "git", "python3", "claude", "codex", "gh", NULL
};

/* The cache of the slow parts; one per process. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *cache_runtimes;  /* guarded by cache_lock */
static json_t *cache_jails;
static int64_t cache_at_ms;     /* wall clock of the last refresh */
static int64_t cache_mono_us;   /* monotonic, for the age */
static char *cache_key;         /* the tools and PATH it was made for */

static void
memory_facts(json_t *mem)
{
#ifdef __FreeBSD__
    unsigned long physmem = 0;
    unsigned int free_pages = 0, inactive = 0;
    int pagesize = (int)sysconf(_SC_PAGESIZE);
    size_t len = sizeof(physmem);

    if (sysctlbyname("hw.physmem", &physmem, &len, NULL, 0) == 0)
        json_object_set_new(mem, "total_bytes",
                            json_integer((json_int_t)physmem));
    len = sizeof(free_pages);
    if (sysctlbyname("vm.stats.vm.v_free_count", &free_pages, &len, NULL,
                     0) == 0) {
        len = sizeof(inactive);
        if (sysctlbyname("vm.stats.vm.v_inactive_count", &inactive, &len,
                         NULL, 0) < 0)
            inactive = 0;
        json_object_set_new(mem, "available_bytes",
                            json_integer((json_int_t)(free_pages +
                                                      inactive) *
                                         pagesize));
    }
#else
    char *text = util_read_file("/proc/meminfo", 64 * 1024), *line, *save;
    long long kb;

    if (text == NULL)
        return;
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
            json_object_set_new(mem, "total_bytes",
                                json_integer((json_int_t)kb * 1024));
        else if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            json_object_set_new(mem, "available_bytes",
                                json_integer((json_int_t)kb * 1024));
    }
    free(text);
#endif
}

/* statvfs of path, or of its nearest existing ancestor when it does not
 * exist yet (a data directory the daemon has not created): the disk it
 * will be on. */
static int
disk_statvfs(const char *path, struct statvfs *vfs)
{
    char *p = xstrdup(path), *slash;
    int rc;

    while ((rc = statvfs(p, vfs)) < 0 && errno == ENOENT &&
           strcmp(p, "/") != 0 && (slash = strrchr(p, '/')) != NULL) {
        if (slash == p)
            slash[1] = '\0';  /* "/x" -> "/" */
        else
            *slash = '\0';
    }
    free(p);
    return rc;
}

json_t *
runtime_host_facts(const char *data_dir)
{
    struct utsname u;
    struct statvfs vfs;
    double load[3];
    char name[256];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    json_t *host = json_object(), *mem, *disk;

    if (gethostname(name, sizeof(name)) == 0) {
        name[sizeof(name) - 1] = '\0';
        json_object_set_new(host, "name", json_string(name));
    } else {
        json_object_set_new(host, "name", json_null());
    }
    if (uname(&u) == 0) {
        json_object_set_new(host, "os", json_string(u.sysname));
        json_object_set_new(host, "release", json_string(u.release));
        json_object_set_new(host, "version", json_string(u.version));
        json_object_set_new(host, "arch", json_string(u.machine));
    } else {
        json_object_set_new(host, "os", json_null());
        json_object_set_new(host, "release", json_null());
        json_object_set_new(host, "version", json_null());
        json_object_set_new(host, "arch", json_null());
    }
    json_object_set_new(host, "cpus", cpus > 0 ? json_integer(cpus)
                                               : json_null());
    mem = json_pack("{s:n, s:n}", "total_bytes", "available_bytes");
    memory_facts(mem);
    json_object_set_new(host, "memory", mem);
    if (getloadavg(load, 3) == 3)
        json_object_set_new(host, "load", json_pack("[f, f, f]", load[0],
                                                    load[1], load[2]));
    else
        json_object_set_new(host, "load", json_null());
    disk = json_pack("{s:s?, s:n, s:n, s:n}", "path", data_dir,
                     "total_bytes", "free_bytes", "available_bytes");
    if (data_dir != NULL && disk_statvfs(data_dir, &vfs) == 0) {
        json_object_set_new(disk, "total_bytes", json_integer(
            (json_int_t)vfs.f_blocks * (json_int_t)vfs.f_frsize));
        json_object_set_new(disk, "free_bytes", json_integer(
            (json_int_t)vfs.f_bfree * (json_int_t)vfs.f_frsize));
        json_object_set_new(disk, "available_bytes", json_integer(
            (json_int_t)vfs.f_bavail * (json_int_t)vfs.f_frsize));
    }
    json_object_set_new(host, "disk", disk);
    return host;
}

int
runtime_which(const char *name, const char *path, char *out, size_t outlen)
{
    const char *p = path, *end;
    struct stat st;
    int n;

    if (name == NULL || *name == '\0')
        return -1;
    if (strchr(name, '/') != NULL) {
        if (stat(name, &st) < 0 || !S_ISREG(st.st_mode) ||
            access(name, X_OK) < 0)
            return -1;
        n = snprintf(out, outlen, "%s", name);
        return n < 0 || (size_t)n >= outlen ? -1 : 0;
    }
    if (p == NULL)
        p = "/usr/local/bin:/usr/bin:/bin";
    for (;;) {
        end = strchr(p, ':');
        if (end == NULL)
            end = p + strlen(p);
        if (end > p) {          /* an empty element (cwd) is skipped */
            n = snprintf(out, outlen, "%.*s/%s", (int)(end - p), p, name);
            if (n > 0 && (size_t)n < outlen && stat(out, &st) == 0 &&
                S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        if (*end == '\0')
            return -1;
        p = end + 1;
    }
}

/*
 * Runs argv (argv[0] an absolute path) with stdin /dev/null, collecting
 * up to cap bytes of stdout and of stderr for at most timeout_ms; the
 * process group is killed when time runs out.  Returns 0, or -1 when it
 * could not start or timed out (what it printed is still returned).
 */
static int
run_capture(char *const argv[], struct buf *out, struct buf *err,
            long timeout_ms)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, rc = -1, open_fds = 2;
    int64_t deadline = util_mono_us() + (int64_t)timeout_ms * 1000;
    pid_t pid;

    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
        goto out;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    util_spawnattr_init(&at);
    rc = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;
    if (rc != 0) {
        rc = -1;
        goto out;
    }
    while (open_fds > 0) {
        struct pollfd pfd[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
        int64_t left = (deadline - util_mono_us()) / 1000;
        char chunk[1024];
        int i;

        if (left <= 0)
            break;
        if (poll(pfd, 2, (int)left) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (i = 0; i < 2; i++) {
            struct buf *b = i == 0 ? out : err;
            int *fd = i == 0 ? &outp[0] : &errp[0];
            ssize_t n;

            if (*fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            n = read(*fd, chunk, sizeof(chunk));
            if (n > 0) {
                size_t room = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;

                buf_append(b, chunk, (size_t)n < room ? (size_t)n : room);
            } else if (n == 0 || errno != EINTR) {
                close(*fd);
                *fd = -1;
                pfd[i].fd = -1;
                open_fds--;
            }
        }
    }
    rc = open_fds == 0 ? 0 : -1;
    if (rc < 0)
        kill(-pid, SIGKILL);
    /* The daemon's spawner may have reaped it already (ECHILD). */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
out:
    if (outp[0] >= 0)
        close(outp[0]);
    if (errp[0] >= 0)
        close(errp[0]);
    if (outp[1] >= 0)
        close(outp[1]);
    if (errp[1] >= 0)
        close(errp[1]);
    return rc;
}

/* The first non-blank line of text, printable and at most 200 chars;
 * NULL when there is none.  New string. */
static char *
first_line(const char *text)
{
    const char *p = text;
    char *line;
    size_t len, i;

    if (p == NULL)
        return NULL;
    for (;;) {
        while (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return NULL;
        len = strcspn(p, "\r\n");
        if (len > 200)
            len = 200;
        line = xstrndup(p, len);
        for (i = 0; i < len; i++)
            if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
                line[i] = ' ';
        util_utf8_scrub(line);
        while (len > 0 && line[len - 1] == ' ')
            line[--len] = '\0';
        return line;
    }
}

json_t *
runtime_tools(const char *const *tools, const char *path)
{
    json_t *list = json_array();
    size_t i;

    if (tools == NULL)
        tools = runtime_default_tools;
    for (i = 0; tools[i] != NULL; i++) {
        char where[4096], version_flag[] = "--version";
        char *argv[] = {where, version_flag, NULL}, *version = NULL;
        struct buf out, err;
        json_t *item;

        if (runtime_which(tools[i], path, where, sizeof(where)) < 0) {
            json_array_append_new(list, json_pack(
                "{s:s, s:b, s:n, s:n}", "name", tools[i], "found", 0,
                "path", "version"));
            continue;
        }
        buf_init(&out, RUNTIME_VERSION_OUTPUT);
        buf_init(&err, RUNTIME_VERSION_OUTPUT);
        run_capture(argv, &out, &err, RUNTIME_VERSION_TIMEOUT_MS);
        version = first_line(out.data);
        if (version == NULL)
            version = first_line(err.data);
        item = json_pack("{s:s, s:b, s:s, s:s?}", "name", tools[i],
                         "found", 1, "path", where, "version", version);
        json_array_append_new(list, item);
        free(version);
        buf_free(&out);
        buf_free(&err);
    }
    return list;
}

json_t *
runtime_parse_jls(const char *text, size_t len)
{
    json_t *doc = json_loadb(text, len, 0, NULL), *info, *jails, *out;

    info = json_object_get(doc, "jail-information");
    jails = json_object_get(info, "jail");
    if (!json_is_array(jails)) {
        json_decref(doc);
        return NULL;
    }
    out = json_incref(jails);
    json_decref(doc);
    return out;
}

json_t *
runtime_jails(const char *jls_path)
{
#ifdef __FreeBSD__
    char where[4096], flag[] = "--libxo=json";
    char *argv[] = {where, flag, NULL};
    struct buf out, err;
    json_t *jails = NULL;

    if (runtime_which(jls_path ? jls_path : JAIL_DEFAULT_JLS, NULL, where,
                      sizeof(where)) < 0)
        return json_null();
    buf_init(&out, RUNTIME_JLS_OUTPUT);
    buf_init(&err, RUNTIME_VERSION_OUTPUT);
    if (run_capture(argv, &out, &err, RUNTIME_VERSION_TIMEOUT_MS) == 0 &&
        out.data != NULL)
        jails = runtime_parse_jls(out.data, out.len);
    buf_free(&out);
    buf_free(&err);
    return jails ? jails : json_null();
#else
    (void)jls_path;
    return json_null();
#endif
}

/* What the cache was built for: the tool list and PATH. */
static char *
cache_key_of(const struct runtime_options *o, const char *path)
{
    const char *const *t = o->tools ? o->tools : runtime_default_tools;
    struct buf b;
    size_t i;

    buf_init(&b, 1024 * 1024);
    for (i = 0; t[i] != NULL; i++)
        buf_printf(&b, "%s,", t[i]);
    buf_printf(&b, "|%s|%s", path ? path : "",
               o->jls_path ? o->jls_path : "");
    return b.data ? b.data : xstrdup("");
}

json_t *
runtime_manifest(const struct runtime_options *o, int fresh)
{
    const char *path = o->path ? o->path : getenv("PATH");
    int64_t now;
    char when[UTIL_TIME_LEN], started[UTIL_TIME_LEN];
    char *key = cache_key_of(o, path);
    json_t *m, *runtimes, *jails, *colibri;

    pthread_mutex_lock(&cache_lock);
    if (fresh || cache_runtimes == NULL || cache_key == NULL ||
        strcmp(cache_key, key) != 0 ||
        util_mono_us() - cache_mono_us >= (int64_t)RUNTIME_CACHE_MS * 1000) {
        /* Refreshed under the lock: concurrent callers wait for one run
         * instead of each starting the programs. */
        json_decref(cache_runtimes);
        json_decref(cache_jails);
        cache_runtimes = runtime_tools(o->tools, path);
        cache_jails = runtime_jails(o->jls_path);
        cache_at_ms = util_now_ms();
        cache_mono_us = util_mono_us();
        free(cache_key);
        cache_key = key;
        key = NULL;
    }
    runtimes = json_deep_copy(cache_runtimes);
    jails = json_deep_copy(cache_jails);
    util_format_time(cache_at_ms, when);
    pthread_mutex_unlock(&cache_lock);
    free(key);

    now = util_now_ms();
    colibri = json_pack("{s:s, s:s}", "role", o->role ? o->role : "colibri",
                        "version", PACKAGE_VERSION);
    if (o->started_ms > 0) {
        util_format_time(o->started_ms, started);
        json_object_set_new(colibri, "started_at", json_string(started));
        json_object_set_new(colibri, "uptime_seconds", json_integer(
            (json_int_t)((now - o->started_ms) / 1000)));
    }
    m = json_pack("{s:i, s:s, s:o, s:o, s:s, s:o, s:o}",
                  "manifest_version", 1, "generated_at", "",
                  "host", runtime_host_facts(o->data_dir),
                  "runtimes", runtimes, "runtimes_checked_at", when,
                  "jails", jails, "colibri", colibri);
    util_format_time(now, when);
    json_object_set_new(m, "generated_at", json_string(when));
    return m;
}

static int
host_name_ok(const char *s)
{
    size_t i, n = strlen(s);

    if (n < 1 || n > RUNTIME_HOST_NAME_CHARS || s[0] == '-' || s[0] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int
runtime_manifest_check(const json_t *m, char *why, size_t whylen)
{
    const json_t *host, *name, *v;

    if (!json_is_object(m)) {
        snprintf(why, whylen, "the manifest must be a JSON object");
        return -1;
    }
    host = json_object_get(m, "host");
    if (!json_is_object(host)) {
        snprintf(why, whylen, "the manifest needs a \"host\" object");
        return -1;
    }
    name = json_object_get(host, "name");
    if (!json_is_string(name) || !host_name_ok(json_string_value(name))) {
        snprintf(why, whylen, "host.name must be a host name: 1 to %d of "
                 "A-Z a-z 0-9 . -, not starting with - or .",
                 RUNTIME_HOST_NAME_CHARS);
        return -1;
    }
    v = json_object_get(m, "runtimes");
    if (v != NULL && !json_is_array(v)) {
        snprintf(why, whylen, "runtimes must be an array");
        return -1;
    }
    v = json_object_get(m, "jails");
    if (v != NULL && !json_is_array(v) && !json_is_null(v)) {
        snprintf(why, whylen, "jails must be an array or null");
        return -1;
    }
    return 0;
}
