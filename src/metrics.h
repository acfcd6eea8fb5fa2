/*
 * metrics.h - request counters and a latency histogram per operation,
 * rendered in the Prometheus text exposition format.  Lock-free: every
 * counter is an atomic add, so observing costs nothing measurable.
 */
#ifndef COLIBRI_METRICS_H
#define COLIBRI_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct metrics;

/* nops: size of the operations table; index nops is "no operation"
 * (unrouted requests: 404, refused Host, ...). */
struct metrics *metrics_new(size_t nops);
void metrics_free(struct metrics *m);

void metrics_observe(struct metrics *m, size_t op_index, int status,
                     int64_t micros);

/* Appends http_requests_total and http_request_duration_seconds. */
void metrics_render(const struct metrics *m, struct buf *out);

#endif
