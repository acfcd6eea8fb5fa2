/*
 * app.h - what a handler may reach: the daemon's modules, borrowed.
 * Handlers see this and struct call, never a transport.
 */
#ifndef COLIBRI_APP_H
#define COLIBRI_APP_H

#include <stdint.h>

#include "jail.h"

struct config;
struct store;
struct metrics;
struct skills;
struct panes;
struct spawner;
struct sessions;

struct app {
    const struct config *cfg;   /* borrowed */
    struct store *store;        /* borrowed */
    struct metrics *metrics;    /* borrowed; may be NULL in unit tests */
    struct skills *skills;      /* borrowed; may be NULL in unit tests */
    struct panes *panes;        /* borrowed; may be NULL in unit tests */
    struct spawner *spawner;    /* borrowed; NULL: no agents started */
    struct sessions *sessions;  /* borrowed; NULL: no session logs */
    struct jail_tools jail_tools;   /* resolved paths; zeroed in unit tests
                                     * (the defaults then) */
    int64_t started_ms;
    int http_port;              /* the bound HTTP port (atomic; 0 until
                                 * known) */
};

#endif
