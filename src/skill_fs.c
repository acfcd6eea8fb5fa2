/*
 * skill_fs.c - reading, listing and writing skill folders safely (see
 * skill_fs.h and docs/internals/skills.md).
 *
 * Reading a file: the client's relative path is checked, resolved with
 * realpath(), and must land strictly inside the folder's real path; then
 * the resolved (link-free) path is opened one component at a time with
 * openat(O_NOFOLLOW) from the folder, so a link swapped in between the
 * check and the open is refused rather than followed.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "limits.h"
#include "skill_fs.h"
#include "skill_parse.h"
#include "util.h"

/* How many bytes of a client's path go into a problem's detail. */
#define DETAIL_PATH_BYTES 160

struct entry {
    char *path;
    long long size;
    const char *type;
};

struct walk {
    struct entry *v;
    size_t n, alloc, cap;
    int truncated;
};

static const char *clip(const char *s, char *buf, size_t size);
static char *read_fd(int fd, size_t cap, size_t *len);
static int open_beneath(const char *base, const char *rel,
                        struct problem *err, const char *shown);
static void walk_dir(int dirfd, const char *prefix, int depth,
                     struct walk *w);
static int write_path(int rootfd, const char *rel, const char *data,
                      size_t len, struct problem *err);
static int fs_problem(struct problem *err, int errnum, const char *what);

/*
 * Copies at most size-1 bytes of s into buf, cut at a character boundary
 * (s is UTF-8, and a problem's detail must stay UTF-8), with "..." when
 * cut; returns buf.
 */
static const char *
clip(const char *s, char *buf, size_t size)
{
    size_t len = strlen(s);

    if (len < size) {
        memcpy(buf, s, len + 1);
        return buf;
    }
    len = size - 4;
    while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
        len--;
    memcpy(buf, s, len);
    memcpy(buf + len, "...", 4);
    return buf;
}

int
skill_fs_check_path(const char *rel, struct problem *err)
{
    char shown[DETAIL_PATH_BYTES];
    const char *p = rel;
    size_t len = strlen(rel);
    int depth = 0;

    if (len == 0)
        return problem_set(err, 400, "invalid_path", "the file path is "
                           "empty");
    if (rel[0] == '/')
        return problem_set(err, 403, "path_outside_skill",
                           "'%s' is an absolute path; paths are relative "
                           "to the skill folder",
                           clip(rel, shown, sizeof(shown)));
    if (len > LIMIT_SKILL_PATH_BYTES)
        return problem_set(err, 400, "invalid_path", "the file path is "
                           "longer than %d bytes", LIMIT_SKILL_PATH_BYTES);
    if (strchr(rel, '\\') != NULL)
        return problem_set(err, 400, "invalid_path", "'%s' contains a "
                           "backslash; separate folders with '/'",
                           clip(rel, shown, sizeof(shown)));
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);

        if (n == 2 && p[0] == '.' && p[1] == '.')
            return problem_set(err, 403, "path_outside_skill",
                               "'%s' leaves the skill folder ('..')",
                               clip(rel, shown, sizeof(shown)));
        if (n == 0 || (n == 1 && p[0] == '.'))
            return problem_set(err, 400, "invalid_path", "'%s' has an "
                               "empty or '.' component",
                               clip(rel, shown, sizeof(shown)));
        if (++depth > LIMIT_SKILL_DEPTH)
            return problem_set(err, 400, "invalid_path", "'%s' is more "
                               "than %d folders deep",
                               clip(rel, shown, sizeof(shown)),
                               LIMIT_SKILL_DEPTH);
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return 0;
}

/* Reads what fd holds, at most cap bytes: new, NUL-terminated, or NULL
 * with errno (EFBIG when there is more). */
static char *
read_fd(int fd, size_t cap, size_t *len)
{
    struct buf b;
    char chunk[16384];
    ssize_t n;

    buf_init(&b, cap);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            buf_free(&b);
            return NULL;
        }
        if (buf_append(&b, chunk, (size_t)n) < 0) {
            buf_free(&b);
            errno = EFBIG;
            return NULL;
        }
    }
    if (b.data == NULL)
        buf_append(&b, "", 0);
    *len = b.len;
    return b.data;
}

/*
 * Opens base/rel for reading, rel being free of links, "." and "..":
 * each component is opened with O_NOFOLLOW from the one before, so a
 * link found on the way (someone swapped one in) is refused.
 */
static int
open_beneath(const char *base, const char *rel, struct problem *err,
             const char *shown)
{
    char *copy = xstrdup(rel), *seg = copy, *slash;
    int dirfd, fd = -1;

    dirfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        problem_set(err, 404, "file_not_found", "the skill's folder "
                    "cannot be opened");
        goto out;
    }
    for (;;) {
        slash = strchr(seg, '/');
        if (slash != NULL)
            *slash = '\0';
        fd = openat(dirfd, seg, slash ? O_RDONLY | O_DIRECTORY |
                    O_NOFOLLOW | O_CLOEXEC : O_RDONLY | O_NOFOLLOW |
                    O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
            if (errno == ELOOP || errno == EMLINK || errno == ENOTDIR)
                problem_set(err, 403, "path_outside_skill",
                            "'%s' changed into a symbolic link while it "
                            "was opened", shown);
            else
                problem_set(err, 404, "file_not_found", "'%s': %s",
                            shown, strerror(errno));
            break;
        }
        close(dirfd);
        dirfd = -1;
        if (slash == NULL)
            break;
        dirfd = fd;
        fd = -1;
        seg = slash + 1;
    }
out:
    if (dirfd >= 0)
        close(dirfd);
    free(copy);
    return fd;
}

static char *
base64(const unsigned char *in, size_t len)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        *o++ = digits[in[i] >> 2];
        *o++ = digits[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *o++ = digits[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        *o++ = digits[in[i + 2] & 63];
    }
    if (i < len) {
        *o++ = digits[in[i] >> 2];
        if (i + 1 < len) {
            *o++ = digits[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
            *o++ = digits[(in[i + 1] & 15) << 2];
        } else {
            *o++ = digits[(in[i] & 3) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

int
skill_fs_read(const char *folder, const char *rel, size_t cap,
              json_t **out, struct problem *err)
{
    char shown[DETAIL_PATH_BYTES], *real_folder = NULL, *full = NULL;
    char *real = NULL, *data = NULL;
    struct stat st;
    size_t flen, len = 0;
    int fd = -1, rc = -1;

    *out = NULL;
    if (skill_fs_check_path(rel, err) < 0)
        return -1;
    clip(rel, shown, sizeof(shown));
    real_folder = realpath(folder, NULL);
    if (real_folder == NULL) {
        problem_set(err, 404, "file_not_found", "the skill's folder is "
                    "gone");
        goto out;
    }
    full = xasprintf("%s/%s", real_folder, rel);
    real = realpath(full, NULL);
    if (real == NULL) {
        if (errno == ELOOP)
            problem_set(err, 403, "path_outside_skill", "'%s' is a loop "
                        "of symbolic links", shown);
        else
            problem_set(err, 404, "file_not_found", "the skill has no "
                        "file '%s'", shown);
        goto out;
    }
    flen = strlen(real_folder);
    if (strncmp(real, real_folder, flen) != 0 || real[flen] != '/') {
        problem_set(err, 403, "path_outside_skill", "'%s' resolves to a "
                    "place outside the skill folder", shown);
        goto out;
    }
    fd = open_beneath(real_folder, real + flen + 1, err, shown);
    if (fd < 0)
        goto out;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        problem_set(err, 404, "file_not_found", "'%s' is not a regular "
                    "file", shown);
        goto out;
    }
    if (st.st_size > (off_t)cap) {
        problem_set(err, 403, "file_too_large", "'%s' has %lld bytes; "
                    "files of more than %zu bytes are not served", shown,
                    (long long)st.st_size, cap);
        goto out;
    }
    data = read_fd(fd, cap, &len);
    if (data == NULL) {
        if (errno == EFBIG)
            problem_set(err, 403, "file_too_large", "'%s' has more than "
                        "%zu bytes", shown, cap);
        else
            problem_set(err, 500, "skill_read_failed", "reading '%s': %s",
                        shown, strerror(errno));
        goto out;
    }
    *out = json_pack("{s:s, s:I}", "path", rel, "size", (json_int_t)len);
    if (memchr(data, '\0', len) == NULL && util_utf8_valid(data, len)) {
        json_object_set_new(*out, "content", json_stringn(data, len));
    } else {
        char *b64 = base64((const unsigned char *)data, len);

        json_object_set_new(*out, "content_base64", json_string(b64));
        free(b64);
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(real_folder);
    free(full);
    free(real);
    free(data);
    return rc;
}

static void
walk_add(struct walk *w, char *path, long long size, const char *type)
{
    if (w->n == w->alloc) {
        w->alloc = w->alloc ? 2 * w->alloc : 32;
        w->v = xrealloc(w->v, w->alloc * sizeof(*w->v));
    }
    w->v[w->n].path = path;
    w->v[w->n].size = size;
    w->v[w->n].type = type;
    w->n++;
}

/* Adds the entries under dirfd (not following links) to w. */
static void
walk_dir(int dirfd, const char *prefix, int depth, struct walk *w)
{
    struct dirent *e;
    struct stat st;
    DIR *d;
    /* close-on-exec like every descriptor: a concurrent agent spawn
     * must not inherit it */
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);

    if (fd < 0)
        return;
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    while (!w->truncated && (e = readdir(d)) != NULL) {
        char *rel;

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) &&
            !S_ISLNK(st.st_mode))
            continue;
        if (!S_ISDIR(st.st_mode) && w->n >= w->cap) {
            w->truncated = 1;
            break;
        }
        rel = prefix ? xasprintf("%s/%s", prefix, e->d_name)
                     : xstrdup(e->d_name);
        if (S_ISDIR(st.st_mode)) {
            int sub = -1;

            if (depth + 1 >= LIMIT_SKILL_DEPTH)
                w->truncated = 1;
            else
                sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY |
                             O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                walk_dir(sub, rel, depth + 1, w);
                close(sub);
            }
            free(rel);
        } else {
            walk_add(w, rel, (long long)st.st_size,
                     S_ISREG(st.st_mode) ? "file" : "symlink");
        }
    }
    closedir(d);
}

static int
entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->path,
                  ((const struct entry *)b)->path);
}

json_t *
skill_fs_list(const char *folder, size_t cap, int *truncated)
{
    struct walk w;
    json_t *list = json_array();
    size_t i;
    int fd;

    memset(&w, 0, sizeof(w));
    w.cap = cap;
    fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        walk_dir(fd, NULL, 0, &w);
        close(fd);
    }
    qsort(w.v, w.n, sizeof(*w.v), entry_cmp);
    for (i = 0; i < w.n; i++) {
        char *shown = util_utf8_printable(w.v[i].path);

        json_array_append_new(list, json_pack("{s:s, s:I, s:s}", "path",
                                              shown, "size",
                                              (json_int_t)w.v[i].size,
                                              "type", w.v[i].type));
        free(shown);
        free(w.v[i].path);
    }
    free(w.v);
    *truncated = w.truncated;
    return list;
}

char *
skill_fs_read_md(const char *folder, size_t cap, size_t *len, char *why,
                 size_t whylen)
{
    char *path = xasprintf("%s/SKILL.md", folder), *text = NULL;
    struct stat st;
    int fd;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
              O_NOCTTY);
    free(path);
    if (fd < 0) {
        if (errno == ENOENT)
            snprintf(why, whylen, "no SKILL.md in the folder");
        else if (errno == ELOOP || errno == EMLINK)
            snprintf(why, whylen, "SKILL.md is a symbolic link");
        else
            snprintf(why, whylen, "cannot open SKILL.md: %s",
                     strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "SKILL.md is not a regular file");
    } else if (st.st_size > (off_t)cap) {
        snprintf(why, whylen, "SKILL.md has %lld bytes; at most %zu are "
                 "allowed", (long long)st.st_size, cap);
    } else {
        text = read_fd(fd, cap, len);
        if (text == NULL)
            snprintf(why, whylen, "cannot read SKILL.md: %s",
                     errno == EFBIG ? "it grew past the size limit"
                                    : strerror(errno));
    }
    close(fd);
    return text;
}

static int
fs_problem(struct problem *err, int errnum, const char *what)
{
    if (errnum == ENOSPC || errnum == EDQUOT)
        return problem_set(err, 507, "storage_full", "%s: %s", what,
                           strerror(errnum));
    return problem_set(err, 500, "skill_write_failed", "%s: %s", what,
                       strerror(errnum));
}

static int
write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Creates rel (checked) under rootfd with the given bytes, making the
 * folders on the way; the file and each folder that changed are
 * fsync'ed.  A path that runs into an existing file, or names one twice,
 * is a conflict (400).
 */
static int
write_path(int rootfd, const char *rel, const char *data, size_t len,
           struct problem *err)
{
    char shown[DETAIL_PATH_BYTES], *copy = xstrdup(rel), *seg = copy;
    int dirfd = rootfd, fd = -1, rc = -1;

    clip(rel, shown, sizeof(shown));
    for (;;) {
        char *slash = strchr(seg, '/');

        if (slash == NULL)
            break;
        *slash = '\0';
        if (mkdirat(dirfd, seg, 0755) == 0) {
            if (fsync(dirfd) < 0) {
                fs_problem(err, errno, "fsync");
                goto out;
            }
        } else if (errno != EEXIST) {
            fs_problem(err, errno, "creating a folder");
            goto out;
        }
        fd = openat(dirfd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                    O_CLOEXEC);
        if (fd < 0) {
            problem_set(err, 400, "invalid_path", "'%s' runs into a file "
                        "of the same skill", shown);
            goto out;
        }
        if (dirfd != rootfd)
            close(dirfd);
        dirfd = fd;
        fd = -1;
        seg = slash + 1;
    }
    fd = openat(dirfd, seg, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            problem_set(err, 400, "invalid_path", "'%s' is given twice, or "
                        "is also a folder of the skill", shown);
        else
            fs_problem(err, errno, "creating a file");
        goto out;
    }
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0 ||
        fsync(dirfd) < 0) {
        fs_problem(err, errno, "writing a file");
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (dirfd != rootfd)
        close(dirfd);
    free(copy);
    return rc;
}

/* Exchanges two paths atomically where the system can; -1 otherwise. */
static int
exchange(const char *a, const char *b)
{
#if defined(HAVE_RENAMEAT2) && defined(RENAME_EXCHANGE)
    return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
    (void)a;
    (void)b;
    errno = ENOSYS;
    return -1;
#endif
}

static int
fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int
skill_fs_write(const char *root, const char *name, const char *skill_md,
               json_t *files, int *created, struct problem *err)
{
    char *tmp = xasprintf("%s/.%s.tmp-XXXXXX", root, name);
    char *final = xasprintf("%s/%s", root, name), *old = NULL;
    const char *key;
    json_t *value;
    struct stat st;
    int tmpfd = -1, rc = -1, made = 0;

    *created = 0;
    if (mkdtemp(tmp) == NULL) {
        fs_problem(err, errno, "creating a folder in the skills root");
        goto out;
    }
    made = 1;
    tmpfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tmpfd < 0 || fchmod(tmpfd, 0755) < 0) {
        fs_problem(err, errno, "opening the new folder");
        goto out;
    }
    if (write_path(tmpfd, "SKILL.md", skill_md, strlen(skill_md),
                   err) < 0)
        goto out;
    json_object_foreach(files, key, value) {
        if (write_path(tmpfd, key, json_string_value(value),
                       json_string_length(value), err) < 0)
            goto out;
    }
    if (fsync(tmpfd) < 0) {
        fs_problem(err, errno, "fsync");
        goto out;
    }
    if (lstat(final, &st) == 0) {
        /* Replace: swap in one step, or move the old one aside. */
        if (exchange(tmp, final) < 0) {
            old = xasprintf("%s", tmp);
            memcpy(strrchr(old, '.') + 1, "old", 3);
            if (rename(final, old) < 0) {
                fs_problem(err, errno, "moving the old skill aside");
                goto out;
            }
            if (rename(tmp, final) < 0) {
                fs_problem(err, errno, "renaming the new skill into "
                           "place");
                if (rename(old, final) < 0)
                    made = 0;   /* keep tmp: the old one is lost */
                goto out;
            }
            made = 0;
            skill_fs_remove_tree(old);
        } else {
            /* tmp now holds the old folder. */
            skill_fs_remove_tree(tmp);
            made = 0;
        }
    } else if (rename(tmp, final) < 0) {
        fs_problem(err, errno, "renaming the new skill into place");
        goto out;
    } else {
        made = 0;
        *created = 1;
    }
    if (fsync_path(root) < 0) {
        fs_problem(err, errno, "fsync of the skills root");
        goto out;
    }
    rc = 0;
out:
    if (tmpfd >= 0)
        close(tmpfd);
    if (made)
        skill_fs_remove_tree(tmp);
    free(tmp);
    free(final);
    free(old);
    return rc;
}

static int
remove_one(const char *path, const struct stat *st, int flag,
           struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void
skill_fs_remove_tree(const char *path)
{
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
