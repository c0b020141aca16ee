/* SPDX-License-Identifier: Apache-2.0 */
#include "clocks.h"
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"

int daemon_lock_root(const char *root_dir, struct cleat_error **reterr) {
    char path[4096], pid[32] = "";
    snprintf(path, sizeof(path), "%s/cleatd.lock", root_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "cannot open lock file %s: %s", path,
                         strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                             "root dir %s is in use by another cleatd (pid %s, lock %s)", root_dir,
                             *pid ? pid : "unknown", path);
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, e, "cannot lock %s: %s", path, strerror(e));
    }
    /* Only the holder writes its pid, so a loser can name the winner. */
    int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        log_warning("cannot record pid in %s: %s", path, strerror(errno));
    return fd;
}

/* The metrics' observer of the lifecycle: pods and containers created, started, stopped, deleted. */
static void count_change(void *ctx, struct runtime_service *rs, const char *container_id, const char *pod_id,
                         enum lifecycle_change change) {
    static const char *const names[] = {
        [LIFECYCLE_CREATED] = "created",
        [LIFECYCLE_STARTED] = "started",
        [LIFECYCLE_STOPPED] = "stopped",
        [LIFECYCLE_DELETED] = "deleted",
    };
    metrics_lifecycle_change(strcmp(container_id, pod_id) == 0 ? "pod" : "container", names[change]);
}

static int private_dir(const char *what, const char *path, mode_t mode, struct cleat_error **reterr) {
    mode_t old = 0;
    int r = fsutil_private_dir(path, mode, &old, reterr);
    if (r > 0)
        log_notice("%s %s was mode %04o: restricted to %04o", what, path, (unsigned)old, (unsigned)(old & mode));
    return r < 0 ? error_prefix(r, reterr, "%s", what) : 0;
}

/*
 * Nothing under the root dir is for anyone but cleatd (the store, the
 * content, the snapshots with every container's files): 0700, as containerd
 * now has it.  The state dir keeps the x bit for others (0711) so that the
 * CRI socket in it can be given to a group; everything below it that holds
 * a container's files is 0700 (runtime_service_open).  runc reaches a rootfs
 * as root before pivot_root, so this hides nothing from the containers.
 */
static int daemon_private_dirs(const struct config *cfg, struct cleat_error **reterr) {
    int r = private_dir("root dir", cfg->root_dir, 0700, reterr);
    return r < 0 ? r : private_dir("state dir", cfg->state_dir, 0711, reterr);
}

int daemon_open(struct config *cfg, struct daemon **ret, struct cleat_error **reterr) {
    struct daemon *d = calloc(1, sizeof(*d));
    if (!d) {
        config_free(cfg);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    d->started_at = now_ns();
    d->cfg = cfg;
    d->live = cfg;
    d->lock_fd = -1;
    int r = daemon_private_dirs(cfg, reterr);
    if (r >= 0)
        r = d->lock_fd = daemon_lock_root(cfg->root_dir, reterr);
    if (r >= 0)
        r = store_open(cfg->root_dir, &d->store, reterr);
    if (r >= 0)
        r = registry_open(d->store, &d->registry, reterr);
    if (r >= 0)
        r = plugins_load(cfg, PLUGINS_INIT, &d->plugins, reterr);
    if (r >= 0) {
        struct image_service_options io = {
            .root_dir = cfg->root_dir,
            .max_parallel_downloads = cfg->images_max_parallel_downloads,
            .max_parallel_unpacks = cfg->images_max_parallel_unpacks,
            .pull_progress_timeout_seconds = cfg->images_pull_progress_timeout_seconds,
            .pull_progress_log_interval_seconds = cfg->images_pull_progress_log_interval_seconds,
            .limits = {.max_layer_bytes = cfg->images_max_layer_bytes,
                       .max_image_bytes = cfg->images_max_image_bytes,
                       .max_compression_ratio = cfg->images_max_compression_ratio,
                       .compression_ratio_min_bytes = cfg->images_compression_ratio_min_bytes,
                       .min_free_bytes = cfg->images_min_free_bytes},
            .signature_policy = cfg->images_signature_policy,
            .registries_d = cfg->images_registries_d,
            .pinned = (const char *const *)cfg->images_pinned};
        r = image_service_open(&io, d->plugins, d->registry, d->store, &d->images, reterr);
    }
    if (r >= 0 && !(d->events = event_hub_new(cfg->events_queue_size)))
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (r >= 0)
        r = cdi_registry_new((const char *const *)cfg->cdi_spec_dirs, &d->cdi, reterr);
    if (r >= 0) {
        struct runtime_deps deps = {.cfg = cfg,
                                    .plugins = d->plugins,
                                    .store = d->store,
                                    .registry = d->registry,
                                    .images = d->images,
                                    .cdi = d->cdi};
        deps.observers[deps.n_observers++] = cri_events_observer(d->events);
        deps.observers[deps.n_observers++] = (struct lifecycle_observer){.changed = count_change};
        r = runtime_service_open(&deps, &d->runtime, reterr);
        if (r >= 0)
            r = stats_collector_start(d->runtime, reterr);
    }
    if (r >= 0) {
        struct stream_server_options so = {.address = cfg->streaming_address,
                                           .port = (uint16_t)cfg->streaming_port,
                                           .tls_cert_file = cfg->streaming_tls_cert_file,
                                           .tls_key_file = cfg->streaming_tls_key_file,
                                           .token_ttl_seconds = cfg->streaming_token_ttl_seconds,
                                           .max_sessions = cfg->streaming_max_sessions,
                                           .max_pending = cfg->streaming_max_pending,
                                           .request_timeout_ms = (int)cfg->streaming_request_timeout_seconds * 1000};
        r = stream_server_start(d->runtime, &so, &d->streaming, reterr);
    }
    d->cri = (struct cri_context){.cfg = cfg,
                                  .plugins = d->plugins,
                                  .images = d->images,
                                  .runtime = d->runtime,
                                  .streaming = d->streaming,
                                  .events = d->events};
    if (r < 0) {
        daemon_close(d);
        return r;
    }
    *ret = d;
    return 0;
}

void daemon_close(struct daemon *d) {
    if (!d)
        return;
    stats_collector_stop(d->runtime); /* first: it measures through the plugins and the image service */
    stream_server_stop(d->streaming); /* sessions use the runtimes */
    image_service_free(d->images);
    plugins_free(d->plugins); /* first: runtimes report exits to d->runtime until they are gone */
    runtime_service_free(d->runtime);
    cdi_registry_free(d->cdi); /* after the runtime service, which resolves devices with it */
    event_hub_free(d->events); /* after the runtime service: exits publish until the plugins are gone */
    registry_free(d->registry);
    store_close(d->store);
    if (d->lock_fd >= 0)
        close(d->lock_fd); /* releases the flock */
    if (d->live != d->cfg)
        config_free(d->live);
    config_free(d->cfg);
    free(d);
}
