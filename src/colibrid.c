/*
 * colibrid.c - the daemon's main: read the configuration, start the
 * modules in order, wait for a signal, stop them in reverse.
 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/resource.h>

#include "app.h"
#include "bus.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "login.h"
#include "metrics.h"
#include "ops.h"
#include "panes.h"
#include "reaper.h"
#include "session.h"
#include "prompt_build.h"
#include "skills.h"
#include "socket.h"
#include "spawner.h"
#include "sse.h"
#include "store.h"
#include "token.h"
#include "util.h"
#include "limits.h"

static void
print_ops(void)
{
    json_t *ops = ops_describe();

    json_dumpf(ops, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(ops);
}

/* The address a person should open: a wildcard bind is reached through
 * loopback. */
static void
public_url(const struct config *cfg, int port, char *out, size_t outlen)
{
    const char *host = cfg->listen_host;
    const char *scheme = cfg->tls_cert ? "https" : "http";

    if (!strcmp(host, "0.0.0.0"))
        host = "127.0.0.1";
    if (!strcmp(host, "::"))
        host = "::1";
    if (strchr(host, ':') != NULL)
        snprintf(out, outlen, "%s://[%s]:%d/", scheme, host, port);
    else
        snprintf(out, outlen, "%s://%s:%d/", scheme, host, port);
}

/* A jail tool's path: the option, else the environment variable the
 * original daemon used, else the FreeBSD default. */
static const char *
tool_path(const char *option, const char *env, const char *dflt)
{
    const char *v = getenv(env);

    if (option != NULL)
        return option;
    return v != NULL && v[0] != '\0' ? v : dflt;
}

/* colibri-smoke-agent: next to this binary (a build tree), else where
 * make install put it.  New. */
static char *
smoke_agent_path(const char *argv0)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    char *p;

    if (slash != NULL) {
        p = xasprintf("%.*s/colibri-smoke-agent", (int)(slash - argv0),
                      argv0);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return xstrdup(COLIBRI_BINDIR "/colibri-smoke-agent");
}

/* Logs a fresh one-time dashboard login link (at start, and on SIGUSR1
 * for whoever needs another); scripts look for "login: http". */
static void
log_login_link(struct http *http, const char *url)
{
    char code[LOGIN_SECRET_HEX + 1];

    if (http_login_code(http, code) < 0) {
        log_warnx("cannot make a dashboard login code");
        return;
    }
    log_info("login: %slogin?t=%s (one-time dashboard link, valid 10 "
             "minutes; kill -USR1 %ld prints another)", url, code,
             (long)getpid());
    explicit_bzero(code, sizeof(code));
}

/* The glasspane's transitions go into the agent's session log. */
static void
session_observe_cb(void *ctx, const char *agent, const char *from,
                   const char *to, const char *reason)
{
    sessions_note_state(ctx, agent, from, to, reason);
}

/* The reaper's once-a-second tick: glasspanes that settle by time,
 * session followers' heartbeats and session retention. */
static void
daemon_tick_cb(void *ctx)
{
    struct app *app = ctx;

    panes_tick(app->panes);
    sessions_tick(app->sessions);
}

/* Event subscribers each hold a connection: lift the soft open-files
 * limit toward what the connection limit needs (never above the hard
 * limit). */
static void
raise_fd_limit(rlim_t want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want
                      ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        log_warn("cannot raise the open-files limit to %llu",
                 (unsigned long long)want);
}

int
main(int argc, char **argv)
{
    struct config cfg;
    enum config_action action;
    struct app app;
    struct store *store = NULL;
    struct metrics *metrics = NULL;
    struct http *http = NULL;
    struct reaper *reaper = NULL;
    struct bus *bus = NULL;
    struct sse *sse = NULL;
    struct panes *panes = NULL;
    struct spawner *spawner = NULL;
    struct spawner_options popts;
    char *smoke = NULL;
    struct sessions *sessions = NULL;
    struct sessions_options ssopts;
    struct sse_options eopts;
    int64_t oldest = 0, newest = 0;
    struct skills *skills = NULL;
    size_t nroots = 0;
    int nvalid, ninvalid;
    struct socket_server *sock = NULL;
    struct store_options sopts;
    struct http_options hopts;
    struct socket_options kopts;
    struct problem perr = {0};
    char err[1024], token[TOKEN_HEX_LEN + 1], url[300];
    char *cert = NULL, *key = NULL;
    sigset_t sigs;
    int sig;

    if (config_load(&cfg, argc, argv, &action, err, sizeof(err)) < 0) {
        fprintf(stderr, "colibrid: %s\n(colibrid --help lists the "
                "options)\n", err);
        config_free(&cfg);
        return 2;
    }
    switch (action) {
    case CONFIG_HELP:
        config_usage(stdout, "colibrid");
        config_free(&cfg);
        return 0;
    case CONFIG_VERSION:
        printf("colibrid %s\n", PACKAGE_VERSION);
        config_free(&cfg);
        return 0;
    case CONFIG_PRINT_OPS:
        print_ops();
        config_free(&cfg);
        return 0;
    case CONFIG_PRINT:
        config_print(&cfg, stdout);
        config_free(&cfg);
        return 0;
    case CONFIG_CHECK:
        if (config_check(&cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "colibrid: %s\n", err);
            config_free(&cfg);
            return 1;
        }
        printf("colibrid: configuration ok\n");
        config_free(&cfg);
        return 0;
    case CONFIG_RUN:
        break;
    }

    log_init("colibrid", cfg.daemonize, cfg.debug);
    if (config_check(&cfg, err, sizeof(err)) < 0)
        fatalx("%s", err);
    if (util_mkdir_p(cfg.data_dir, 0700) < 0)
        fatal("cannot create data directory %s", cfg.data_dir);
    if (token_load_or_create(cfg.token_path, token, err, sizeof(err)) < 0)
        fatalx("%s", err);
    if (cfg.tls_cert != NULL) {
        cert = util_read_file(cfg.tls_cert, 1024 * 1024);
        if (cert == NULL)
            fatal("cannot read --tls-cert %s", cfg.tls_cert);
        key = util_read_file(cfg.tls_key, 1024 * 1024);
        if (key == NULL)
            fatal("cannot read --tls-key %s", cfg.tls_key);
    }
    if (cfg.daemonize && daemon(1, 0) < 0)
        fatal("cannot detach");

    /* Signals are taken synchronously by this thread only: block them
     * before any other thread exists, so every thread inherits the mask. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);          /* a new dashboard login link */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    memset(&sopts, 0, sizeof(sopts));
    sopts.path = cfg.db_path;
    sopts.durable = cfg.durability == DURABILITY_FULL;
    if (store_open(&store, &sopts, &perr) < 0)
        fatalx("%s", perr.detail);
    /* The bus starts at the newest stored event: a subscriber resuming
     * from an older one replays from the store. */
    if (store_events_bounds(store, &oldest, &newest, &perr) < 0)
        fatalx("%s", perr.detail);
    bus = bus_new(LIMIT_BUS_RING, newest);
    store_set_publisher(store, bus_publish, bus);
    while (cfg.skills_paths != NULL && cfg.skills_paths[nroots] != NULL)
        nroots++;
    if (skills_open(&skills, cfg.skills_paths, nroots, &perr) < 0)
        fatalx("%s", perr.detail);
    skills_counts(skills, &nvalid, &ninvalid);
    log_info("skills: %d valid, %d invalid in %zu roots", nvalid, ninvalid,
             nroots);
    metrics = metrics_new(ops_count);

    memset(&app, 0, sizeof(app));
    app.cfg = &cfg;
    /* The jail tools, resolved once (flag, else environment, else the
     * FreeBSD default): the spawner's, and jls for runtime.get. */
    app.jail_tools.mdo = tool_path(cfg.mdo_path, "COLIBRI_MDO",
                                   JAIL_DEFAULT_MDO);
    app.jail_tools.jexec = tool_path(cfg.jexec_path, "COLIBRI_JEXEC",
                                     JAIL_DEFAULT_JEXEC);
    app.jail_tools.jail = tool_path(cfg.jail_path, "COLIBRI_JAIL",
                                    JAIL_DEFAULT_JAIL);
    app.jail_tools.jls = tool_path(cfg.jls_path, "COLIBRI_JLS",
                                   JAIL_DEFAULT_JLS);
    app.jail_tools.helper = tool_path(cfg.jail_helper_path,
                                      "COLIBRI_JAIL_HELPER",
                                      JAIL_DEFAULT_HELPER);
    app.store = store;
    app.metrics = metrics;
    app.skills = skills;
    panes_new(&panes, store);
    app.panes = panes;
    /* Session logs: what a crash left open is closed before anything
     * new can start. */
    memset(&ssopts, 0, sizeof(ssopts));
    ssopts.data_dir = cfg.data_dir;
    ssopts.store = store;
    ssopts.max_age_ms = (int64_t)cfg.session_max_age_days * 86400000;
    ssopts.max_bytes = (int64_t)cfg.session_max_kb * 1024;
    ssopts.heartbeat_seconds = cfg.sse_heartbeat;
    ssopts.max_followers = LIMIT_SESSION_FOLLOWERS;
    if (sessions_open(&sessions, &ssopts, &perr) < 0)
        fatalx("%s", perr.detail);
    app.sessions = sessions;
    panes_set_observer(panes, session_observe_cb, sessions);
    app.started_ms = util_now_ms();

    memset(&hopts, 0, sizeof(hopts));
    hopts.host = cfg.listen_host;
    hopts.port = cfg.listen_port;
    hopts.tls_cert_pem = cert;
    hopts.tls_key_pem = key;
    hopts.threads = cfg.threads;
    hopts.token = token;
    hopts.allow_hosts = cfg.allow_hosts;
    hopts.static_dir = cfg.static_dir;
    memset(&eopts, 0, sizeof(eopts));
    eopts.bus = bus;
    eopts.store = store;
    eopts.max_subscribers = (size_t)cfg.sse_max_subscribers;
    eopts.heartbeat_seconds = cfg.sse_heartbeat;
    eopts.retry_ms = 2000;
    if (sse_new(&sse, &eopts) < 0)
        fatalx("cannot start the event streams");
    hopts.sse = sse;
    hopts.max_connections = (unsigned int)cfg.sse_max_subscribers +
                            LIMIT_HTTP_CONNECTIONS;
    hopts.connection_memory = (size_t)cfg.http_memory;
    raise_fd_limit(hopts.max_connections + 256);
    if (http_start(&http, &app, &hopts, err, sizeof(err)) < 0)
        fatalx("%s", err);
    __atomic_store_n(&app.http_port, http_port(http), __ATOMIC_RELAXED);
    memset(&kopts, 0, sizeof(kopts));
    kopts.path = cfg.socket_path;
    kopts.group = cfg.socket_group;
    kopts.bus = bus;
    if (socket_start(&sock, &app, &kopts, err, sizeof(err)) < 0)
        fatalx("%s", err);
    if (reaper_start(&reaper, store, cfg.reap_interval, cfg.events_keep,
                     cfg.events_max_age,
                     (int64_t)cfg.metering_max_age_days * 86400000) < 0)
        fatalx("cannot start the lease reaper");
    reaper_set_tick(reaper, daemon_tick_cb, &app);

    public_url(&cfg, http_port(http), url, sizeof(url));
    memset(&popts, 0, sizeof(popts));
    popts.runners = cfg.runners;
    popts.env_allow = cfg.spawn_env_allow;
    popts.tools = app.jail_tools;
    popts.url = url;
    popts.socket_path = cfg.socket_path;
    smoke = smoke_agent_path(argc > 0 ? argv[0] : NULL);
    popts.smoke_agent = smoke;
    popts.sessions = sessions;
    popts.panes = panes;
    popts.store = store;
    popts.prefix = prompt_spawn_prefix;
    popts.prefix_ctx = &app;
    if (spawner_start(&spawner, &popts, err, sizeof(err)) < 0)
        fatalx("%s", err);
    app.spawner = spawner;

    public_url(&cfg, http_port(http), url, sizeof(url));
    log_info("colibrid %s listening on %s:%d (database %s, durability %s)",
             PACKAGE_VERSION, cfg.listen_host, http_port(http), cfg.db_path,
             cfg.durability == DURABILITY_FULL ? "full" : "normal");
    log_info("open %s - the API token is in %s", url, cfg.token_path);
    log_info("local tools: socket %s", cfg.socket_path);
    log_login_link(http, url);

    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGUSR1) {
            log_login_link(http, url);
            continue;
        }
        if (sig == SIGHUP) {
            log_info("SIGHUP ignored: restart colibrid to reload its "
                     "configuration");
            continue;
        }
        break;
    }
    log_info("%s received; finishing requests in flight",
             sig == SIGINT ? "SIGINT" : "SIGTERM");

    /* Session followers end before the transport that holds them. */
    sessions_follow_close(sessions);
    socket_stop(sock);
    http_stop(http);
    sse_free(sse);
    /* After the transports (no request can reach it), before the
     * glasspanes and the store its supervisor feeds. */
    spawner_stop(spawner, 3);
    free(smoke);
    reaper_stop(reaper);
    sessions_close(sessions);
    panes_free(panes);
    skills_close(skills);
    store_close(store);
    bus_free(bus);
    metrics_free(metrics);
    explicit_bzero(token, sizeof(token));
    free(cert);
    free(key);
    log_info("stopped");
    config_free(&cfg);
    return 0;
}
