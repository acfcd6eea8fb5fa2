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

#include "app.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "reaper.h"
#include "store.h"
#include "token.h"
#include "util.h"

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
    struct store_options sopts;
    struct http_options hopts;
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
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    memset(&sopts, 0, sizeof(sopts));
    sopts.path = cfg.db_path;
    sopts.durable = cfg.durability == DURABILITY_FULL;
    if (store_open(&store, &sopts, &perr) < 0)
        fatalx("%s", perr.detail);
    metrics = metrics_new(ops_count);

    memset(&app, 0, sizeof(app));
    app.cfg = &cfg;
    app.store = store;
    app.metrics = metrics;
    app.started_ms = util_now_ms();

    memset(&hopts, 0, sizeof(hopts));
    hopts.host = cfg.listen_host;
    hopts.port = cfg.listen_port;
    hopts.tls_cert_pem = cert;
    hopts.tls_key_pem = key;
    hopts.threads = cfg.threads;
    hopts.token = token;
    hopts.allow_hosts = cfg.allow_hosts;
    if (http_start(&http, &app, &hopts, err, sizeof(err)) < 0)
        fatalx("%s", err);
    if (reaper_start(&reaper, store, cfg.reap_interval) < 0)
        fatalx("cannot start the lease reaper");

    public_url(&cfg, http_port(http), url, sizeof(url));
    log_info("colibrid %s listening on %s:%d (database %s, durability %s)",
             PACKAGE_VERSION, cfg.listen_host, http_port(http), cfg.db_path,
             cfg.durability == DURABILITY_FULL ? "full" : "normal");
    log_info("open %s - the API token is in %s", url, cfg.token_path);

    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_info("SIGHUP ignored: restart colibrid to reload its "
                     "configuration");
            continue;
        }
        break;
    }
    log_info("%s received; finishing requests in flight",
             sig == SIGINT ? "SIGINT" : "SIGTERM");

    http_stop(http);
    reaper_stop(reaper);
    store_close(store);
    metrics_free(metrics);
    explicit_bzero(token, sizeof(token));
    free(cert);
    free(key);
    log_info("stopped");
    config_free(&cfg);
    return 0;
}
