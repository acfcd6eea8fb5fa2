/*
 * util.h - allocation that aborts on exhaustion, time, randomness, and a
 * growable byte buffer with a hard cap.
 */
#ifndef COLIBRI_UTIL_H
#define COLIBRI_UTIL_H

#include <spawn.h>
#include <stddef.h>
#include <stdint.h>

/* Allocation: out of memory is fatal (abort with a message). */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds since the epoch (wall clock) and a monotonic microsecond
 * clock for measuring durations. */
int64_t util_now_ms(void);
int64_t util_mono_us(void);

/* Formats ms-since-epoch as RFC 3339 UTC with milliseconds into out
 * (at least UTIL_TIME_LEN bytes). */
#define UTIL_TIME_LEN 32
void util_format_time(int64_t ms, char *out);

/* Fills buf with n cryptographically random bytes; 0 or -1. */
int util_random(void *buf, size_t n);

/* mkdir -p with mode for the directories it creates; 0 or -1 (errno). */
int util_mkdir_p(const char *path, unsigned mode);

/* Reads a whole file of at most cap bytes; new NUL-terminated string or
 * NULL (errno set; EFBIG when larger than cap). */
char *util_read_file(const char *path, size_t cap);
/* util_read_file without the trailing white space (a token or key file
 * ends with a newline). */
char *util_read_secret(const char *path, size_t cap);

/* True when s (len bytes) is well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
int util_utf8_valid(const char *s, size_t len);

/* The number of code points in well-formed UTF-8. */
size_t util_utf8_chars(const char *s, size_t len);

/* A copy of s that is valid UTF-8: each byte that does not start a
 * well-formed character becomes U+FFFD.  For showing file names (which
 * are bytes) in JSON.  New. */
char *util_utf8_printable(const char *s);

/* Replaces, in place, every byte of s that does not belong to a
 * well-formed UTF-8 character with '?' (a string cut mid-character by a
 * bounded printf included), so it can go into JSON. */
void util_utf8_scrub(char *s);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);

/* Compares two byte strings in time that depends only on their lengths. */
int util_equal_ct(const char *a, size_t alen, const char *b, size_t blen);

/* Parses a whole decimal integer in [min, max]; 0 or -1. */
int util_parse_ll(const char *s, long long min, long long max,
                  long long *out);

/*
 * struct buf - a byte buffer that grows up to cap and no further.
 * buf_append returns -1 (and appends nothing) when cap would be exceeded,
 * so a caller turns that into "413" or "line too long".  data is always
 * NUL-terminated.
 */
struct buf {
    char *data;
    size_t len;
    size_t size;
    size_t cap;
};

void buf_init(struct buf *b, size_t cap);
int buf_append(struct buf *b, const void *data, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Copies up to max bytes of b from *off on into dst and moves *off on;
 * when all of b has been taken, b is freed and *off is 0.  The count
 * (0: nothing pending). */
size_t buf_take(struct buf *b, size_t *off, char *dst, size_t max);

/* Formats a reason into err (errlen bytes; err NULL or errlen 0: none)
 * and returns -1, so that a failing check can end with
 * "return util_set_err(err, errlen, ...);". */
int util_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* posix_spawnattr_init, then what every child of the daemon gets: its own
 * process group, an empty signal mask, and default dispositions for the
 * signals the daemon blocks or ignores (PIPE, TERM, INT, HUP, CHLD, QUIT),
 * which a child would otherwise inherit.  posix_spawnattr_destroy after. */
void util_spawnattr_init(posix_spawnattr_t *at);

#endif
