/*
 * op_spawn.c - agent processes: agent.spawn, agent.kill, agent.restart,
 * agent.process.  The work is in spawner.c; these adapt arguments.
 */
#include "autoconf.h"

#include "app.h"
#include "handlers.h"
#include "ops.h"
#include "spawner.h"

static int
no_spawner(struct call *c)
{
    return problem_set(&c->err, 503, "spawner_unavailable",
                       "this daemon does not start agents");
}

int
op_agent_spawn(struct call *c)
{
    if (c->app->spawner == NULL)
        return no_spawner(c);
    return spawner_spawn(c->app->spawner, c->args, &c->result, &c->err);
}

int
op_agent_kill(struct call *c)
{
    if (c->app->spawner == NULL)
        return no_spawner(c);
    return spawner_kill(c->app->spawner, call_str(c, "id"),
                        (int)call_int(c, "grace_seconds", 10), &c->result,
                        &c->err);
}

int
op_agent_restart(struct call *c)
{
    if (c->app->spawner == NULL)
        return no_spawner(c);
    return spawner_restart(c->app->spawner, call_str(c, "id"), &c->result,
                           &c->err);
}

int
op_agent_process(struct call *c)
{
    if (c->app->spawner == NULL)
        return no_spawner(c);
    return spawner_describe(c->app->spawner, call_str(c, "id"), &c->result,
                            &c->err);
}
