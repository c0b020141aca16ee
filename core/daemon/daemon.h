/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon: every part of cleatd, opened in order by daemon_open() (lock,
 * store, registry, plugins, images, pods and containers, streaming) and
 * wired together here, at the top, so that no layer below needs to know
 * the others; torn down in reverse by daemon_close().  The CRI handlers get
 * the few parts they reach in a struct of their own (cri_context).
 */
#ifndef CLEAT_CORE_DAEMON_H
#define CLEAT_CORE_DAEMON_H

#include <stdint.h>

#include "cdi_registry.h"
#include "config.h"
#include "cri.h"
#include "error.h"
#include "image_service.h"
#include "plugin_loader.h"
#include "registry.h"
#include "runtime_service.h"
#include "store.h"
#include "stream_server.h"

struct event_hub;

struct daemon {
    struct config *cfg;  /* as read at start: what every setting that needs a restart runs with */
    struct config *live; /* where the reloadable settings in force came from: cfg, or the last reload's */
    struct plugins *plugins;
    struct store *store;
    struct registry *registry;
    struct image_service *images;
    struct runtime_service *runtime; /* pods and containers */
    struct stream_server *streaming; /* Exec, Attach, PortForward URLs */
    struct event_hub *events;        /* container events for GetContainerEvents (events.h) */
    struct cdi_registry *cdi;        /* CDI spec directories (a reload may replace them: cdi_registry_set_dirs) */
    struct cri_context cri;          /* what the CRI handlers reach: the fields above */
    int lock_fd;                     /* flock'ed <root_dir>/cleatd.lock */
    int64_t started_at;              /* CLOCK_REALTIME ns */
};

/*
 * Take the root dir lock, open the store and registry, load and initialise
 * the plugins, and hand the persisted pod CIDR to the network plugin.  Takes
 * ownership of cfg (also on failure).
 */
int daemon_open(struct config *cfg, struct daemon **ret, struct cleat_error **reterr);
/* Reverse of daemon_open.  NULL-safe. */
void daemon_close(struct daemon *d);

/*
 * Take the exclusive lock on <root_dir>/cleatd.lock so that two cleatd never
 * share a root dir; the message names the holder's pid.  Returns the fd.
 */
int daemon_lock_root(const char *root_dir, struct cleat_error **reterr);

#endif
