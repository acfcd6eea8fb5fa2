/*
 * op_skill.c - handlers of the skill operations: argument defaults in,
 * the catalog's documents out.  The rules live in skills.c.
 */
#include "autoconf.h"

#include "app.h"
#include "handlers.h"
#include "limits.h"
#include "log.h"
#include "skills.h"
#include "store.h"
#include "util.h"

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

/*
 * The catalog changed: a skill.changed event, so that watchers (the
 * dashboard) read it again.  The catalog lives on disk, not in the store,
 * so the event is its own commit after the change; a failure to record it
 * is logged and does not undo a change that is already made.
 */
static void
announce(struct call *c, const char *subject, json_t *data)
{
    struct problem err = {0};

    if (c->app->store == NULL) {
        json_decref(data);
        return;
    }
    if (store_event_add(c->app->store, "skill.changed", subject, NULL, data,
                        &err) < 0)
        log_warnx("skills: %s: event not recorded: %s", subject,
                  err.detail);
    problem_clear(&err);
}

int
op_skill_rescan(struct call *c)
{
    struct skills *s = catalog(c);

    if (s == NULL || skills_rescan(s, &c->result, &c->err) < 0)
        return -1;
    announce(c, "skills", json_pack("{s:s, s:O?, s:O?}", "reason", "rescan",
                                    "valid", json_object_get(c->result,
                                                             "valid"),
                                    "invalid", json_object_get(c->result,
                                                               "invalid")));
    return 0;
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
    if (skills_put(s, call_str(c, "name"), call_str(c, "skill_md"),
                   call_arg(c, "files"), &c->result, &c->err) < 0)
        return -1;
    {
        char *subject = xasprintf("skill:%s", call_str(c, "name"));

        announce(c, subject, json_pack("{s:s, s:s, s:O?}", "reason", "put",
                                       "name", call_str(c, "name"),
                                       "created", json_object_get(
                                           c->result, "created")));
        free(subject);
    }
    return 0;
}
