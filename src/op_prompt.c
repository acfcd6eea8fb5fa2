/*
 * op_prompt.c - prompt.assemble: the three regions for an agent kind and
 * a task, with their hashes.  Gathering is prompt_build.c, layout
 * prompt.c.
 */
#include "autoconf.h"

#include "app.h"
#include "handlers.h"
#include "limits.h"
#include "prompt_build.h"

int
op_prompt_assemble(struct call *c)
{
    json_t *tail = call_arg(c, "tail");
    struct prompt_out out;
    char reason[256];

    if (prompt_check_tail(tail, LIMIT_PROMPT_TAIL, reason,
                          sizeof(reason)) < 0)
        return problem_set(&c->err, 400, "invalid_tail", "%s", reason);
    if (prompt_build(c->app, call_str(c, "kind"), call_int(c, "task", 0),
                     call_int(c, "session", 0), &out, NULL, &c->err) < 0)
        return -1;
    c->result = prompt_to_json(&out, tail);
    prompt_out_free(&out);
    return 0;
}
