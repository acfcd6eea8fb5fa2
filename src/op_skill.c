/*
 * op_skill.c - handlers of the skill operations: argument defaults in,
 * the catalog's documents out.  The rules live in skills.c.
 */
#include "autoconf.h"

#include "app.h"
#include "handlers.h"
#include "limits.h"
#include "skills.h"

/* The catalog, or NULL with a problem (a program that opened none). */
static struct skills *
catalog(struct call *c)
{
    if (c->app->skills == NULL)
        problem_set(&c->err, 503, "skills_unavailable",
                    "this program has no skills catalog");
    return c->app->skills;
}

int
op_skill_list(struct call *c)
{
    struct skills *s = catalog(c);

    if (s == NULL)
        return -1;
    return skills_list(s, call_bool(c, "invalid", 0),
                       (int)call_int(c, "limit", LIMIT_LIST_DEFAULT),
                       call_str(c, "after"), &c->result, &c->err);
}

int
op_skill_search(struct call *c)
{
    struct skills *s = catalog(c);

    if (s == NULL)
        return -1;
    return skills_search(s, call_str(c, "q"),
                         (int)call_int(c, "limit",
                                       LIMIT_SKILL_SEARCH_DEFAULT),
                         &c->result, &c->err);
}

int
op_skill_rescan(struct call *c)
{
    struct skills *s = catalog(c);

    if (s == NULL)
        return -1;
    return skills_rescan(s, &c->result, &c->err);
}

int
op_skill_get(struct call *c)
{
    struct skills *s = catalog(c);

    if (s == NULL)
        return -1;
    return skills_get(s, call_str(c, "name"), &c->result, &c->err);
}

int
op_skill_file(struct call *c)
{
    struct skills *s = catalog(c);

    if (s == NULL)
        return -1;
    return skills_file(s, call_str(c, "name"), call_str(c, "path"),
                       &c->result, &c->err);
}

int
op_skill_put(struct call *c)
{
    struct skills *s = catalog(c);

    if (s == NULL)
        return -1;
    return skills_put(s, call_str(c, "name"), call_str(c, "skill_md"),
                      call_arg(c, "files"), &c->result, &c->err);
}
