/*
 * socket.h - the local Unix-socket listener: newline-delimited JSON over
 * the operations table, for tools on the same host.
 *
 *   -> {"id":1,"op":"task.claim","args":{"id":5,"agent":"me"}}
 *   <- {"id":1,"ok":true,"result":{...}}
 *   <- {"id":1,"ok":false,"error":{"type":..,"status":409,"code":..}}
 *
 * One request per line, answered in order on the same connection.  There
 * is no token: the kernel tells who the peer is, and only the daemon's own
 * user, root and members of the configured group are served.  The design
 * (threads, limits, shutdown) is in docs/internals/socket.md.
 */
#ifndef COLIBRI_SOCKET_H
#define COLIBRI_SOCKET_H

#include <stddef.h>
#include <jansson.h>

#include "problem.h"
#include "util.h"

struct app;
struct bus;
struct op;
struct socket_server;

struct socket_options {
    const char *path;           /* where to listen */
    const char *group;          /* may use it too; NULL = user and root */
    struct bus *bus;            /* events.subscribe (borrowed); NULL: the
                                 * socket serves no event streams */
};

/*
 * Creates the socket's directory when missing (0700, or 0750 owned by
 * group), refuses a path where a daemon already answers, replaces a stale
 * socket file, listens, and starts serving.  0, or -1 with a sentence
 * naming the path in err (then nothing is left behind).
 */
int socket_start(struct socket_server **out, struct app *app,
                 const struct socket_options *opts, char *err,
                 size_t errlen);

/*
 * Stops accepting, lets every connection finish the request it is
 * running, closes them, joins the threads and removes the socket file
 * (when it is still ours).  Accepts NULL.
 */
void socket_stop(struct socket_server *s);

/*
 * Line framing, kept pure so it can be tested without sockets.  Bytes go
 * in as they arrive; every complete line (without its "\n", and without a
 * "\r" before it) comes out through emit in order.  A line longer than cap
 * bytes is reported once, as soon as it passes cap, with kind
 * SOCKET_LINE_TOO_LONG; the rest of it up to its newline is discarded and
 * the next line is read normally.  emit returning -1 stops the feed
 * (socket_lines_feed then returns -1; the unread bytes are dropped).
 */
enum socket_line_kind { SOCKET_LINE, SOCKET_LINE_TOO_LONG };

struct socket_lines {
    struct buf partial;         /* a line begun in an earlier chunk */
    size_t cap;
    int discarding;             /* inside an oversize line */
};

typedef int socket_emit_fn(void *ctx, enum socket_line_kind kind,
                           const char *line, size_t len);

void socket_lines_init(struct socket_lines *l, size_t cap);
void socket_lines_free(struct socket_lines *l);
int socket_lines_feed(struct socket_lines *l, const char *data, size_t len,
                      socket_emit_fn *emit, void *ctx);
/* At end of input: a last line without "\n" is emitted too. */
int socket_lines_finish(struct socket_lines *l, socket_emit_fn *emit,
                        void *ctx);

/*
 * The protocol, without the socket: one request line in, one answer line
 * out (new string ending in "\n", its length in *outlen), or NULL for a
 * blank line, which is ignored.  Runs the operation through ops_invoke().
 */
char *socket_answer(struct app *app, const char *line, size_t len,
                    const char *request_id, size_t *outlen);

/*
 * A request the listener serves as a stream (events.subscribe: flags
 * OP_STREAM | OP_LOCAL).  socket_answer_stream() is socket_answer() that,
 * for such a request whose envelope and arguments are valid, answers
 * nothing (NULL) and fills *stream instead: the listener then writes the
 * answer line itself and turns the connection into the stream.  Without
 * a stream to fill (socket_answer), the operation's handler runs and
 * refuses, as it does on every transport that cannot stream.
 */
struct socket_stream_request {
    const struct op *op;        /* NULL: not a stream request */
    json_t *id;                 /* new reference: echo it */
    json_t *args;               /* new reference: validated arguments */
};

char *socket_answer_stream(struct app *app, const char *line, size_t len,
                           const char *request_id, size_t *outlen,
                           struct socket_stream_request *stream);
void socket_stream_request_clear(struct socket_stream_request *stream);

/* An answer line for request id (may be NULL): result (stolen) or, when
 * err is not NULL, the problem.  New string ending in "\n". */
char *socket_answer_line(json_t *id, json_t *result,
                         const struct problem *err, size_t *outlen);

/* An error answer line not tied to a request (id null); new string. */
char *socket_error_line(int status, const char *code, size_t *outlen,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
