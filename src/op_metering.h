/*
 * op_metering.h - what the metering handlers share with the rest of the
 * daemon: their /metrics lines.
 */
#ifndef COLIBRI_OP_METERING_H
#define COLIBRI_OP_METERING_H

#include "problem.h"
#include "util.h"

struct app;

/*
 * Appends colibri_tokens_total{kind,model}, colibri_cost_usd_total{model}
 * and colibri_cache_hit_ratio{model}, read from the store at the scrape
 * (so they survive a restart), at most LIMIT_METERING_METRIC_MODELS
 * models.  0, or -1 with err.
 */
int metering_render_metrics(struct app *app, struct buf *out,
                            struct problem *err);

#endif
