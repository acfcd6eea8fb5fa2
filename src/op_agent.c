/*
 * op_agent.c - handlers of the agent registry operations.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "handlers.h"
#include "limits.h"
#include "panes.h"
#include "store.h"

static void
describe_agent(struct call *c, const json_t *agent)
{
    snprintf(c->etag, sizeof(c->etag), "\"%lld\"",
             (long long)json_integer_value(json_object_get(agent,
                                                           "version")));
    if (c->op->status == 201)
        snprintf(c->location, sizeof(c->location), "/api/v1/agents/%s",
                 json_string_value(json_object_get(agent, "id")));
}

int
op_agent_register(struct call *c)
{
    if (store_agent_register(c->app->store, c->args, &c->result,
                             &c->err) < 0)
        return -1;
    describe_agent(c, c->result);
    return 0;
}

int
op_agent_get(struct call *c)
{
    if (store_agent_get(c->app->store, call_str(c, "id"), &c->result,
                        &c->err) < 0)
        return -1;
    describe_agent(c, c->result);
    return 0;
}

int
op_agent_list(struct call *c)
{
    struct agent_filter f;

    memset(&f, 0, sizeof(f));
    f.state = call_str(c, "state");
    f.kind = call_str(c, "kind");
    f.host = call_str(c, "host");
    f.label = call_str(c, "label");
    f.online = call_bool(c, "online", -1);
    f.after = call_str(c, "after");
    f.limit = (int)call_int(c, "limit", LIMIT_LIST_DEFAULT);
    return store_agent_list(c->app->store, &f, &c->result, &c->err);
}

int
op_agent_update(struct call *c)
{
    json_t *changes = json_deep_copy(c->args);
    int rc;

    json_object_del(changes, "id");
    json_object_del(changes, "version");
    rc = store_agent_update(c->app->store, call_str(c, "id"), changes,
                            call_int(c, "version", -1),
                            c->version_from_header, &c->result, &c->err);
    json_decref(changes);
    if (rc == 0)
        describe_agent(c, c->result);
    return rc;
}

int
op_agent_heartbeat(struct call *c)
{
    return store_agent_heartbeat(c->app->store, call_str(c, "id"),
                                 &c->result, &c->err);
}

int
op_agent_remove(struct call *c)
{
    if (store_agent_remove(c->app->store, call_str(c, "id"),
                           call_int(c, "version", -1),
                           c->version_from_header, &c->err) < 0)
        return -1;
    if (c->app->panes != NULL)
        panes_forget(c->app->panes, call_str(c, "id"));
    return 0;
}
