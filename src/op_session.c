/*
 * op_session.c - handlers of the session operations: the index (list,
 * get) from the store, the entries from the session's file.  Following a
 * session (new entries as they are written) is a stream that the
 * transports serve themselves (SSE: sse_session.c; the socket:
 * sessions_follow_run); a follow request that reaches the handler came
 * where nothing can stream (MCP) and is refused.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "handlers.h"
#include "limits.h"
#include "session.h"
#include "store.h"
#include "util.h"

/*
 * Parses an RFC 3339 time ("2026-11-28T20:00:00Z", fractional seconds
 * and a numeric offset allowed) into ms since the epoch; -1 when it does
 * not parse.
 */
static int
parse_time(const char *s, int64_t *ms)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, n = 0, frac_ms = 0, digits = 0;
    long off = 0;
    const char *p;
    time_t t;

    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2d%*[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
               &sec, &n) != 6 || n == 0)
        return -1;
    p = s + n;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;

        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59)
            return -1;
        off = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    *ms = ((int64_t)t - off) * 1000 + frac_ms;
    return 0;
}

static int
time_arg(struct call *c, const char *name, int64_t *ms)
{
    const char *v = call_str(c, name);

    *ms = -1;
    if (v == NULL)
        return 0;
    if (parse_time(v, ms) < 0)
        return problem_set(&c->err, 400, "invalid_argument",
                           "'%s' must be an RFC 3339 time, e.g. "
                           "2026-01-31T12:00:00Z", name);
    return 0;
}

int
op_session_list(struct call *c)
{
    struct session_filter f;
    const char *after = call_str(c, "after");
    long long cursor = 0;

    memset(&f, 0, sizeof(f));
    f.agent = call_str(c, "agent");
    f.task = call_int(c, "task", -1);
    f.state = call_str(c, "state");
    f.limit = (int)call_int(c, "limit", LIMIT_LIST_DEFAULT);
    if (after != NULL && util_parse_ll(after, 1, INT64_MAX, &cursor) < 0)
        return problem_set(&c->err, 400, "invalid_cursor",
                           "'after' must be the 'next' of a previous page");
    f.after = cursor;
    if (time_arg(c, "since", &f.since) < 0 ||
        time_arg(c, "until", &f.until) < 0)
        return -1;
    return store_session_list(c->app->store, &f, &c->result, &c->err);
}

/* An open session's size and lines are live, not the index's zeros. */
static void
overlay_live(struct call *c, json_t *doc)
{
    int64_t size, lines;

    if (c->app->sessions != NULL &&
        sessions_live(c->app->sessions,
                      json_integer_value(json_object_get(doc, "id")), &size,
                      &lines)) {
        json_object_set_new(doc, "size", json_integer(size));
        json_object_set_new(doc, "lines", json_integer(lines));
    }
}

int
op_session_get(struct call *c)
{
    if (store_session_get(c->app->store, call_int(c, "id", 0), &c->result,
                          NULL, &c->err) < 0)
        return -1;
    overlay_live(c, c->result);
    return 0;
}

/*
 * One page of a session's entries from byte offset 'after'.  next is the
 * offset to continue from while more may come (a page was full, or the
 * session is still open), null once an ended session is read to its end.
 */
int
op_session_entries(struct call *c)
{
    const char *after = call_str(c, "after");
    long long offset = 0;
    int64_t next = 0, seen = 0, id = call_int(c, "id", 0);
    int limit = (int)call_int(c, "limit", LIMIT_LIST_DEFAULT);
    json_t *doc = NULL, *items;
    char *rel = NULL, *path, cursor[24];
    int rc;

    if (call_bool(c, "follow", 0))
        return problem_set(&c->err, 400, "stream_only",
                           "following a session is a stream: use GET "
                           "/api/v1/sessions/%lld/entries with Accept: "
                           "text/event-stream (SSE), or session.entries "
                           "with follow on the Unix socket",
                           (long long)id);
    if (after != NULL && util_parse_ll(after, 0, INT64_MAX, &offset) < 0)
        return problem_set(&c->err, 400, "invalid_cursor",
                           "'after' must be the 'next' of a previous page");
    if (c->app->sessions == NULL)
        return problem_set(&c->err, 503, "sessions_unavailable",
                           "session logs are not enabled");
    if (store_session_get(c->app->store, id, &doc, &rel, &c->err) < 0)
        return -1;
    path = xasprintf("%s/%s", sessions_data_dir(c->app->sessions), rel);
    items = json_array();
    rc = session_read(path, offset, limit, items, &next, &seen, &c->err);
    if (rc == 0) {
        int more = (int)json_array_size(items) == limit ||
                   json_is_null(json_object_get(doc, "ended_at"));

        snprintf(cursor, sizeof(cursor), "%lld", (long long)next);
        c->result = json_pack("{s:O, s:o}", "items", items, "next",
                              more ? json_string(cursor) : json_null());
    }
    json_decref(items);
    json_decref(doc);
    free(rel);
    free(path);
    return rc;
}
