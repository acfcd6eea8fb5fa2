/*
 * runtime.h - the runtime inventory: what this host is (OS, release,
 * arch, CPUs, memory, load, free disk of the data dir), which agent
 * runtimes it has on PATH with their versions, its jails (FreeBSD), and
 * Colibri's own version and uptime, as one JSON manifest.
 *
 * Served by runtime.get, printed by `colibri inventory`, and pushed to
 * another daemon with host.report; validated there by
 * runtime_manifest_check.  See docs/internals/runtime.md.
 */
#ifndef COLIBRI_RUNTIME_H
#define COLIBRI_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The programs looked for when none are configured (--runtime-tools). */
extern const char *const runtime_default_tools[];

#define RUNTIME_VERSION_TIMEOUT_MS  3000    /* one "TOOL --version" */
#define RUNTIME_VERSION_OUTPUT      4096    /* of its output, read */
#define RUNTIME_JLS_OUTPUT          (1024 * 1024)
#define RUNTIME_CACHE_MS            60000   /* runtimes and jails kept */
#define RUNTIME_MANIFEST_BYTES      (256 * 1024)    /* host.report body */
#define RUNTIME_HOST_NAME_CHARS     255
#define RUNTIME_HOST_ONLINE_SECONDS 300    /* a host reported within: online */

struct runtime_options {
    const char *data_dir;       /* disk facts are of this directory */
    const char *const *tools;   /* NULL-terminated; NULL = the default */
    const char *path;           /* PATH to search; NULL = $PATH */
    const char *jls_path;       /* FreeBSD only; NULL = JAIL_DEFAULT_JLS */
    int64_t started_ms;         /* Colibri's start, for uptime; 0: none */
    const char *role;           /* "colibrid" or "colibri" */
};

/*
 * The host facts: {"name","os","release","version","arch","cpus",
 * "memory":{"total_bytes","available_bytes"},"load":[1,5,15],
 * "disk":{"path","total_bytes","free_bytes","available_bytes"}}.
 * A fact that cannot be read is null.  Cheap; new reference.
 */
json_t *runtime_host_facts(const char *data_dir);

/*
 * The runtimes: [{"name","found","path","version"}] for each tool in
 * order; version is the first non-empty line "TOOL --version" printed
 * (stdout, else stderr) within RUNTIME_VERSION_TIMEOUT_MS, run without
 * a shell, stdin /dev/null; null when it printed nothing or timed out.
 * Slow (runs programs); new reference.
 */
json_t *runtime_tools(const char *const *tools, const char *path);

/* The jails (array) from `jls --libxo=json`, or JSON null off FreeBSD or
 * when jls fails.  New reference. */
json_t *runtime_jails(const char *jls_path);

/* Parses jls's libxo JSON into the array of jails (new), or NULL. */
json_t *runtime_parse_jls(const char *text, size_t len);

/*
 * The whole manifest: {"manifest_version":1,"generated_at","host",
 * "runtimes","jails","colibri":{"role","version","started_at",
 * "uptime_seconds"}}.  Runtimes and jails come from a cache refreshed
 * every RUNTIME_CACHE_MS (one per process, thread-safe); host facts are
 * read each time.  fresh != 0 refreshes the cache now.  New reference.
 */
json_t *runtime_manifest(const struct runtime_options *o, int fresh);

/* Resolves name on path (':'-separated) to an executable file; 0 and
 * out filled, or -1.  A name with a '/' is not looked up. */
int runtime_which(const char *name, const char *path, char *out,
                  size_t outlen);

/*
 * Checks a manifest another host reported: an object with "host" an
 * object whose "name" is a host name (1-255 of [A-Za-z0-9.-], no
 * leading '-' or '.'), "runtimes" an array (or absent), "jails" an array,
 * null or absent.  0, or -1 with the reason (a phrase) in why.
 */
int runtime_manifest_check(const json_t *m, char *why, size_t whylen);

#endif
