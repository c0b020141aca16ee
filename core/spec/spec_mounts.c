/* SPDX-License-Identifier: Apache-2.0 */
/* The "mounts" array: containerd's defaults, the pod's files, then the CRI mounts; see spec.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "spec_internal.h"

struct mnt {
    const char *dest;
    json_t *obj;
};

struct mnts {
    struct mnt *v;
    size_t n, cap;
};

static void mnts_free(struct mnts *m) {
    for (size_t i = 0; i < m->n; i++)
        json_decref(m->v[i].obj);
    free(m->v);
}

/* Takes obj. */
static int mnts_add(struct mnts *m, const char *dest, json_t *obj, struct cleat_error **reterr) {
    if (!obj)
        return spec_oom(reterr);
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct mnt *v = realloc(m->v, cap * sizeof(*v));
        if (!v) {
            json_decref(obj);
            return spec_oom(reterr);
        }
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (struct mnt){dest, obj};
    return 0;
}

int spec_same_path(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (lb > 1 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

/* 1 if a CRI mount targets dest: it replaces our default or pod file there. */
static int cri_targets(const struct spec_input *in, const char *dest) {
    for (size_t i = 0; i < in->container->n_mounts; i++)
        if (in->container->mounts[i]->container_path && spec_same_path(in->container->mounts[i]->container_path, dest))
            return 1;
    return 0;
}

static int add_defaults(const struct spec_input *in, struct mnts *m, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    const char *ro = sc && sc->privileged ? "rw" : "ro"; /* privileged: writable sysfs and cgroups */
    static const char *const dev_shm = "/dev/shm";
    const struct {
        const char *dest, *type, *source;
        json_t *opts;
    } d[] = {
        {"/proc", "proc", "proc", json_pack("[s,s,s]", "nosuid", "noexec", "nodev")},
        {"/dev", "tmpfs", "tmpfs", json_pack("[s,s,s,s]", "nosuid", "strictatime", "mode=755", "size=65536k")},
        {"/dev/pts", "devpts", "devpts",
         json_pack("[s,s,s,s,s,s]", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")},
        {dev_shm, "tmpfs", "shm", json_pack("[s,s,s,s,s]", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k")},
        {"/dev/mqueue", "mqueue", "mqueue", json_pack("[s,s,s]", "nosuid", "noexec", "nodev")},
        {"/sys", "sysfs", "sysfs", json_pack("[s,s,s,s]", "nosuid", "noexec", "nodev", ro)},
        {"/sys/fs/cgroup", "cgroup", "cgroup", json_pack("[s,s,s,s,s]", "nosuid", "noexec", "nodev", "relatime", ro)},
    };
    int r = 0;
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        int skip = r < 0 || cri_targets(in, d[i].dest) || (d[i].dest == dev_shm && in->shm_path);
        json_t *o = skip ? NULL
                         : json_pack("{s:s,s:s,s:s,s:O}", "destination", d[i].dest, "type", d[i].type, "source",
                                     d[i].source, "options", d[i].opts);
        json_decref(d[i].opts);
        if (!skip)
            r = mnts_add(m, d[i].dest, o, reterr);
    }
    return r;
}

static json_t *bind(const char *dest, const char *src, const char *prop, const char *ro) {
    return json_pack("{s:s,s:s,s:s,s:[s,s,s]}", "destination", dest, "type", "bind", "source", src, "options", "rbind",
                     prop, ro);
}

static int add_pod_files(const struct spec_input *in, struct mnts *m, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    const char *ro = sc && sc->readonly_rootfs ? "ro" : "rw";
    const struct {
        const char *dest, *src, *ro;
    } f[] = {
        {"/etc/hostname", in->hostname_file, ro},
        {"/etc/resolv.conf", in->resolv_conf, ro},
        {"/etc/hosts", in->hosts_file, ro},
        {"/dev/shm", in->shm_path, "rw"},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (!f[i].src || cri_targets(in, f[i].dest))
            continue;
        int r = mnts_add(m, f[i].dest, bind(f[i].dest, f[i].src, "rprivate", f[i].ro), reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

/* One CRI mount; *prop_level: 1 when a mount needs rslave rootfs propagation, 2 for rshared. */
static int add_cri_mount(const Runtime__V1__Mount *mt, const char *source, struct mnts *m, int *prop_level,
                         struct cleat_error **reterr) {
    const char *dest = mt->container_path, *src = mt->host_path;
    int image = mt->image && mt->image->image && *mt->image->image;
    if (!dest || dest[0] != '/')
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "mount container path \"%s\" is not absolute",
                         dest ? dest : "");
    /* An image volume is bind-mounted from the view the caller made of the image (spec_input.mount_sources). */
    if (image && !source)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "mount at %s: image volume %s has no view to mount (mount_sources)", dest, mt->image->image);
    if (!image && (!src || src[0] != '/'))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "mount at %s: host path \"%s\" is not absolute",
                         dest, src ? src : "");
    const char *prop = "rprivate";
    if (mt->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER) {
        prop = "rslave";
        *prop_level = *prop_level > 1 ? *prop_level : 1;
    } else if (mt->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL) {
        prop = "rshared";
        *prop_level = 2;
    }
    /* Recursive read-only ("rro", runc >= 1.1 on Linux >= 5.12) makes every submount read-only too. */
    if (mt->recursive_read_only &&
        (!mt->readonly || mt->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "mount at %s: recursive read-only needs readonly and private propagation", dest);
    /* selinux_relabel: refused where SELinux runs, a no-op elsewhere (spec_check_container). */
    /* An image volume is read-only whatever the mount says: its view cannot be written anyway. */
    const char *ro = mt->recursive_read_only ? "rro" : mt->readonly || image ? "ro" : "rw";
    return mnts_add(m, dest, bind(dest, source ? source : src, prop, ro), reterr);
}

static size_t depth(const char *p) {
    size_t n = 0;
    for (; *p; p++)
        n += p[0] == '/' && p[1] && p[1] != '/';
    return n;
}

/* Parents before children (stable), so that a mount at /a/b is not hidden by a later one at /a. */
static void mnts_sort(struct mnts *m) {
    for (size_t i = 1; i < m->n; i++) {
        struct mnt x = m->v[i];
        size_t j = i, d = depth(x.dest);
        for (; j > 0 && depth(m->v[j - 1].dest) > d; j--)
            m->v[j] = m->v[j - 1];
        m->v[j] = x;
    }
}

void spec_sort_mounts(json_t *mounts) {
    for (size_t i = 1; i < json_array_size(mounts); i++) {
        json_t *x = json_incref(json_array_get(mounts, i));
        const char *dest = json_string_value(json_object_get(x, "destination"));
        size_t d = depth(dest ? dest : ""), j = i;
        for (; j > 0; j--) {
            const char *prev = json_string_value(json_object_get(json_array_get(mounts, j - 1), "destination"));
            if (depth(prev ? prev : "") <= d)
                break;
        }
        if (j < i) {
            json_array_remove(mounts, i);
            json_array_insert(mounts, j, x);
        }
        json_decref(x);
    }
}

int spec_add_mounts(const struct spec_input *in, json_t *root, struct cleat_error **reterr) {
    struct mnts m = {0};
    int prop_level = 0;
    int r = add_defaults(in, &m, reterr);
    if (r >= 0)
        r = add_pod_files(in, &m, reterr);
    for (size_t i = 0; r >= 0 && i < in->container->n_mounts; i++)
        r = add_cri_mount(in->container->mounts[i], in->mount_sources ? in->mount_sources[i] : NULL, &m, &prop_level,
                          reterr);
    json_t *arr = r >= 0 ? json_array() : NULL;
    if (r >= 0 && (!arr || json_object_set_new(root, "mounts", arr) < 0))
        r = spec_oom(reterr);
    mnts_sort(&m);
    for (size_t i = 0; r >= 0 && i < m.n; i++) {
        if (json_array_append(arr, m.v[i].obj) < 0)
            r = spec_oom(reterr);
    }
    mnts_free(&m);
    if (r < 0 || !prop_level)
        return r;
    /*
     * A slave or shared bind mount needs a rootfs that receives propagation.  The runtime spec allows
     * only "shared", "slave", "private" and "unbindable" here (runc also takes the "r" forms, and
     * containerd writes those: a config.json its schema refuses).
     */
    json_t *lx = json_object_get(root, "linux"); /* spec_add_linux ran first */
    if (!lx)
        return spec_oom(reterr);
    SPEC_SET(lx, "rootfsPropagation", json_string(prop_level == 2 ? "shared" : "slave"), reterr);
    return 0;
}
