/*
 * session_file.c - one session log file: appends and reads.  See
 * session.h and docs/internals/sessions.md.
 *
 * Why one write(2) per batch on an O_APPEND descriptor: the kernel puts
 * each write at the end of the file as one piece, so a batch of whole
 * lines lands whole or (a crash, a full disk) as a prefix; the only torn
 * line there can be is the last one, and readers skip a last line that
 * has no newline.  The descriptor stays open for the run: opening per
 * batch cost more than the write itself.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/uio.h>

#include "limits.h"
#include "session.h"
#include "util.h"

/* Bytes read per step; a line longer than the cap is skipped. */
#define READ_CHUNK      (64 * 1024)
#define READ_LINE_CAP   (LIMIT_INGEST_LINE + 64 * 1024)
/* A page of entries stops after this many bytes of lines. */
#define READ_PAGE_BYTES (4 * 1024 * 1024)

struct session_file {
    int fd;
    int64_t size;
    int64_t lines;
};

static int64_t
count_newlines(int fd, int64_t *size)
{
    char buf[READ_CHUNK];
    int64_t n = 0, off = 0;
    ssize_t got;

    while ((got = pread(fd, buf, sizeof(buf), off)) > 0) {
        const char *p = buf, *end = buf + got;

        while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            n++;
            p++;
        }
        off += got;
    }
    if (size != NULL)
        *size = off;
    return n;
}

int
session_file_open(struct session_file **out, const char *path)
{
    struct session_file *f;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int rfd;

    if (fd < 0)
        return -1;
    f = xcalloc(1, sizeof(*f));
    f->fd = fd;
    rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
        f->lines = count_newlines(rfd, &f->size);
        close(rfd);
    }
    *out = f;
    return 0;
}

int
session_file_append(struct session_file *f, const char *text, size_t len)
{
    struct iovec iov[2];
    int niov = 1;
    size_t total = len;
    const char *p;
    int64_t lines = 0;

    if (len == 0)
        return 0;
    /* writev takes non-const bases; it only reads them. */
    iov[0].iov_base = (void *)(uintptr_t)text;
    iov[0].iov_len = len;
    if (text[len - 1] != '\n') {
        static char newline[] = "\n";

        iov[1].iov_base = newline;
        iov[1].iov_len = 1;
        niov = 2;
        total++;
        lines++;
    }
    for (p = text; (p = memchr(p, '\n', (size_t)(text + len - p))) != NULL;
         p++)
        lines++;
    while (total > 0) {
        ssize_t n = writev(f->fd, iov, niov);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* What did land is counted again from the file. */
            int saved = errno;

            f->size = lseek(f->fd, 0, SEEK_END);
            errno = saved ? saved : EIO;
            return -1;
        }
        f->size += n;
        total -= (size_t)n;
        /* A short write (a full disk): go on with what is left, still at
         * the end of the file. */
        while (n > 0 && niov > 0) {
            if ((size_t)n >= iov[0].iov_len) {
                n -= (ssize_t)iov[0].iov_len;
                iov[0] = iov[1];
                niov--;
            } else {
                iov[0].iov_base = (char *)iov[0].iov_base + n;
                iov[0].iov_len -= (size_t)n;
                n = 0;
            }
        }
    }
    f->lines += lines;
    return 0;
}

int64_t
session_file_size(const struct session_file *f)
{
    return f->size;
}

int64_t
session_file_lines(const struct session_file *f)
{
    return f->lines;
}

void
session_file_close(struct session_file *f)
{
    if (f == NULL)
        return;
    close(f->fd);
    free(f);
}

/* --- reading --------------------------------------------------------- */

int
session_read(const char *path, int64_t offset, int limit, json_t *items,
             int64_t *next, int64_t *seen, struct problem *err)
{
    struct stat sb;
    char *buf = NULL;
    size_t len = 0, cap = READ_CHUNK, page_bytes = 0;
    int64_t consumed = offset, skip_start = -1;
    int fd, n = 0, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return problem_set(err, 404, "session_file_missing",
                               "the session's file is gone (pruned or "
                               "removed by hand)");
        return problem_set(err, 500, "session_read",
                           "cannot open the session's file: %s",
                           strerror(errno));
    }
    if (fstat(fd, &sb) < 0) {
        problem_set(err, 500, "session_read", "cannot stat the session's "
                    "file: %s", strerror(errno));
        goto out;
    }
    if (offset > (int64_t)sb.st_size) {
        problem_set(err, 400, "invalid_cursor",
                    "'after' is past the end of the session");
        goto out;
    }
    buf = xmalloc(cap);
    /* buf holds the bytes from offset consumed on: the start of a line
     * not yet complete. */
    while (n < limit && page_bytes < READ_PAGE_BYTES) {
        ssize_t got;
        char *line, *nl, *end;

        if (len == cap) {
            if (cap >= READ_LINE_CAP) {
                /* A line longer than any written: skip to its end. */
                if (skip_start < 0)
                    skip_start = consumed;
                consumed += (int64_t)len;
                len = 0;
            } else {
                cap *= 2;
                buf = xrealloc(buf, cap);
            }
        }
        got = pread(fd, buf + len, cap - len, consumed + (int64_t)len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            problem_set(err, 500, "session_read", "cannot read the "
                        "session's file: %s", strerror(errno));
            goto out;
        }
        if (got == 0)
            break;              /* a partial last line stays unread */
        len += (size_t)got;
        line = buf;
        end = buf + len;
        while (n < limit && page_bytes < READ_PAGE_BYTES &&
               (nl = memchr(line, '\n', (size_t)(end - line))) != NULL) {
            size_t ll = (size_t)(nl - line);
            json_t *v;

            if (skip_start >= 0) {
                skip_start = -1;
            } else if ((v = json_loadb(line, ll, JSON_DECODE_ANY,
                                       NULL)) != NULL) {
                json_array_append_new(items, json_pack(
                    "{s:I, s:o}", "offset", (json_int_t)consumed,
                    "entry", v));
                n++;
                page_bytes += ll;
            }
            consumed += (int64_t)ll + 1;
            line = nl + 1;
        }
        len = (size_t)(end - line);
        memmove(buf, line, len);
    }
    *next = skip_start >= 0 ? skip_start : consumed;
    *seen = consumed + (int64_t)len > (int64_t)sb.st_size
                ? consumed + (int64_t)len : (int64_t)sb.st_size;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

void
session_file_count(const char *path, int64_t *size, int64_t *lines)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *size = 0;
    *lines = 0;
    if (fd >= 0) {
        *lines = count_newlines(fd, size);
        close(fd);
    }
}
