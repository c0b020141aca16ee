/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image volumes (CRI Mount.image, KEP-4639): a container mounts an image
 * that is already on the node, read-only, at a path of its own.
 *
 * Each one is a read-only view of the image's top layer from the
 * snapshotter (key "volume-<container id>-<mount index>"), mounted at
 * <container dir>/volumes/<index> (idmapped for a pod with its own user
 * namespace) and bind-mounted into the container from there, or from the
 * image_sub_path below it.  The sub path is resolved once, inside the image
 * (symlinks as if the image's root were "/"): the view is read-only, so
 * what it resolved to cannot change afterwards.
 *
 * An image in use by a volume may be removed (RemoveImage succeeds, the
 * image leaves ListImages) but its layers are kept until no volume uses
 * them, as containerd does: the view holds its parent layers (a snapshotter
 * refuses to remove a parent), and removing the container's views asks the
 * image service to collect what is left.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builders.h"
#include "fsutil.h"
#include "ids.h"
#include "image_service.h"
#include "log.h"
#include "plugin_calls.h"
#include "registry.h"
#include "strlist.h"
#include "runtime_internal.h"

#define VOLUME_KEY_PREFIX "volume-"

int image_volume_is(const Runtime__V1__Mount *m) {
    return m->image && m->image->image && *m->image->image;
}

/* image_sub_path as the CRI allows it: relative, and no ".." component. */
static int check_sub_path(size_t i, const Runtime__V1__Mount *m, struct cleat_error **reterr) {
    const char *p = m->image_sub_path;
    if (!p || !*p)
        return 0;
    if (p[0] == '/')
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "mounts[%zu] (%s): image_sub_path \"%s\" must be relative to the image's root", i,
                         m->container_path, p);
    for (const char *c = p; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "mounts[%zu] (%s): image_sub_path \"%s\" may not contain \"..\"", i, m->container_path, p);
        c += len + (c[len] == '/');
    }
    return 0;
}

int runtime_image_volumes_supported(struct runtime_service *rs) {
    struct plugin_instance *sn = image_service_snapshotter(rs->deps.images);
    return sn && plugin_has_op(sn, "view") && plugin_has_op(sn, "walk") && plugin_has_op(sn, "remove");
}

int image_volumes_validate(const Runtime__V1__ContainerConfig *config, struct cleat_error **reterr) {
    for (size_t i = 0; i < config->n_mounts; i++) {
        const Runtime__V1__Mount *m = config->mounts[i];
        if (!image_volume_is(m)) {
            if (m->image_sub_path && *m->image_sub_path)
                return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                                 "mounts[%zu] (%s): image_sub_path is set but the mount names no image", i,
                                 m->container_path);
            continue;
        }
        if (m->host_path && *m->host_path)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "mounts[%zu] (%s): a mount has a host path or an image, not both", i, m->container_path);
        if (m->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "mounts[%zu] (%s): an image volume takes private propagation only", i, m->container_path);
        int r = check_sub_path(i, m, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

int image_volumes_find(struct runtime_service *rs, const Runtime__V1__ContainerConfig *config, struct image_volumes *iv,
                       struct cleat_error **reterr) {
    iv->n = config->n_mounts;
    if (!iv->n)
        return 0;
    iv->images = calloc(iv->n, sizeof(*iv->images));
    iv->sources = calloc(iv->n, sizeof(*iv->sources));
    if (!iv->images || !iv->sources)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (size_t i = 0; i < iv->n; i++) {
        const Runtime__V1__Mount *m = config->mounts[i];
        if (!image_volume_is(m))
            continue;
        struct cleat_error *err = NULL;
        if (image_store_lookup(image_service_store(rs->deps.images), m->image->image, &iv->images[i], &err) < 0) {
            if (error_status(err) != CLEAT_STATUS_NOT_FOUND) {
                *reterr = error_wrap(err, "mounts[%zu] (%s): image \"%s\"", i, m->container_path, m->image->image);
                return -EINVAL;
            }
            error_free(err);
            return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT,
                             "mounts[%zu] (%s): image \"%s\" not found: pull it first", i, m->container_path,
                             m->image->image);
        }
        iv->any = 1;
    }
    return 0;
}

/* The snapshotter an image was unpacked with (the default one if it is not configured any more). */
static struct plugin_instance *snapshotter_of(struct runtime_service *rs, const image_record *img) {
    struct plugin_instance *sn = img->snapshotter && *img->snapshotter
                                     ? plugins_find(rs->deps.plugins, CLEAT_CONCERN_SNAPSHOTTER, img->snapshotter)
                                     : NULL;
    return sn ? sn : image_service_snapshotter(rs->deps.images);
}

/* The view of image volume i, mounted at dir (idmapped when idmap is not NULL). */
static int mount_view(struct runtime_service *rs, const char *id, size_t i, const image_record *img, const char *dir,
                      const struct mount_idmap *idmap, struct cleat_error **reterr) {
    struct plugin_instance *sn = snapshotter_of(rs, img);
    if (!sn || !plugin_has_op(sn, "view"))
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOSYS,
                         "image volumes need a snapshotter that makes views%s%s%s", sn ? " ('" : "", sn ? sn->name : "",
                         sn ? "' does not)" : "");
    char key[sizeof(VOLUME_KEY_PREFIX) + ID_HEX_LEN + 24];
    snprintf(key, sizeof(key), VOLUME_KEY_PREFIX "%s-%zu", id, i);
    const char *parent = img->n_chain_ids ? img->chain_ids[img->n_chain_ids - 1] : NULL;
    struct cleat_mount_list *ml = mount_list_new();
    if (!ml)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r = plugin_snapshotter_view(sn, key, parent, NULL, ml, reterr);
    if (r >= 0 && mkdir(dir, 0700) < 0)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", dir, strerror(errno));
    if (r >= 0)
        r = idmap ? mount_all_idmapped(ml->items, ml->n, dir, idmap, reterr) : mount_all(ml->items, ml->n, dir, reterr);
    mount_list_free(ml);
    return r; /* a view made but not mounted is removed with the container (image_volumes_remove) */
}

/* What to bind into the container: the view's root, or the sub path resolved inside it. */
static int resolve_source(size_t i, const Runtime__V1__Mount *m, const char *dir, char **ret,
                          struct cleat_error **reterr) {
    const char *sub = m->image_sub_path ? m->image_sub_path : "";
    int r = fsutil_resolve_in_root(dir, sub, ret, NULL);
    if (r == -ENOMEM)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (r < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, -r,
                         "mounts[%zu] (%s): image_sub_path \"%s\" cannot be reached in image %s: %s", i,
                         m->container_path, sub, m->image->image, strerror(-r));
    return 0;
}

int image_volumes_mount(struct runtime_service *rs, const char *id, const char *container_dir,
                        const Runtime__V1__ContainerConfig *config, struct image_volumes *iv,
                        const struct mount_idmap *idmap, struct cleat_error **reterr) {
    if (!iv->any)
        return 0;
    char vols[4200], dir[4300];
    snprintf(vols, sizeof(vols), "%s/volumes", container_dir);
    if (mkdir(vols, 0700) < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", vols, strerror(errno));
    for (size_t i = 0; i < iv->n; i++) {
        if (!iv->images[i])
            continue;
        const Runtime__V1__Mount *m = config->mounts[i];
        snprintf(dir, sizeof(dir), "%s/%zu", vols, i);
        int r = mount_view(rs, id, i, iv->images[i], dir, idmap, reterr);
        if (r >= 0)
            r = resolve_source(i, m, dir, &iv->sources[i], reterr);
        if (r < 0)
            return error_prefix(r, reterr, "container %s: image volume at %s", id, m->container_path);
    }
    return 0;
}

void image_volumes_done(struct image_volumes *iv) {
    for (size_t i = 0; i < iv->n; i++) {
        if (iv->images)
            image_record_free(iv->images[i]);
        if (iv->sources)
            free(iv->sources[i]);
    }
    free(iv->images);
    free(iv->sources);
    *iv = (struct image_volumes){0};
}

/* "volume-<id>-<n>": the container id it belongs to, in `id`; 0 if key is not a volume view. */
static int volume_owner(const char *key, char id[ID_HEX_LEN + 1]) {
    size_t p = sizeof(VOLUME_KEY_PREFIX) - 1;
    if (strncmp(key, VOLUME_KEY_PREFIX, p) != 0 || strlen(key) < p + ID_HEX_LEN + 2 || key[p + ID_HEX_LEN] != '-')
        return 0;
    snprintf(id, ID_HEX_LEN + 1, "%.*s", ID_HEX_LEN, key + p);
    return id_is_valid(id);
}

struct view_list {
    const char *owner;          /* only this container's views; NULL: those of containers without a record */
    struct runtime_service *rs; /* for the record check */
    struct strlist keys;
};

static int container_has_record(struct runtime_service *rs, const char *id) {
    char full[ID_HEX_LEN + 1];
    struct cleat_error *err = NULL;
    int r = registry_resolve(rs->deps.registry, STORE_CONTAINER, id, full, &err);
    error_free(err);
    return r >= 0 && strcmp(full, id) == 0;
}

static int note_view(void *ctx, const struct cleat_snapshot_info *info) {
    struct view_list *l = ctx;
    char id[ID_HEX_LEN + 1];
    if (!info->key || !volume_owner(info->key, id))
        return 0;
    if (l->owner ? strcmp(id, l->owner) != 0 : container_has_record(l->rs, id))
        return 0;
    return strlist_add(&l->keys, info->key) < 0;
}

/* Remove the views l selects from every snapshotter; the number removed. */
static size_t remove_views(struct runtime_service *rs, struct view_list *l) {
    size_t removed = 0;
    struct plugins *p = rs->deps.plugins;
    for (size_t s = 0; s < p->n; s++) {
        struct plugin_instance *sn = p->items[s];
        if (sn->concern != CLEAT_CONCERN_SNAPSHOTTER || !plugin_has_op(sn, "walk") || !plugin_has_op(sn, "remove"))
            continue;
        struct cleat_error *err = NULL;
        if (plugin_snapshotter_walk(sn, note_view, l, &err) < 0)
            log_warning("image volumes: listing the snapshots of '%s': %s", sn->name, error_message(err));
        error_free(err);
        for (size_t i = 0; i < l->keys.n; i++) {
            err = NULL;
            if (plugin_snapshotter_remove(sn, l->keys.v[i], &err) >= 0)
                removed++;
            else if (error_status(err) != CLEAT_STATUS_NOT_FOUND)
                log_warning("image volume snapshot %s: %s", l->keys.v[i], error_message(err));
            error_free(err);
        }
        strlist_free(&l->keys);
    }
    return removed;
}

/* Unmount each <container_dir>/volumes/<i> (unmount_tree takes one mount point at a time). */
static void unmount_volumes(const char *id, const char *container_dir) {
    char vols[4200], path[4500];
    snprintf(vols, sizeof(vols), "%s/volumes", container_dir);
    DIR *d = opendir(vols);
    if (!d)
        return; /* none, or gone already */
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        struct cleat_error *err = NULL;
        snprintf(path, sizeof(path), "%s/%s", vols, de->d_name);
        if (unmount_tree(path, &err) < 0)
            log_warning("container %s: %s", id, error_message(err));
        error_free(err);
    }
    closedir(d);
}

void image_volumes_remove(struct runtime_service *rs, const char *id, const char *container_dir) {
    if (container_dir)
        unmount_volumes(id, container_dir);
    struct view_list l = {.owner = id};
    /* The layers of an image removed while this container used it are garbage now. */
    if (remove_views(rs, &l) > 0)
        image_gc_soon(rs->deps.images);
}

void image_volumes_sweep(struct runtime_service *rs) {
    struct view_list l = {.rs = rs};
    size_t n = remove_views(rs, &l);
    if (n > 0) {
        log_notice("removed %zu image volume snapshot%s of containers that have no record", n, n == 1 ? "" : "s");
        image_gc_soon(rs->deps.images);
    }
}
