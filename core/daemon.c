/* SPDX-License-Identifier: Apache-2.0 */
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
#include "netaddr.h"

#define META_POD_CIDR "pod_cidr"

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

/* One CIDR, or a dual-stack pair "v4,v6" as kubelet sends it; no empty parts. */
static int valid_pod_cidr(const char *cidr) {
    const char *comma = strchr(cidr, ',');
    if (!comma)
        return netaddr_is_cidr(cidr, strlen(cidr));
    return netaddr_is_cidr(cidr, (size_t)(comma - cidr)) && netaddr_is_cidr(comma + 1, strlen(comma + 1));
}

static int push_pod_cidr(struct daemon *d, const char *cidr, struct cleat_error **reterr) {
    struct plugin_instance *net = plugins_first(d->plugins, CLEAT_CONCERN_NETWORK);
    /* A network plugin without the op has nothing to do with the CIDR. */
    if (!net || !net->ops.network.update_pod_cidr || !*cidr)
        return 0;
    int r = net->ops.network.update_pod_cidr(net->instance, cidr, reterr);
    return r < 0 ? error_prefix(r, reterr, "network '%s' refused pod CIDR %s", net->name, cidr) : 0;
}

char *daemon_pod_cidr(struct daemon *d) {
    pthread_mutex_lock(&d->lock);
    char *c = strdup(d->pod_cidr ? d->pod_cidr : "");
    pthread_mutex_unlock(&d->lock);
    return c;
}

int daemon_set_pod_cidr(struct daemon *d, const char *cidr, struct cleat_error **reterr) {
    if (*cidr && !valid_pod_cidr(cidr))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "pod CIDR '%s' is not a CIDR (or two, comma-separated)", cidr);
    char *copy = strdup(cidr);
    if (!copy)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r = store_meta_set(d->store, META_POD_CIDR, cidr, reterr);
    if (r < 0) {
        free(copy);
        return r;
    }
    pthread_mutex_lock(&d->lock);
    int changed = !d->pod_cidr || strcmp(d->pod_cidr, cidr) != 0;
    free(d->pod_cidr);
    d->pod_cidr = copy;
    pthread_mutex_unlock(&d->lock);
    if (changed)
        log_info("pod CIDR is now '%s'", cidr);
    return push_pod_cidr(d, cidr, reterr);
}

static int load_pod_cidr(struct daemon *d, struct cleat_error **reterr) {
    char *cidr = NULL;
    struct cleat_error *err = NULL;
    int r = store_meta_get(d->store, META_POD_CIDR, &cidr, &err);
    if (r < 0 && error_status(err) == CLEAT_STATUS_NOT_FOUND) {
        error_free(err);
        return 0;
    }
    if (r < 0) {
        *reterr = err;
        return r;
    }
    d->pod_cidr = cidr;
    /* A network plugin that cannot take the CIDR now must not keep cleatd from serving. */
    if (push_pod_cidr(d, cidr, &err) < 0) {
        log_warning("%s", error_message(err));
        error_free(err);
    }
    return 0;
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
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    d->started_at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    d->cfg = cfg;
    d->lock_fd = -1;
    pthread_mutex_init(&d->lock, NULL);
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
            .limits = {.max_layer_bytes = cfg->images_max_layer_bytes,
                       .max_image_bytes = cfg->images_max_image_bytes,
                       .max_compression_ratio = cfg->images_max_compression_ratio,
                       .compression_ratio_min_bytes = cfg->images_compression_ratio_min_bytes,
                       .min_free_bytes = cfg->images_min_free_bytes}};
        r = image_service_open(&io, d->plugins, d->registry, d->store, &d->images, reterr);
    }
    if (r >= 0 && !(d->events = event_hub_new(cfg->events_queue_size)))
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (r >= 0)
        r = runtime_service_open(d, &d->runtime, reterr);
    if (r >= 0)
        r = load_pod_cidr(d, reterr);
    if (r >= 0) {
        struct stream_server_options so = {.address = cfg->streaming_address,
                                           .port = (uint16_t)cfg->streaming_port,
                                           .tls_cert_file = cfg->streaming_tls_cert_file,
                                           .tls_key_file = cfg->streaming_tls_key_file,
                                           .token_ttl_seconds = cfg->streaming_token_ttl_seconds,
                                           .max_sessions = cfg->streaming_max_sessions,
                                           .max_pending = cfg->streaming_max_pending,
                                           .request_timeout_ms =
                                               (int)cfg->streaming_request_timeout_seconds * 1000};
        r = stream_server_start(d, &so, &d->streaming, reterr);
    }
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
    stream_server_stop(d->streaming); /* first: sessions use the runtimes */
    image_service_free(d->images);
    plugins_free(d->plugins); /* first: runtimes report exits to d->runtime until they are gone */
    runtime_service_free(d->runtime);
    event_hub_free(d->events); /* after the runtime service: exits publish until the plugins are gone */
    registry_free(d->registry);
    store_close(d->store);
    if (d->lock_fd >= 0)
        close(d->lock_fd); /* releases the flock */
    config_free(d->cfg);
    free(d->pod_cidr);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
