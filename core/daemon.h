/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's shared state: what every CRI handler reaches through its
 * context pointer.  Set up in order by daemon_open() (lock, store,
 * registry, plugins) and torn down in reverse by daemon_close().
 */
#ifndef CLEAT_CORE_DAEMON_H
#define CLEAT_CORE_DAEMON_H

#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "image_service.h"
#include "plugin_loader.h"
#include "registry.h"
#include "runtime_service.h"
#include "store.h"
#include "stream_server.h"

struct event_hub;

struct daemon {
    struct config *cfg;
    struct plugins *plugins;
    struct store *store;
    struct registry *registry;
    struct image_service *images;
    struct runtime_service *runtime; /* pods and containers */
    struct stream_server *streaming; /* Exec, Attach, PortForward URLs */
    struct event_hub *events;        /* container events for GetContainerEvents (events.h) */
    int lock_fd;         /* flock'ed <root_dir>/cleatd.lock */
    int64_t started_at;  /* CLOCK_REALTIME ns */
    pthread_mutex_t lock; /* guards the fields below; never held across a plugin call */
    char *pod_cidr;      /* from UpdateRuntimeConfig, persisted in the store */
};

/*
 * Take the root dir lock, open the store and registry, load and initialise
 * the plugins, and hand the persisted pod CIDR to the network plugin.  Takes
 * ownership of cfg (also on failure).
 */
int daemon_open(struct config *cfg, struct daemon **ret, struct cleat_error **reterr);
/* Reverse of daemon_open.  NULL-safe. */
void daemon_close(struct daemon *d);

/* A copy of the current pod CIDR (malloc'd, "" if none), or NULL on OOM. */
char *daemon_pod_cidr(struct daemon *d);
/* Validate, persist, and pass on to the network plugin a new pod CIDR ("" clears it). */
int daemon_set_pod_cidr(struct daemon *d, const char *cidr, struct cleat_error **reterr);

/*
 * Take the exclusive lock on <root_dir>/cleatd.lock so that two cleatd never
 * share a root dir; the message names the holder's pid.  Returns the fd.
 */
int daemon_lock_root(const char *root_dir, struct cleat_error **reterr);

#endif
