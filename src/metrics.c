/*
 * metrics.c - counters indexed by (operation, status slot) and a
 * cumulative latency histogram per operation.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"
#include "ops.h"

/* The statuses Colibri answers with; anything else counts as "other". */
static const int status_slots[] = {
    200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409, 412, 413, 414,
    415, 422, 428, 429, 500, 503, 507, 0
};
#define NSTATUS (sizeof(status_slots) / sizeof(status_slots[0]))

/* Upper bounds of the latency buckets, in microseconds. */
static const int64_t bucket_us[] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000, 2500000
};
#define NBUCKET (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct op_metrics {
    uint64_t count[NSTATUS];
    uint64_t bucket[NBUCKET];   /* non-cumulative; summed when rendered */
    uint64_t observations;
    uint64_t sum_us;
};

struct metrics {
    size_t nops;
    struct op_metrics *per_op;  /* nops + 1 entries */
};

struct metrics *
metrics_new(size_t nops)
{
    struct metrics *m = xcalloc(1, sizeof(*m));

    m->nops = nops;
    m->per_op = xcalloc(nops + 1, sizeof(*m->per_op));
    return m;
}

void
metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    free(m->per_op);
    free(m);
}

void
metrics_observe(struct metrics *m, size_t op_index, int status,
                int64_t micros)
{
    struct op_metrics *om;
    size_t i, slot = NSTATUS - 1;

    if (m == NULL)
        return;
    if (op_index > m->nops)
        op_index = m->nops;
    om = &m->per_op[op_index];
    for (i = 0; i + 1 < NSTATUS; i++)
        if (status_slots[i] == status)
            slot = i;
    __atomic_fetch_add(&om->count[slot], 1, __ATOMIC_RELAXED);
    for (i = 0; i < NBUCKET; i++)
        if (micros <= bucket_us[i])
            break;
    if (i < NBUCKET)
        __atomic_fetch_add(&om->bucket[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&om->observations, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&om->sum_us, (uint64_t)(micros < 0 ? 0 : micros),
                       __ATOMIC_RELAXED);
}

static const char *
op_label(const struct metrics *m, size_t i)
{
    return i < m->nops ? ops_table[i].name : "none";
}

void
metrics_render(const struct metrics *m, struct buf *out)
{
    size_t i, j;

    buf_printf(out, "# HELP colibri_http_requests_total HTTP requests by "
               "operation and status.\n"
               "# TYPE colibri_http_requests_total counter\n");
    for (i = 0; i <= m->nops; i++) {
        for (j = 0; j < NSTATUS; j++) {
            uint64_t n = __atomic_load_n(&m->per_op[i].count[j],
                                         __ATOMIC_RELAXED);
            char status[16];

            if (n == 0)
                continue;
            if (status_slots[j] == 0)
                snprintf(status, sizeof(status), "other");
            else
                snprintf(status, sizeof(status), "%d", status_slots[j]);
            buf_printf(out, "colibri_http_requests_total{op=\"%s\","
                       "status=\"%s\"} %llu\n", op_label(m, i), status,
                       (unsigned long long)n);
        }
    }
    buf_printf(out, "# HELP colibri_http_request_duration_seconds Time "
               "from request start to response, by operation.\n"
               "# TYPE colibri_http_request_duration_seconds histogram\n");
    for (i = 0; i <= m->nops; i++) {
        const struct op_metrics *om = &m->per_op[i];
        uint64_t total = __atomic_load_n(&om->observations,
                                         __ATOMIC_RELAXED);
        uint64_t cumulative = 0;

        if (total == 0)
            continue;
        for (j = 0; j < NBUCKET; j++) {
            cumulative += __atomic_load_n(&om->bucket[j], __ATOMIC_RELAXED);
            buf_printf(out, "colibri_http_request_duration_seconds_bucket"
                       "{op=\"%s\",le=\"%g\"} %llu\n", op_label(m, i),
                       (double)bucket_us[j] / 1e6,
                       (unsigned long long)cumulative);
        }
        buf_printf(out, "colibri_http_request_duration_seconds_bucket"
                   "{op=\"%s\",le=\"+Inf\"} %llu\n", op_label(m, i),
                   (unsigned long long)total);
        buf_printf(out, "colibri_http_request_duration_seconds_sum"
                   "{op=\"%s\"} %.6f\n", op_label(m, i),
                   (double)__atomic_load_n(&om->sum_us, __ATOMIC_RELAXED) /
                   1e6);
        buf_printf(out, "colibri_http_request_duration_seconds_count"
                   "{op=\"%s\"} %llu\n", op_label(m, i),
                   (unsigned long long)total);
    }
}
