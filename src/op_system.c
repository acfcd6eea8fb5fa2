/*
 * op_system.c - health, version and metrics.
 */
#include "autoconf.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>

#include "app.h"
#include "handlers.h"
#include "http.h"
#include "metrics.h"
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
    c->text = out.data ? out.data : xstrdup("");
    c->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}
