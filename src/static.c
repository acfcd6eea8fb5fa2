/*
 * static.c - path checks, MIME table and validators for the dashboard's
 * files.  See static.h.
 */
#include "autoconf.h"

#include "static.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Extensions the dashboard serves; anything else is 404.  HTML must be
 * revalidated on every load (it names the other files); the rest may be
 * cached briefly and is revalidated by ETag after that. */
static const struct {
    const char *ext;
    const char *mime;
    const char *cache;
} mime_table[] = {
    {"html", "text/html; charset=utf-8", "no-cache"},
    {"css", "text/css; charset=utf-8", "max-age=300"},
    {"js", "text/javascript; charset=utf-8", "max-age=300"},
    {"mjs", "text/javascript; charset=utf-8", "max-age=300"},
    {"json", "application/json", "max-age=300"},
    {"svg", "image/svg+xml", "max-age=300"},
    {"png", "image/png", "max-age=300"},
    {"ico", "image/x-icon", "max-age=300"},
    {"woff2", "font/woff2", "max-age=300"},
    {"txt", "text/plain; charset=utf-8", "max-age=300"},
};

static int entry_for(const char *name);

static int
entry_for(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    size_t i;

    if (dot == NULL || dot[1] == '\0')
        return -1;
    for (i = 0; i < sizeof(mime_table) / sizeof(mime_table[0]); i++)
        if (!strcasecmp(dot + 1, mime_table[i].ext))
            return (int)i;
    return -1;
}

const char *
static_mime(const char *name)
{
    int i = entry_for(name);

    return i < 0 ? NULL : mime_table[i].mime;
}

/*
 * A plain path: starts with '/', segments of printable ASCII other than
 * '\\', none empty (no "//"), none starting with '.' (no "..", no hidden
 * files).  The transport decodes %XX before we see the path, so "%2e%2e"
 * arrives as ".." and is refused here; a '%' that is still present is
 * refused too rather than decoded a second time.
 */
static int
plain_path(const char *p)
{
    const unsigned char *s = (const unsigned char *)p;

    if (*s != '/')
        return 0;
    while (*s == '/') {
        s++;
        if (*s == '/' || *s == '.' || *s == '\0')
            return 0;
        while (*s != '\0' && *s != '/') {
            if (*s < 0x21 || *s > 0x7e || *s == '\\' || *s == '%')
                return 0;
            s++;
        }
    }
    return *s == '\0';
}

int
static_resolve(const char *root, const char *url_path,
               struct static_file *out)
{
    char joined[PATH_MAX];
    struct stat st;
    size_t rlen;
    int idx, n;

    memset(out, 0, sizeof(*out));
    if (root == NULL || url_path == NULL)
        return -1;
    if (!strcmp(url_path, "/"))
        url_path = "/index.html";
    if (!plain_path(url_path))
        return -1;
    idx = entry_for(url_path);
    if (idx < 0)
        return -1;
    n = snprintf(joined, sizeof(joined), "%s%s", root, url_path);
    if (n < 0 || (size_t)n >= sizeof(joined))
        return -1;
    /* realpath follows every link: what counts is where the file really
     * is, which must be inside the root. */
    if (realpath(joined, out->path) == NULL)
        return -1;
    rlen = strlen(root);
    if (strncmp(out->path, root, rlen) != 0 || out->path[rlen] != '/')
        return -1;
    if (stat(out->path, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    out->mime = mime_table[idx].mime;
    out->cache_control = mime_table[idx].cache;
    out->size = st.st_size;
    snprintf(out->etag, sizeof(out->etag), "\"%llx-%llx\"",
             (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtime);
    return 0;
}

int
static_etag_matches(const char *if_none_match, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = if_none_match;

    if (p == NULL)
        return 0;
    while (*p != '\0') {
        const char *end;
        size_t len;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        end = strchr(p, ',');
        len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 1 && *p == '*')
            return 1;
        /* Weak comparison (RFC 9110 13.1.2): W/ is ignored. */
        if (len > 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
            len -= 2;
        }
        if (len == elen && !memcmp(p, etag, elen))
            return 1;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return 0;
}
