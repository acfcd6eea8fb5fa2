/*
 * op_runtime.c - runtime.get (this host's manifest) and the small fleet
 * view: host.report, host.list, host.get.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "handlers.h"
#include "limits.h"
#include "runtime.h"
#include "store.h"

int
op_runtime_get(struct call *c)
{
    const struct config *cfg = c->app->cfg;
    struct runtime_options o;

    memset(&o, 0, sizeof(o));
    o.role = "colibrid";
    o.started_ms = c->app->started_ms;
    o.jls_path = c->app->jail_tools.jls;
    if (cfg != NULL) {
        o.data_dir = cfg->data_dir;
        o.tools = (const char *const *)cfg->runtime_tools;
    }
    c->result = runtime_manifest(&o, call_bool(c, "fresh", 0));
    return 0;
}

/*
 * The body is the manifest itself (the members the table declares);
 * beyond the generic type checks it must name its host and stay within
 * RUNTIME_MANIFEST_BYTES.
 */
int
op_host_report(struct call *c)
{
    char why[200], *text;
    size_t len;

    if (runtime_manifest_check(c->args, why, sizeof(why)) < 0)
        return problem_set(&c->err, 422, "invalid_manifest", "%s", why);
    text = json_dumps(c->args, JSON_COMPACT);
    len = text ? strlen(text) : 0;
    free(text);
    if (len > RUNTIME_MANIFEST_BYTES)
        return problem_set(&c->err, 413, "manifest_too_large",
                           "the manifest is %zu bytes; at most %d are "
                           "kept", len, RUNTIME_MANIFEST_BYTES);
    return store_host_report(c->app->store, c->args,
                             RUNTIME_HOST_ONLINE_SECONDS, &c->result,
                             &c->err);
}

int
op_host_list(struct call *c)
{
    return store_host_list(c->app->store, call_str(c, "after"),
                           call_bool(c, "online", -1),
                           RUNTIME_HOST_ONLINE_SECONDS,
                           (int)call_int(c, "limit", LIMIT_LIST_DEFAULT),
                           &c->result, &c->err);
}

int
op_host_remove(struct call *c)
{
    return store_host_remove(c->app->store, call_str(c, "name"), &c->err);
}

int
op_host_get(struct call *c)
{
    return store_host_get(c->app->store, call_str(c, "name"),
                          RUNTIME_HOST_ONLINE_SECONDS, &c->result,
                          &c->err);
}
