/*
 * util.c - small helpers shared by every module.
 */
#include "autoconf.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_SYS_RANDOM_H
#include <sys/random.h>
#endif

#include "util.h"

static void oom(size_t size) __attribute__((noreturn));

static void
oom(size_t size)
{
    fprintf(stderr, "colibri: out of memory allocating %zu bytes\n", size);
    abort();
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        oom(n * size);
    return p;
}

void *
xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

char *
xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    p = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int64_t
util_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
util_format_time(int64_t ms, char *out)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char tmp[96];

    gmtime_r(&secs, &tm);
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    tmp[UTIL_TIME_LEN - 1] = '\0';
    memcpy(out, tmp, UTIL_TIME_LEN);
}

int
util_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    size_t got = 0;
    int fd;

#ifdef HAVE_GETRANDOM
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        got += (size_t)r;
    }
    if (got == n)
        return 0;
#elif defined(HAVE_ARC4RANDOM_BUF)
    arc4random_buf(buf, n);
    return 0;
#endif
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);

        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

void
util_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

int
util_equal_ct(const char *a, size_t alen, const char *b, size_t blen)
{
    volatile unsigned char diff = 0;
    size_t i;

    if (alen != blen)
        return 0;
    for (i = 0; i < alen; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
    return diff == 0;
}

int
util_parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0' || *s == ' ' || *s == '+')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void
buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->cap = cap;
}

int
buf_append(struct buf *b, const void *data, size_t n)
{
    size_t need;

    if (n > b->cap || b->len > b->cap - n)
        return -1;
    need = b->len + n + 1;
    if (need > b->size) {
        size_t size = b->size ? b->size : 256;

        while (size < need)
            size *= 2;
        b->data = xrealloc(b->data, size);
        b->size = size;
    }
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[512];
    char *big;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(small))
        return buf_append(b, small, (size_t)n);
    big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rc = buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

void
buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->size = 0;
}

int
util_mkdir_p(const char *path, unsigned mode)
{
    char *copy = xstrdup(path);
    char *p = copy;
    int rc = 0;

    for (;;) {
        while (*p == '/')
            p++;
        p = strchr(p, '/');
        if (p != NULL)
            *p = '\0';
        if (mkdir(copy, (mode_t)mode) < 0 && errno != EEXIST) {
            rc = -1;
            break;
        }
        if (p == NULL)
            break;
        *p = '/';
    }
    free(copy);
    return rc;
}

char *
util_read_file(const char *path, size_t cap)
{
    struct buf b;
    char chunk[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    buf_init(&b, cap);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        if (buf_append(&b, chunk, (size_t)n) < 0) {
            errno = EFBIG;
            goto fail;
        }
    }
    close(fd);
    if (b.data == NULL)
        return xstrdup("");
    return b.data;
fail:
    close(fd);
    buf_free(&b);
    return NULL;
}

int
util_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;

    while (p < end) {
        unsigned c = *p;
        size_t n, i;
        unsigned cp;

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

size_t
util_utf8_chars(const char *s, size_t len)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

char *
util_utf8_printable(const char *s)
{
    size_t len = strlen(s), i = 0, n = 0;
    char *out = xmalloc(3 * len + 1);

    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

        if (k <= len - i && util_utf8_valid(s + i, k)) {
            memcpy(out + n, s + i, k);
            n += k;
            i += k;
        } else {
            memcpy(out + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
        }
    }
    out[n] = '\0';
    return out;
}

void
util_utf8_scrub(char *s)
{
    size_t len = strlen(s), i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

        if (k <= len - i && util_utf8_valid(s + i, k))
            i += k;
        else
            s[i++] = '?';
    }
}

void
util_spawnattr_init(posix_spawnattr_t *at)
{
    sigset_t none, defaults;

    posix_spawnattr_init(at);
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGCHLD);
    sigaddset(&defaults, SIGQUIT);
    posix_spawnattr_setsigmask(at, &none);
    posix_spawnattr_setsigdefault(at, &defaults);
    posix_spawnattr_setpgroup(at, 0);
    posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP |
                                     POSIX_SPAWN_SETSIGMASK |
                                     POSIX_SPAWN_SETSIGDEF);
}

int
util_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

size_t
buf_take(struct buf *b, size_t *off, char *dst, size_t max)
{
    size_t n;

    if (b->len <= *off)
        return 0;
    n = b->len - *off;
    if (n > max)
        n = max;
    memcpy(dst, b->data + *off, n);
    *off += n;
    if (*off == b->len) {
        buf_free(b);
        *off = 0;
    }
    return n;
}

char *
util_read_secret(const char *path, size_t cap)
{
    char *text = util_read_file(path, cap);
    size_t len;

    if (text == NULL)
        return NULL;
    len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
                       text[len - 1] == ' ' || text[len - 1] == '\t'))
        text[--len] = '\0';
    return text;
}
