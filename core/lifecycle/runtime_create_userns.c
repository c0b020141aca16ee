/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CreateContainer in a pod with its own user namespace: the rootfs and the
 * volumes are mounted idmapped through the pod's user namespace, so that
 * what the host's root owns the pod's root owns, without a chown of the
 * image.  They live under <state>/userns/<id> (runtime_userns.c), which the
 * pod's root can traverse to reach its rootfs; the volumes' copies sit in
 * a 0700 dir there (runc opens bind-mount sources from the host's side).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount_util.h"
#include "pod_ns.h"
#include "runtime_internal.h"

int create_userns_prepare(struct runtime_service *rs, const char *id, const sandbox_record *pod,
                          const Runtime__V1__PodSandboxConfig *pod_config, struct create_userns *u,
                          struct cleat_error **reterr) {
    if (runtime_userns_root(pod_config, &u->idmap.root_uid, &u->idmap.root_gid) < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "pod %s: its stored config maps no root", pod->id);
    char *pdir = pod_dir(rs, pod->id), ns[4200];
    if (!pdir)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    snprintf(ns, sizeof(ns), "%s/ns", pdir);
    free(pdir);
    int r = pod_ns_open(ns, "user", &u->idmap.userns_fd, reterr);
    if (r < 0)
        return error_prefix(r, reterr, "pod %s: its user namespace", pod->id);
    r = userns_dir_create(rs, id, u->idmap.root_gid, &u->dir, reterr);
    if (r >= 0 && asprintf(&u->rootfs, "%s/rootfs", u->dir) < 0) {
        u->rootfs = NULL;
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    if (r >= 0 && mkdir(u->rootfs, 0755) < 0)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", u->rootfs, strerror(errno));
    return r;
}

/* A mount point like the source: a directory for a directory, an empty file for anything else. */
static int mount_point(const char *source, const char *path, struct cleat_error **reterr) {
    struct stat st;
    if (stat(source, &st) < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, errno, "host path %s: %s", source, strerror(errno));
    if (S_ISDIR(st.st_mode) ? mkdir(path, 0700) : mknod(path, S_IFREG | 0600, 0))
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

int create_userns_volumes(const Runtime__V1__ContainerConfig *config, struct create_userns *u,
                          struct cleat_error **reterr) {
    if (!config->n_mounts)
        return 0;
    char vols[4200];
    snprintf(vols, sizeof(vols), "%s/volumes", u->dir);
    if (mkdir(vols, 0700) < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", vols, strerror(errno));
    if (!(u->volumes = calloc(config->n_mounts, sizeof(char *))))
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    u->n_volumes = config->n_mounts;
    for (size_t i = 0; i < config->n_mounts; i++) {
        const Runtime__V1__Mount *m = config->mounts[i];
        if (image_volume_is(m))
            continue; /* mounted idmapped from its view already (image_volumes_mount) */
        if (asprintf(&u->volumes[i], "%s/%zu", vols, i) < 0) {
            u->volumes[i] = NULL;
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        }
        static const char *const rbind[] = {"rbind", NULL};
        struct cleat_mount bind = {.type = "bind", .source = m->host_path, .options = rbind};
        int r = mount_point(m->host_path, u->volumes[i], reterr);
        if (r >= 0)
            r = mount_apply_idmapped(&bind, u->volumes[i], &u->idmap, reterr);
        if (r < 0)
            return error_prefix(r, reterr,
                                "mounts[%zu] (%s): the pod has its own user namespace, so the volume %s "
                                "must be idmapped",
                                i, m->container_path, m->host_path);
    }
    return 0;
}

void create_userns_done(struct create_userns *u) {
    if (u->idmap.userns_fd >= 0)
        close(u->idmap.userns_fd);
    u->idmap.userns_fd = -1;
    for (size_t i = 0; i < u->n_volumes; i++)
        free(u->volumes[i]);
    free(u->volumes);
    free(u->dir);
    free(u->rootfs);
    u->volumes = NULL;
    u->n_volumes = 0;
    u->dir = u->rootfs = NULL;
}
