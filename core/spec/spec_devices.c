/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux.devices: the CRI devices (a device node or a directory of them) with
 * a cgroup rule allowing each, and for privileged containers every device of
 * the host's /dev, as containerd does (the cgroup already allows all there).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "error.h"
#include "spec_internal.h"

#define DEV_MAX_DEPTH 8

/* Not devices of the host worth passing through: the container gets its own. */
static int skipped_dir(const char *name) {
    static const char *const skip[] = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (strcmp(name, skip[i]) == 0)
            return 1;
    return 0;
}

/* Add the device node at host path `src` as `dest`; `access` non-NULL also adds an allow rule. */
static int add_node(json_t *devs, json_t *rules, const char *dest, const struct stat *st, const char *access,
                    struct cleat_error **reterr) {
    const char *type = S_ISCHR(st->st_mode) ? "c" : "b";
    json_int_t maj = (json_int_t)major(st->st_rdev), min = (json_int_t)minor(st->st_rdev);
    SPEC_APPEND(devs,
                json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "path", dest, "type", type, "major", maj, "minor", min,
                          "fileMode", (json_int_t)(st->st_mode & 07777), "uid", (json_int_t)st->st_uid, "gid",
                          (json_int_t)st->st_gid),
                reterr);
    if (access)
        SPEC_APPEND(
            rules,
            json_pack("{s:b,s:s,s:I,s:I,s:s}", "allow", 1, "type", type, "major", maj, "minor", min, "access", access),
            reterr);
    return 0;
}

/* Every device node below host directory `src`, mapped under `dest`. */
static int add_tree(json_t *devs, json_t *rules, const char *src, const char *dest, const char *access, int depth,
                    struct cleat_error **reterr) {
    DIR *d = opendir(src);
    if (!d)
        return errno == ENOENT || errno == EACCES
                   ? 0
                   : error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "%s: %s", src, strerror(errno));
    int r = 0;
    struct dirent *e;
    while (r >= 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        char s[4096], t[4096];
        struct stat st;
        if ((size_t)snprintf(s, sizeof(s), "%s/%s", src, e->d_name) >= sizeof(s) ||
            (size_t)snprintf(t, sizeof(t), "%s/%s", dest, e->d_name) >= sizeof(t) || lstat(s, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < DEV_MAX_DEPTH && !skipped_dir(e->d_name))
            r = add_tree(devs, rules, s, t, access, depth + 1, reterr);
        else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
            r = add_node(devs, rules, t, &st, access, reterr);
    }
    closedir(d);
    return r;
}

static int add_cri_device(const Runtime__V1__Device *dv, json_t *devs, json_t *rules, struct cleat_error **reterr) {
    const char *src = dv->host_path, *dest = dv->container_path && *dv->container_path ? dv->container_path : src;
    const char *access = dv->permissions && *dv->permissions ? dv->permissions : "rwm";
    if (!src || src[0] != '/' || !dest || dest[0] != '/')
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "device \"%s\": paths must be absolute",
                         src ? src : "");
    if (strspn(access, "rwm") != strlen(access))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "device %s: permissions \"%s\" are not a combination of r, w and m", src, access);
    struct stat st;
    if (stat(src, &st) < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, errno, "device %s: %s", src, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return add_tree(devs, rules, src, dest, access, 0, reterr);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "device %s is not a device node", src);
    return add_node(devs, rules, dest, &st, access, reterr);
}

int spec_add_devices(const struct spec_input *in, json_t *lx, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    json_t *rules = json_object_get(json_object_get(lx, "resources"), "devices"); /* spec_add_linux made it */
    json_t *devs = json_array();
    SPEC_SET(lx, "devices", devs, reterr);
    if (!rules)
        return spec_oom(reterr);
    int r = sc && sc->privileged ? add_tree(devs, rules, "/dev", "/dev", NULL, 0, reterr) : 0;
    for (size_t i = 0; r >= 0 && i < in->container->n_devices; i++)
        r = add_cri_device(in->container->devices[i], devs, rules, reterr);
    return r;
}
