/*
 * op_system.c - health, version, metrics and the status overview.
 */
#include "autoconf.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "handlers.h"
#include "http.h"
#include "metrics.h"
#include "op_metering.h"
#include "store.h"
#include "util.h"

int
op_system_health(struct call *c)
{
    if (store_ping(c->app->store, &c->err) < 0)
        return -1;
    c->result = json_pack("{s:s, s:I}", "status", "ok", "uptime_seconds",
                          (json_int_t)((util_now_ms() -
                                        c->app->started_ms) / 1000));
    return 0;
}

int
op_system_version(struct call *c)
{
    c->result = json_pack("{s:s, s:s, s:i, s:{s:s, s:s, s:s}}",
                          "name", PACKAGE_NAME, "version", PACKAGE_VERSION,
                          "schema_version",
                          store_schema_version(c->app->store), "libraries",
                          "libmicrohttpd", http_library_version(),
                          "sqlite", sqlite3_libversion(),
                          "jansson", JANSSON_VERSION);
    return 0;
}

int
op_system_metrics(struct call *c)
{
    int64_t counts[TASK_STATUS_COUNT];
    struct buf out;
    int i;

    if (store_task_counts(c->app->store, counts, &c->err) < 0)
        return -1;
    buf_init(&out, 16 * 1024 * 1024);
    if (c->app->metrics)
        metrics_render(c->app->metrics, &out);
    buf_printf(&out, "# HELP colibri_tasks Tasks by status.\n"
               "# TYPE colibri_tasks gauge\n");
    for (i = 0; i < TASK_STATUS_COUNT; i++)
        buf_printf(&out, "colibri_tasks{status=\"%s\"} %lld\n",
                   task_status_names[i], (long long)counts[i]);
    buf_printf(&out, "# HELP colibri_uptime_seconds Seconds since start.\n"
               "# TYPE colibri_uptime_seconds gauge\n"
               "colibri_uptime_seconds %lld\n",
               (long long)((util_now_ms() - c->app->started_ms) / 1000));
    if (metering_render_metrics(c->app, &out, &c->err) < 0) {
        buf_free(&out);
        return -1;
    }
    c->text = out.data ? out.data : xstrdup("");
    c->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}

/*
 * The one-screen overview behind `colibri status`: who the daemon is and
 * where it can be reached, and the board by status.  Every other member
 * is a section {"total": n, "by_<what>": {...}}, so a module with a
 * summary worth a line (agents by state, with the registry) adds its own
 * section and the CLI prints it without knowing it.
 */
int
op_system_status(struct call *c)
{
    const struct config *cfg = c->app->cfg;
    int64_t counts[TASK_STATUS_COUNT], total = 0;
    int port = __atomic_load_n(&c->app->http_port, __ATOMIC_RELAXED);
    json_t *daemon, *by_status, *agents = NULL;
    char listen[300];
    int i;

    if (store_ping(c->app->store, &c->err) < 0 ||
        store_task_counts(c->app->store, counts, &c->err) < 0)
        return -1;
    by_status = json_object();
    for (i = 0; i < TASK_STATUS_COUNT; i++) {
        json_object_set_new(by_status, task_status_names[i],
                            json_integer(counts[i]));
        total += counts[i];
    }
    daemon = json_pack("{s:s, s:s, s:I, s:I, s:i}", "status", "ok",
                       "version", PACKAGE_VERSION, "pid",
                       (json_int_t)getpid(), "uptime_seconds",
                       (json_int_t)((util_now_ms() - c->app->started_ms) /
                                    1000),
                       "schema_version",
                       store_schema_version(c->app->store));
    if (cfg != NULL) {
        if (port == 0)
            port = cfg->listen_port;
        if (strchr(cfg->listen_host, ':') != NULL)
            snprintf(listen, sizeof(listen), "[%s]:%d", cfg->listen_host,
                     port);
        else
            snprintf(listen, sizeof(listen), "%s:%d", cfg->listen_host,
                     port);
        json_object_set_new(daemon, "listen", json_string(listen));
        json_object_set_new(daemon, "tls",
                            json_boolean(cfg->tls_cert != NULL));
        json_object_set_new(daemon, "socket",
                            json_string(cfg->socket_path));
    }
    c->result = json_pack("{s:o, s:{s:I, s:o}}", "daemon", daemon, "tasks",
                          "total", (json_int_t)total, "by_status",
                          by_status);
    if (store_agent_counts(c->app->store, &agents, &c->err) < 0) {
        json_decref(c->result);
        c->result = NULL;
        return -1;
    }
    json_object_set_new(c->result, "agents", agents);
    return 0;
}
