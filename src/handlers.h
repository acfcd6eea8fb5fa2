/*
 * handlers.h - the handlers the operations table points at.  Each takes a
 * validated call and fills call->result (or call->text) or call->err.
 */
#ifndef COLIBRI_HANDLERS_H
#define COLIBRI_HANDLERS_H

#include "ops.h"

/* op_system.c */
int op_system_health(struct call *c);
int op_system_version(struct call *c);
int op_system_metrics(struct call *c);
int op_system_status(struct call *c);

/* op_task.c */
int op_task_create(struct call *c);
int op_task_get(struct call *c);
int op_task_list(struct call *c);
int op_task_ready(struct call *c);
int op_task_update(struct call *c);
int op_task_delete(struct call *c);
int op_task_claim(struct call *c);
int op_task_claim_next(struct call *c);
int op_task_heartbeat(struct call *c);
int op_task_release(struct call *c);
int op_task_complete(struct call *c);
int op_task_dep_add(struct call *c);
int op_task_dep_remove(struct call *c);

/* op_event.c */
int op_events_stream(struct call *c);
int op_events_subscribe(struct call *c);
int op_agent_state(struct call *c);
int op_agent_events(struct call *c);

/* op_spawn.c */
int op_agent_spawn(struct call *c);
int op_agent_kill(struct call *c);
int op_agent_restart(struct call *c);
int op_agent_process(struct call *c);

/* op_agent.c */
int op_agent_register(struct call *c);
int op_agent_get(struct call *c);
int op_agent_list(struct call *c);
int op_agent_update(struct call *c);
int op_agent_heartbeat(struct call *c);
int op_agent_remove(struct call *c);

/* op_runtime.c */
int op_runtime_get(struct call *c);
int op_host_report(struct call *c);
int op_host_list(struct call *c);
int op_host_get(struct call *c);
int op_host_remove(struct call *c);

/* op_skill.c */
int op_skill_list(struct call *c);
int op_skill_search(struct call *c);
int op_skill_rescan(struct call *c);
int op_skill_get(struct call *c);
int op_skill_file(struct call *c);
int op_skill_put(struct call *c);

/* op_session.c */
int op_session_list(struct call *c);
int op_session_get(struct call *c);
int op_session_entries(struct call *c);

/* op_prompt.c */
int op_prompt_assemble(struct call *c);

/* op_metering.c */
int op_metering_record(struct call *c);
int op_metering_list(struct call *c);
int op_metering_summary(struct call *c);

#endif
