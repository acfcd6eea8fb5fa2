/*
 * problem.c - RFC 9457 problem details.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "problem.h"
#include "util.h"

int
problem_set(struct problem *p, int status, const char *code,
            const char *fmt, ...)
{
    va_list ap;

    p->status = status;
    p->code = code;
    va_start(ap, fmt);
    vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
    va_end(ap);
    return -1;
}

void
problem_extra(struct problem *p, const char *key, json_t *value)
{
    if (p->extra == NULL)
        p->extra = json_object();
    json_object_set_new(p->extra, key, value);
}

void
problem_clear(struct problem *p)
{
    json_decref(p->extra);
    memset(p, 0, sizeof(*p));
}

const char *
problem_title(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Error";
    }
}

json_t *
problem_to_json(const struct problem *p)
{
    json_t *doc;
    char type[128], detail[sizeof(p->detail)];

    snprintf(type, sizeof(type), "urn:colibri:problem:%s",
             p->code ? p->code : "internal");
    /* Whoever filled the detail, it goes out as valid UTF-8. */
    snprintf(detail, sizeof(detail), "%s", p->detail);
    util_utf8_scrub(detail);
    doc = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title",
                    problem_title(p->status), "status", p->status, "detail",
                    detail, "code", p->code ? p->code : "internal");
    if (p->extra != NULL)
        json_object_update_missing(doc, p->extra);
    return doc;
}
