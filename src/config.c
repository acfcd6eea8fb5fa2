/*
 * config.c - the option table and the three sources it is read from.
 *
 * Every option is applied from a string, whatever its source, through
 * apply_value(): the file, the environment and the command line can
 * therefore never accept different syntax for the same option.
 */
#include "autoconf.h"

#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stddef.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoconf.h"
#include "limits.h"
#include "metering.h"
#include "util.h"

/* OPT_LIST: names, comma-separated in every source.  OPT_PATHS: paths,
 * one per flag, ':'-separated in the environment (like PATH), ',' or ':'
 * in the file. */
enum opt_type { OPT_STRING, OPT_INT, OPT_BOOL, OPT_LIST, OPT_DURABILITY,
                OPT_PATHS };

/* Where a value came from; a higher source replaces a lower one. */
enum opt_source { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };

struct option_def {
    const char *name;           /* long flag, file key; env is COLIBRI_<NAME> */
    int short_opt;              /* 0 when none */
    enum opt_type type;
    const char *metavar;
    size_t offset;              /* of the field in struct config */
    long min, max;              /* OPT_INT bounds */
    const char *help;
};

#define AT(field) offsetof(struct config, field)

/* Indexes into options[]; keep in the same order. */
enum {
    O_LISTEN, O_DATA_DIR, O_DB, O_SOCKET, O_SOCKET_GROUP, O_TLS_CERT,
    O_TLS_KEY, O_ALLOW_HOST, O_DURABILITY, O_THREADS, O_REAP_INTERVAL,
    O_DAEMON, O_DEBUG, O_SKILLS_PATH, O_EVENTS_KEEP, O_EVENTS_MAX_AGE,
    O_SESSION_MAX_AGE, O_SESSION_MAX_KB, O_METERING_MAX_AGE,
    O_SSE_MAX, O_SSE_HEARTBEAT, O_HTTP_MEMORY, O_STATIC_DIR,
    O_RUNNER, O_SPAWN_ENV_ALLOW, O_MDO_PATH, O_JEXEC_PATH, O_JAIL_PATH, O_JLS_PATH,
    O_JAIL_HELPER_PATH, O_SYSTEM_PROMPT, O_TOOL_NOTES,
    O_PRICE, O_RUNTIME_TOOLS, O_COUNT
};

static const struct option_def options[O_COUNT] = {
    [O_RUNTIME_TOOLS] = {"runtime-tools", 0, OPT_LIST, "NAME",
        AT(runtime_tools), 0, 0,
        "programs runtime.get looks for on PATH and asks for --version "
        "(repeatable; comma list; default pi,node,npm,git,python3,claude,"
        "codex,gh)"},
    [O_LISTEN] = {"listen", 'l', OPT_STRING, "HOST:PORT", AT(listen), 0, 0,
        "address to serve HTTP on; port 0 picks a free port "
        "(default 127.0.0.1:7700)"},
    [O_DATA_DIR] = {"data-dir", 'd', OPT_STRING, "DIR", AT(data_dir), 0, 0,
        "holds the database and the API token (default ./var from the "
        "source tree, the system state directory when installed)"},
    [O_DB] = {"db", 0, OPT_STRING, "FILE", AT(db_path), 0, 0,
        "SQLite database (default DATA_DIR/colibri.sqlite)"},
    [O_SOCKET] = {"socket", 's', OPT_STRING, "PATH", AT(socket_path), 0, 0,
        "Unix socket for local tools"},
    [O_SOCKET_GROUP] = {"socket-group", 0, OPT_STRING, "NAME",
        AT(socket_group), 0, 0,
        "group whose members may use the socket too (directory 0750, "
        "socket 0660); default: only this user and root"},
    [O_TLS_CERT] = {"tls-cert", 0, OPT_STRING, "FILE", AT(tls_cert), 0, 0,
        "PEM certificate; with --tls-key, serve HTTPS"},
    [O_TLS_KEY] = {"tls-key", 0, OPT_STRING, "FILE", AT(tls_key), 0, 0,
        "PEM private key for --tls-cert"},
    [O_ALLOW_HOST] = {"allow-host", 'H', OPT_LIST, "NAME", AT(allow_hosts), 0, 0,
        "extra Host header name to accept (repeatable; comma list in "
        "env and file); loopback names are always accepted"},
    [O_DURABILITY] = {"durability", 0, OPT_DURABILITY, "full|normal", AT(durability), 0, 0,
        "full: every commit survives power loss; normal: survives a "
        "crash of the daemon (default full)"},
    [O_THREADS] = {"threads", 't', OPT_INT, "N", AT(threads), 1, 256,
        "HTTP worker threads (default 16)"},
    [O_REAP_INTERVAL] = {"reap-interval", 0, OPT_INT, "SECONDS", AT(reap_interval), 1, 3600,
        "how often expired leases are returned to todo (default 1)"},
    [O_DAEMON] = {"daemon", 'D', OPT_BOOL, NULL, AT(daemonize), 0, 0,
        "detach and log to syslog"},
    [O_DEBUG] = {"debug", 'v', OPT_BOOL, NULL, AT(debug), 0, 0,
        "log debug messages"},
    [O_SKILLS_PATH] = {"skills-path", 0, OPT_PATHS, "DIR",
        AT(skills_paths), 0, 0,
        "a folder of skills (repeatable; ':'-separated in env, ',' or ':' "
        "in the file); the first root wins a name (default none)"},
    [O_EVENTS_KEEP] = {"events-keep", 0, OPT_INT, "N", AT(events_keep),
        100, 100000000,
        "events kept for replay, newest first (default 100000)"},
    [O_EVENTS_MAX_AGE] = {"events-max-age", 0, OPT_INT, "SECONDS",
        AT(events_max_age), 60, 315360000,
        "events older than this are pruned (default 604800, a week)"},
    [O_SESSION_MAX_AGE] = {"session-max-age-days", 0, OPT_INT, "DAYS",
        AT(session_max_age_days), 0, 36500,
        "session logs that ended longer ago are deleted, file and index "
        "row (default 30; 0 keeps them)"},
    [O_METERING_MAX_AGE] = {"metering-max-age-days", 0, OPT_INT, "DAYS",
        AT(metering_max_age_days), 0, 36500,
        "metered calls older than this are deleted (the /metrics totals "
        "stay); default 400, 0 keeps them"},
    [O_SESSION_MAX_KB] = {"session-max-kb", 0, OPT_INT, "KIB",
        AT(session_max_kb), 0, 2147483647,
        "the session logs' total size: beyond it the oldest ended ones "
        "are deleted (default 1048576, 1 GiB; 0 = no limit)"},
    [O_SSE_MAX] = {"sse-max-subscribers", 0, OPT_INT, "N",
        AT(sse_max_subscribers), 1, 15000,
        "event stream subscribers at most; beyond, 503 (default 10000)"},
    [O_SSE_HEARTBEAT] = {"sse-heartbeat", 0, OPT_INT, "SECONDS",
        AT(sse_heartbeat), 1, 300,
        "seconds between heartbeat comments on idle streams (default 15)"},
    [O_HTTP_MEMORY] = {"http-memory", 0, OPT_INT, "BYTES",
        AT(http_memory), 2048, 1048576,
        "memory per HTTP connection, for headers and buffers (default "
        "4096; it bounds what each event subscriber costs)"},
    [O_STATIC_DIR] = {"static-dir", 0, OPT_STRING, "DIR", AT(static_dir),
        0, 0,
        "the dashboard's files, served at / (default PKGDATADIR/static "
        "when installed, the source tree's static/ otherwise)"},
    [O_RUNNER] = {"runner", 0, OPT_PATHS, "NAME=PROGRAM ARGS",
        AT(runners), 0, 0,
        "an agent runner agent.spawn may name: its argv, split on blanks "
        "(repeatable; ';'-separated in env); 'smoke' runs "
        "colibri-smoke-agent unless redefined"},
    [O_SPAWN_ENV_ALLOW] = {"spawn-env-allow", 0, OPT_LIST, "NAME",
        AT(spawn_env_allow), 0, 0,
        "environment variable a spawned agent may receive, from the "
        "daemon's environment or the request (repeatable; comma list)"},
    [O_MDO_PATH] = {"mdo-path", 0, OPT_STRING, "FILE", AT(mdo_path), 0, 0,
        "mdo(1) for COLIBRI_JAIL_PRIV_MODE=mdo (default /usr/bin/mdo; "
        "env COLIBRI_MDO too)"},
    [O_JEXEC_PATH] = {"jexec-path", 0, OPT_STRING, "FILE", AT(jexec_path),
        0, 0, "jexec(8) (default /usr/sbin/jexec; env COLIBRI_JEXEC too)"},
    [O_JAIL_PATH] = {"jail-path", 0, OPT_STRING, "FILE", AT(jail_path),
        0, 0, "jail(8) (default /usr/sbin/jail; env COLIBRI_JAIL too)"},
    [O_JLS_PATH] = {"jls-path", 0, OPT_STRING, "FILE", AT(jls_path),
        0, 0, "jls(8), to find leftover ephemeral jails and list jails "
        "(default /usr/sbin/jls; env COLIBRI_JLS too)"},
    [O_JAIL_HELPER_PATH] = {"jail-helper-path", 0, OPT_STRING, "FILE",
        AT(jail_helper_path), 0, 0,
        "colibri-jail-helper for COLIBRI_JAIL_PRIV_MODE=helper (default "
        "/usr/local/libexec/colibri-jail-helper; env COLIBRI_JAIL_HELPER "
        "too)"},
    [O_SYSTEM_PROMPT] = {"system-prompt", 0, OPT_PATHS, "KIND=FILE",
        AT(system_prompts), 0, 0,
        "the system prompt (region 1) of agents of KIND (a runner name) "
        "(repeatable; ';'-separated in env); other kinds get a built-in "
        "text"},
    [O_TOOL_NOTES] = {"tool-notes", 0, OPT_STRING, "FILE", AT(tool_notes),
        0, 0,
        "tool notes for region 1 of every prompt (default: generated from "
        "the operations table)"},
    [O_PRICE] = {"price", 0, OPT_PATHS,
        "MODEL=INPUT,OUTPUT,CACHE_READ,CACHE_WRITE", AT(prices), 0, 0,
        "what a model's tokens cost, USD per million (repeatable; "
        "';'-separated in env); MODEL '*' prices every other model; "
        "metering reports the reported cost for models without a price"},
};

/* Non-option flags (actions). */
enum { A_HELP = 1000, A_VERSION, A_CHECK, A_PRINT, A_PRINT_OPS, A_CONFIG };

static int apply_value(struct config *cfg, int idx, const char *value,
                       enum opt_source src, enum opt_source *seen,
                       char *err, size_t errlen);
static int load_file(struct config *cfg, const char *path,
                     enum opt_source *seen, char *err, size_t errlen);
static int parse_listen(struct config *cfg, char *err, size_t errlen);
static int parse_bool(const char *s, int *out);
static void env_name(const char *name, char *out, size_t outlen);
static void list_free(char **list);
static void set_defaults(struct config *cfg, const char *argv0);
static int installed_binary(const char *argv0);

static void
env_name(const char *name, char *out, size_t outlen)
{
    size_t i, n = 0;

    n = (size_t)snprintf(out, outlen, "COLIBRI_");
    for (i = 0; name[i] != '\0' && n + 1 < outlen; i++, n++)
        out[n] = name[i] == '-' ? '_' : (char)(name[i] - ('a' <= name[i] &&
                 name[i] <= 'z' ? 'a' - 'A' : 0));
    out[n] = '\0';
}

static int
parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "true") ||
        !strcmp(s, "on"))
        *out = 1;
    else if (!strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "false") ||
             !strcmp(s, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

static void
list_free(char **list)
{
    size_t i;

    if (list == NULL)
        return;
    for (i = 0; list[i] != NULL; i++)
        free(list[i]);
    free(list);
}

/* Appends the names in value, separated by any of seps ("" = value is
 * one name), to *listp. */
static void
list_add(char ***listp, const char *value, const char *seps)
{
    size_t n = 0;
    const char *p = value;
    char **list = *listp;

    while (list != NULL && list[n] != NULL)
        n++;
    while (*p != '\0') {
        const char *comma = *seps ? strpbrk(p, seps) : NULL;
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0) {
            list = xrealloc(list, (n + 2) * sizeof(*list));
            list[n++] = xstrndup(p, len);
            list[n] = NULL;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *listp = list;
}

/*
 * Applies one option's value from source src.  A list option given by a
 * higher source replaces what lower sources said; repeated flags append.
 */
static int
apply_value(struct config *cfg, int idx, const char *value,
            enum opt_source src, enum opt_source *seen, char *err,
            size_t errlen)
{
    const struct option_def *o = &options[idx];
    static const char *const src_names[] = {"default", "config file",
        "environment", "command line"};
    long long v;
    int b;

    switch (o->type) {
    case OPT_STRING: {
        char **slot = (char **)((char *)cfg + o->offset);

        if (*value == '\0')
            return util_set_err(err, errlen, "%s: --%s must not be empty",
                                src_names[src], o->name);
        free(*slot);
        *slot = xstrdup(value);
        break;
    }
    case OPT_INT:
        if (util_parse_ll(value, o->min, o->max, &v) < 0)
            return util_set_err(err, errlen,
                                "%s: --%s must be an integer from %ld to %ld, "
                                "not '%s'", src_names[src], o->name, o->min,
                                o->max, value);
        *(int *)((char *)cfg + o->offset) = (int)v;
        break;
    case OPT_BOOL:
        if (parse_bool(value, &b) < 0)
            return util_set_err(err, errlen,
                                "%s: --%s must be yes or no, not '%s'",
                                src_names[src], o->name, value);
        *(int *)((char *)cfg + o->offset) = b;
        break;
    case OPT_LIST:
    case OPT_PATHS: {
        char ***slot = (char ***)((char *)cfg + o->offset);
        const char *seps = ",";

        if (o->type == OPT_PATHS)
            seps = src == SRC_FLAG ? "" : src == SRC_ENV ? ":" : ",:";
        if (idx == O_RUNNER || idx == O_SYSTEM_PROMPT) /* one per line */
            seps = src == SRC_ENV ? ";" : "";
        if (idx == O_PRICE)     /* prices hold commas: one per line */
            seps = src == SRC_ENV ? ";" : "";
        if (seen[idx] < src) {
            list_free(*slot);
            *slot = NULL;
        }
        list_add(slot, value, seps);
        break;
    }
    case OPT_DURABILITY:
        if (!strcmp(value, "full"))
            cfg->durability = DURABILITY_FULL;
        else if (!strcmp(value, "normal"))
            cfg->durability = DURABILITY_NORMAL;
        else
            return util_set_err(err, errlen,
                                "%s: --durability must be full or normal, "
                                "not '%s'", src_names[src], value);
        break;
    }
    seen[idx] = src;
    return 0;
}

/*
 * Reads "key = value" lines; '#' starts a comment line; keys are the long
 * option names.  Unknown keys are errors: a typo must not be ignored.
 */
static int
load_file(struct config *cfg, const char *path, enum opt_source *seen,
          char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[LIMIT_CONFIG_LINE];
    int lineno = 0, rc = 0;

    if (f == NULL)
        return util_set_err(err, errlen, "config file %s: %s", path,
                            strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line, *eq, *key, *value, *end;
        int i, found = -1;
        size_t len = strlen(line);

        lineno++;
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            rc = util_set_err(err, errlen,
                              "%s:%d: line too long", path, lineno);
            break;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0' || *p == '\r')
            continue;
        eq = strchr(p, '=');
        if (eq == NULL) {
            rc = util_set_err(err, errlen,
                              "%s:%d: expected 'key = value'", path,
                              lineno);
            break;
        }
        key = p;
        end = eq;
        while (end > key && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = '\0';
        value = eq + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        end = value + strlen(value);
        while (end > value && (end[-1] == '\n' || end[-1] == '\r' ||
                               end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = '\0';
        for (i = 0; i < O_COUNT; i++)
            if (!strcmp(options[i].name, key))
                found = i;
        if (found < 0) {
            rc = util_set_err(err, errlen, "%s:%d: unknown key '%s'", path,
                              lineno, key);
            break;
        }
        if (apply_value(cfg, found, value, SRC_FILE, seen, err,
                        errlen) < 0) {
            char inner[512];

            snprintf(inner, sizeof(inner), "%s", err);
            rc = util_set_err(err, errlen, "%s:%d: %s", path, lineno, inner);
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Splits cfg->listen into host and port; "[::1]:80" form for IPv6. */
static int
parse_listen(struct config *cfg, char *err, size_t errlen)
{
    const char *s = cfg->listen, *colon;
    long long port;

    free(cfg->listen_host);
    cfg->listen_host = NULL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':')
            return util_set_err(err, errlen,
                                "--listen '%s': expected [ADDR]:PORT",
                                s);
        cfg->listen_host = xstrndup(s + 1, (size_t)(close - s - 1));
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || colon == s)
            return util_set_err(err, errlen,
                                "--listen '%s': expected HOST:PORT",
                                s);
        cfg->listen_host = xstrndup(s, (size_t)(colon - s));
    }
    if (util_parse_ll(colon + 1, 0, 65535, &port) < 0)
        return util_set_err(err, errlen,
                            "--listen '%s': port must be 0-65535", s);
    cfg->listen_port = (int)port;
    return 0;
}

/*
 * True when argv0 names the installed binary (found through PATH or in
 * the configured sbindir/bindir): then system paths are the defaults.
 * Any other path means a run from a build tree, which keeps its state in
 * ./var so a developer never touches system directories by accident.
 */
static int
installed_binary(const char *argv0)
{
    char dir[PATH_MAX], real_dir[PATH_MAX], real_sbin[PATH_MAX];
    const char *slash;

    if (argv0 == NULL || strchr(argv0, '/') == NULL)
        return 1;
    slash = strrchr(argv0, '/');
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - argv0), argv0);
    if (dir[0] == '\0')
        snprintf(dir, sizeof(dir), "/");
    if (realpath(dir, real_dir) == NULL)
        return 0;
    if (realpath(COLIBRI_SBINDIR, real_sbin) != NULL &&
        !strcmp(real_dir, real_sbin))
        return 1;
    if (realpath(COLIBRI_BINDIR, real_sbin) != NULL &&
        !strcmp(real_dir, real_sbin))
        return 1;
    return 0;
}

char *
config_default_data_dir(const char *argv0)
{
    if (installed_binary(argv0))
        return xstrdup(COLIBRI_SYSTEM_DATA_DIR);
    return xstrdup("./var");
}

/*
 * The daemon and the colibri CLI both call this, so a CLI started the
 * same way as the daemon (installed or from the tree, same user, same
 * XDG_RUNTIME_DIR) finds the socket without being told.
 */
/* Installed: the files make install put in PKGDATADIR/static; a build
 * tree serves the source folder, so an edit shows on reload. */
char *
config_default_static_dir(const char *argv0)
{
    if (installed_binary(argv0))
        return xstrdup(COLIBRI_PKGDATADIR "/static");
    return xstrdup(COLIBRI_SRCDIR "/static");
}

char *
config_default_socket_path(const char *argv0, const char *data_dir)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");

    if (installed_binary(argv0) && getuid() == 0)
        return xstrdup(COLIBRI_SYSTEM_RUN_DIR "/colibri.sock");
    if (xdg != NULL && *xdg == '/')
        return xasprintf("%s/colibri/colibri.sock", xdg);
    return xasprintf("%s/colibri.sock", data_dir);
}

static void
set_defaults(struct config *cfg, const char *argv0)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen = xstrdup("127.0.0.1:7700");
    cfg->data_dir = config_default_data_dir(argv0);
    cfg->durability = DURABILITY_FULL;
    cfg->threads = 16;
    cfg->reap_interval = 1;
    cfg->events_keep = 100000;
    cfg->events_max_age = 7 * 24 * 3600;
    cfg->session_max_age_days = 30;
    cfg->metering_max_age_days = 400;
    cfg->session_max_kb = 1024 * 1024;
    cfg->sse_max_subscribers = 10000;
    cfg->sse_heartbeat = 15;
    cfg->http_memory = 4096;
}

int
config_load(struct config *cfg, int argc, char **argv,
            enum config_action *action, char *err, size_t errlen)
{
    struct option longopts[O_COUNT + 7];
    enum opt_source seen[O_COUNT];
    char shortopts[64];
    char envname[64];
    const char *config_path = NULL;
    int *flag_idx;
    const char **flag_val;
    int nflags = 0, i, c, n = 0, rc = -1;
    size_t s = 0;

    set_defaults(cfg, argc > 0 ? argv[0] : NULL);
    *action = CONFIG_RUN;
    for (i = 0; i < O_COUNT; i++)
        seen[i] = SRC_DEFAULT;

    shortopts[s++] = ':';
    for (i = 0; i < O_COUNT; i++) {
        longopts[n].name = options[i].name;
        longopts[n].has_arg = options[i].type == OPT_BOOL ? no_argument
                                                          : required_argument;
        longopts[n].flag = NULL;
        longopts[n].val = i + 1;
        n++;
        if (options[i].short_opt) {
            shortopts[s++] = (char)options[i].short_opt;
            if (options[i].type != OPT_BOOL)
                shortopts[s++] = ':';
        }
    }
    longopts[n++] = (struct option){"help", no_argument, NULL, A_HELP};
    longopts[n++] = (struct option){"version", no_argument, NULL, A_VERSION};
    longopts[n++] = (struct option){"check-config", no_argument, NULL,
                                    A_CHECK};
    longopts[n++] = (struct option){"print-config", no_argument, NULL,
                                    A_PRINT};
    longopts[n++] = (struct option){"print-ops", no_argument, NULL,
                                    A_PRINT_OPS};
    longopts[n++] = (struct option){"config", required_argument, NULL,
                                    A_CONFIG};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    s += (size_t)snprintf(shortopts + s, sizeof(shortopts) - s, "hVc:");

    /* First pass: collect flags, so the file can be read before them. */
    flag_idx = xcalloc((size_t)argc + 1, sizeof(*flag_idx));
    flag_val = xcalloc((size_t)argc + 1, sizeof(*flag_val));
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        int idx = -1;

        if (c == '?') {
            if (optopt)
                util_set_err(err, errlen, "unknown option '-%c'", optopt);
            else
                util_set_err(err, errlen, "unknown option '%s'",
                             argv[optind - 1]);
            goto out;
        }
        if (c == ':') {
            util_set_err(err, errlen, "option '%s' needs a value",
                         argv[optind - 1]);
            goto out;
        }
        switch (c) {
        case A_HELP: case 'h': *action = CONFIG_HELP; continue;
        case A_VERSION: case 'V': *action = CONFIG_VERSION; continue;
        case A_CHECK: *action = CONFIG_CHECK; continue;
        case A_PRINT: *action = CONFIG_PRINT; continue;
        case A_PRINT_OPS: *action = CONFIG_PRINT_OPS; continue;
        case A_CONFIG: case 'c': config_path = optarg; continue;
        default: break;
        }
        if (c >= 1 && c <= O_COUNT)
            idx = c - 1;
        for (i = 0; idx < 0 && i < O_COUNT; i++)
            if (options[i].short_opt == c)
                idx = i;
        if (idx < 0) {
            util_set_err(err, errlen, "unknown option");
            goto out;
        }
        flag_idx[nflags] = idx;
        flag_val[nflags] = options[idx].type == OPT_BOOL ? "yes" : optarg;
        nflags++;
    }
    if (optind < argc) {
        util_set_err(err, errlen, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (*action == CONFIG_HELP || *action == CONFIG_VERSION ||
        *action == CONFIG_PRINT_OPS) {
        rc = 0;
        goto out;
    }

    /* The file: --config, else COLIBRI_CONFIG, else the system file when
     * it exists. */
    if (config_path == NULL)
        config_path = getenv("COLIBRI_CONFIG");
    if (config_path == NULL && access(COLIBRI_SYSTEM_CONFIG, F_OK) == 0 &&
        installed_binary(argc > 0 ? argv[0] : NULL))
        config_path = COLIBRI_SYSTEM_CONFIG;
    if (config_path != NULL) {
        if (load_file(cfg, config_path, seen, err, errlen) < 0)
            goto out;
        cfg->config_file = xstrdup(config_path);
    }

    for (i = 0; i < O_COUNT; i++) {
        const char *v;

        env_name(options[i].name, envname, sizeof(envname));
        v = getenv(envname);
        if (v == NULL)
            continue;
        if (options[i].type == OPT_BOOL && *v == '\0')
            continue;
        if (apply_value(cfg, i, v, SRC_ENV, seen, err, errlen) < 0) {
            char inner[512];

            snprintf(inner, sizeof(inner), "%s", err);
            util_set_err(err, errlen, "%s: %s", envname, inner);
            goto out;
        }
    }
    for (i = 0; i < nflags; i++)
        if (apply_value(cfg, flag_idx[i], flag_val[i], SRC_FLAG, seen, err,
                        errlen) < 0)
            goto out;

    if (parse_listen(cfg, err, errlen) < 0)
        goto out;
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        util_set_err(err, errlen, "--tls-cert and --tls-key go together");
        goto out;
    }
    if (cfg->db_path == NULL)
        cfg->db_path = xasprintf("%s/colibri.sqlite", cfg->data_dir);
    cfg->token_path = xasprintf("%s/token", cfg->data_dir);
    if (cfg->static_dir == NULL)
        cfg->static_dir = config_default_static_dir(
            argc > 0 ? argv[0] : NULL);
    if (cfg->socket_path == NULL)
        cfg->socket_path = config_default_socket_path(
            argc > 0 ? argv[0] : NULL, cfg->data_dir);
    rc = 0;
out:
    free(flag_idx);
    free(flag_val);
    return rc;
}

int
config_check(const struct config *cfg, char *err, size_t errlen)
{
    struct metering_prices prices;
    struct stat st;
    size_t i;

    for (i = 0; cfg->runners && cfg->runners[i]; i++) {
        const char *eq = strchr(cfg->runners[i], '=');
        size_t n = eq ? (size_t)(eq - cfg->runners[i]) : 0;

        if (n == 0 || strspn(cfg->runners[i], "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n ||
            eq[1 + strspn(eq + 1, " \t")] == '\0')
            return util_set_err(err, errlen, "--runner '%s': expected "
                                "NAME=PROGRAM [ARGS...]", cfg->runners[i]);
    }
    for (i = 0; cfg->system_prompts && cfg->system_prompts[i]; i++) {
        const char *sp = cfg->system_prompts[i], *eq = strchr(sp, '=');
        size_t n = eq ? (size_t)(eq - sp) : 0;

        if (n == 0 || n > 32 || strspn(sp, "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n ||
            sp[0] == '.' || sp[0] == '_' || sp[0] == '-' || eq[1] == '\0')
            return util_set_err(err, errlen, "--system-prompt '%s': expected "
                                "KIND=FILE", sp);
        if (access(eq + 1, R_OK) < 0)
            return util_set_err(err, errlen, "--system-prompt %s: %s", sp,
                                strerror(errno));
    }
    if (cfg->tool_notes != NULL && access(cfg->tool_notes, R_OK) < 0)
        return util_set_err(err, errlen,
                            "--tool-notes %s: %s", cfg->tool_notes,
                            strerror(errno));
    if (metering_prices_parse(cfg->prices, &prices, err, errlen) < 0)
        return -1;
    metering_prices_free(&prices);
    if (cfg->tls_cert != NULL && access(cfg->tls_cert, R_OK) < 0)
        return util_set_err(err, errlen, "--tls-cert %s: %s", cfg->tls_cert,
                            strerror(errno));
    if (cfg->tls_key != NULL && access(cfg->tls_key, R_OK) < 0)
        return util_set_err(err, errlen, "--tls-key %s: %s", cfg->tls_key,
                            strerror(errno));
    if (stat(cfg->data_dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return util_set_err(err, errlen, "--data-dir %s: not a directory",
                            cfg->data_dir);
    if (stat(cfg->token_path, &st) == 0 && (st.st_mode & 077) != 0)
        return util_set_err(err, errlen,
                            "token file %s has mode %03o; it must not be "
                            "readable by group or others (chmod 600)",
                            cfg->token_path, (unsigned)(st.st_mode & 0777));
    if (cfg->socket_group != NULL && getgrnam(cfg->socket_group) == NULL)
        return util_set_err(err, errlen, "--socket-group %s: no such group",
                            cfg->socket_group);
    /* A missing skills root is only logged (it may be made later). */
    for (i = 0; cfg->skills_paths && cfg->skills_paths[i]; i++)
        if (stat(cfg->skills_paths[i], &st) == 0 && !S_ISDIR(st.st_mode))
            return util_set_err(err, errlen, "--skills-path %s: not a "
                                "directory", cfg->skills_paths[i]);
    return 0;
}

void
config_print(const struct config *cfg, FILE *out)
{
    size_t i;

    fprintf(out, "# colibrid effective configuration\n");
    if (cfg->config_file)
        fprintf(out, "# read from %s\n", cfg->config_file);
    fprintf(out, "listen = %s\n", cfg->listen);
    fprintf(out, "data-dir = %s\n", cfg->data_dir);
    fprintf(out, "db = %s\n", cfg->db_path);
    fprintf(out, "socket = %s\n", cfg->socket_path);
    if (cfg->socket_group)
        fprintf(out, "socket-group = %s\n", cfg->socket_group);
    if (cfg->tls_cert)
        fprintf(out, "tls-cert = %s\n", cfg->tls_cert);
    if (cfg->tls_key)
        fprintf(out, "tls-key = %s\n", cfg->tls_key);
    fprintf(out, "allow-host = ");
    for (i = 0; cfg->allow_hosts && cfg->allow_hosts[i]; i++)
        fprintf(out, "%s%s", i ? "," : "", cfg->allow_hosts[i]);
    fprintf(out, "\n");
    fprintf(out, "skills-path = ");
    for (i = 0; cfg->skills_paths && cfg->skills_paths[i]; i++)
        fprintf(out, "%s%s", i ? ":" : "", cfg->skills_paths[i]);
    fprintf(out, "\n");
    fprintf(out, "durability = %s\n",
            cfg->durability == DURABILITY_FULL ? "full" : "normal");
    fprintf(out, "threads = %d\n", cfg->threads);
    fprintf(out, "reap-interval = %d\n", cfg->reap_interval);
    fprintf(out, "daemon = %s\n", cfg->daemonize ? "yes" : "no");
    fprintf(out, "debug = %s\n", cfg->debug ? "yes" : "no");
    fprintf(out, "events-keep = %d\n", cfg->events_keep);
    fprintf(out, "events-max-age = %d\n", cfg->events_max_age);
    fprintf(out, "session-max-age-days = %d\n", cfg->session_max_age_days);
    fprintf(out, "metering-max-age-days = %d\n",
            cfg->metering_max_age_days);
    fprintf(out, "session-max-kb = %d\n", cfg->session_max_kb);
    fprintf(out, "sse-max-subscribers = %d\n", cfg->sse_max_subscribers);
    fprintf(out, "sse-heartbeat = %d\n", cfg->sse_heartbeat);
    fprintf(out, "http-memory = %d\n", cfg->http_memory);
    fprintf(out, "static-dir = %s\n", cfg->static_dir);
    for (i = 0; cfg->runners && cfg->runners[i]; i++)
        fprintf(out, "runner = %s\n", cfg->runners[i]);
    fprintf(out, "spawn-env-allow = ");
    for (i = 0; cfg->spawn_env_allow && cfg->spawn_env_allow[i]; i++)
        fprintf(out, "%s%s", i ? "," : "", cfg->spawn_env_allow[i]);
    fprintf(out, "\n");
    if (cfg->runtime_tools) {
        fprintf(out, "runtime-tools = ");
        for (i = 0; cfg->runtime_tools[i]; i++)
            fprintf(out, "%s%s", i ? "," : "", cfg->runtime_tools[i]);
        fprintf(out, "\n");
    }
    if (cfg->mdo_path)
        fprintf(out, "mdo-path = %s\n", cfg->mdo_path);
    if (cfg->jexec_path)
        fprintf(out, "jexec-path = %s\n", cfg->jexec_path);
    if (cfg->jail_path)
        fprintf(out, "jail-path = %s\n", cfg->jail_path);
    if (cfg->jls_path)
        fprintf(out, "jls-path = %s\n", cfg->jls_path);
    if (cfg->jail_helper_path)
        fprintf(out, "jail-helper-path = %s\n", cfg->jail_helper_path);
    for (i = 0; cfg->system_prompts && cfg->system_prompts[i]; i++)
        fprintf(out, "system-prompt = %s\n", cfg->system_prompts[i]);
    if (cfg->tool_notes)
        fprintf(out, "tool-notes = %s\n", cfg->tool_notes);
    for (i = 0; cfg->prices && cfg->prices[i]; i++)
        fprintf(out, "price = %s\n", cfg->prices[i]);
}

void
config_usage(FILE *out, const char *progname)
{
    char envname[64], left[64];
    int i;

    fprintf(out,
            "usage: %s [options]\n\n"
            "Colibri daemon: task board, agent registry and skills catalog "
            "over HTTP.\n\nOptions (flag > environment > config file > "
            "default):\n", progname);
    for (i = 0; i < O_COUNT; i++) {
        const struct option_def *o = &options[i];

        if (o->short_opt)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_opt,
                     o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
        env_name(o->name, envname, sizeof(envname));
        fprintf(out, "  %-30s %s\n  %-30s [env %s]\n", left, o->help, "",
                envname);
    }
    fprintf(out,
            "  -c, --config FILE              read FILE (key = value "
            "lines) [env COLIBRI_CONFIG]\n"
            "      --check-config             validate the configuration "
            "and exit\n"
            "      --print-config             print the effective "
            "configuration and exit\n"
            "      --print-ops                print the operations table "
            "(JSON) and exit\n"
            "  -V, --version                  print the version and exit\n"
            "  -h, --help                     print this help and exit\n");
}

void
config_free(struct config *cfg)
{
    free(cfg->config_file);
    free(cfg->listen);
    free(cfg->listen_host);
    free(cfg->data_dir);
    free(cfg->db_path);
    free(cfg->token_path);
    free(cfg->socket_path);
    free(cfg->socket_group);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->static_dir);
    free(cfg->mdo_path);
    free(cfg->jexec_path);
    free(cfg->jail_path);
    free(cfg->jail_helper_path);
    free(cfg->jls_path);
    list_free(cfg->runners);
    list_free(cfg->spawn_env_allow);
    list_free(cfg->runtime_tools);
    list_free(cfg->system_prompts);
    free(cfg->tool_notes);
    list_free(cfg->allow_hosts);
    list_free(cfg->skills_paths);
    list_free(cfg->prices);
    memset(cfg, 0, sizeof(*cfg));
}
