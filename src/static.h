/*
 * static.h - the dashboard's files: maps a request path to a file under
 * one root directory, with its MIME type, ETag and cache policy.
 *
 * Pure file-system logic (no HTTP library): the transport (http.c) turns
 * the answer into a response.  A path is refused unless it is plain
 * ("/" or "/a/b.css": no "..", no dot segments, no backslash, no control
 * characters), its extension is in the MIME table, and the file it names
 * resolves (realpath, so symbolic links are followed) to a regular file
 * inside the root.
 */
#ifndef COLIBRI_STATIC_H
#define COLIBRI_STATIC_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

/* Value struct: what static_resolve found. */
struct static_file {
    char path[PATH_MAX];        /* resolved absolute file path */
    const char *mime;           /* static string */
    const char *cache_control;  /* static string */
    char etag[48];              /* "\"<size hex>-<mtime hex>\"" */
    off_t size;
};

/* The Content-Security-Policy every dashboard answer carries. */
#define STATIC_CSP "default-src 'self'; connect-src 'self'; " \
    "img-src 'self' data:; style-src 'self'; script-src 'self'; " \
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* The MIME type for a file name by its extension, or NULL when the
 * extension is not one the dashboard serves. */
const char *static_mime(const char *name);

/*
 * Resolves url_path (already percent-decoded by the transport) under
 * root, which must itself be a resolved (realpath) directory.  "/" means
 * "/index.html".  0 and *out filled, or -1 (not found or refused: the
 * caller answers 404 either way, so a probe learns nothing).
 */
int static_resolve(const char *root, const char *url_path,
                   struct static_file *out);

/* True when if_none_match (a header value, may be NULL or a list, or
 * "*") matches etag. */
int static_etag_matches(const char *if_none_match, const char *etag);

#endif
