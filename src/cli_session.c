/*
 * cli_session.c - "colibri session entries ID --follow": a session's
 * entries as they are written, until the run ends.
 *
 * The CLI pages with session.entries from the last cursor, over either
 * transport, and waits 250 ms whenever a page brings nothing new; it
 * stops when the session has ended and is read to its end (next is
 * null).  Nothing but cli_call, so the output is the same over the
 * socket and HTTP; the daemon's own follow streams (SSE, the socket) are
 * for clients that hold a connection open.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "cli.h"
#include "cli_client.h"
#include "ops.h"

#define FOLLOW_IDLE_MS 250

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/*
 * Prints each entry as one compact JSON line: the entry itself (the
 * session file's own lines, ready for jq or colibri ingest), or with
 * json the item {offset, entry}.
 */
int
cli_session_follow(const struct cli_endpoint *ep, const struct op *op,
                   json_t *args, int json, FILE *out)
{
    json_t *page_args = json_deep_copy(args);
    int code = CLI_OK;

    json_object_del(page_args, "follow");
    if (json_object_get(page_args, "limit") == NULL)
        json_object_set_new(page_args, "limit", json_integer(1000));
    for (;;) {
        struct cli_error err;
        json_t *page = NULL, *items, *next;
        size_t i;

        if (cli_call(ep, op, page_args, &page, &err) < 0) {
            fprintf(stderr, "colibri: %s (%s)\n", err.detail, err.code);
            code = cli_exit_status(err.status, err.code);
            break;
        }
        items = json_object_get(page, "items");
        for (i = 0; i < json_array_size(items); i++) {
            json_t *item = json_array_get(items, i);
            char *text = json_dumps(json ? item
                                         : json_object_get(item, "entry"),
                                    JSON_COMPACT | JSON_ENCODE_ANY);

            if (text != NULL) {
                fprintf(out, "%s\n", text);
                free(text);
            }
        }
        if (fflush(out) != 0) {
            json_decref(page);
            code = CLI_ERROR;
            break;
        }
        next = json_object_get(page, "next");
        if (!json_is_string(next)) {
            json_decref(page);
            break;              /* ended, and read to its end */
        }
        json_object_set(page_args, "after", next);
        if (json_array_size(items) == 0)
            sleep_ms(FOLLOW_IDLE_MS);
        json_decref(page);
    }
    json_decref(page_args);
    return code;
}
