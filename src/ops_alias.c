/*
 * ops_alias.c - the command names of the original daemon, as aliases of
 * operations.  Data only: ops_resolve() (ops.c) looks names up here, so
 * every transport that accepts an operation name accepts these too.
 *
 * An alias may name an operation that is not in the table yet (the agent
 * and skill operations arrive with their modules); it is looked up at run
 * time and answers "unknown operation" until then.
 */
#include "autoconf.h"

#include "ops.h"

const struct op_alias ops_aliases[] = {
    {"Ping", "system.health"},
    {"Status", "system.status"},
    {"ListTasks", "task.list"},
    {"GetTask", "task.get"},
    {"CreateTask", "task.create"},
    {"UpdateTask", "task.update"},
    {"DeleteTask", "task.delete"},
    {"ClaimTask", "task.claim"},
    {"HeartbeatTask", "task.heartbeat"},
    {"ReleaseTask", "task.release"},
    {"CompleteTask", "task.complete"},
    {"ReadyTasks", "task.ready"},
    {"ListAgents", "agent.list"},
    {"GetAgent", "agent.get"},
    {"RegisterAgent", "agent.register"},
    {"SpawnAgent", "agent.spawn"},
    {"KillAgent", "agent.kill"},
    {"ListSkills", "skill.list"},
    {"SearchSkills", "skill.search"},
    {"GetSkill", "skill.get"},
};

const size_t ops_alias_count = sizeof(ops_aliases) / sizeof(ops_aliases[0]);
