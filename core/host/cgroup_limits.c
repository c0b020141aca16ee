/* SPDX-License-Identifier: Apache-2.0 */
/* A cgroup made, its limits written, and removed again (see cgroup_limits.h). */
#include "cgroup_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

/* --- locating ------------------------------------------------------------------ */

/* 1 when the cgroup2 mount offers `controller` (its root's cgroup.controllers lists it). */
static int v2_offers(const struct cgroup_layout *l, const char *controller) {
    char path[4096], buf[512];
    if (!l->v2_mount || snprintf(path, sizeof(path), "%s/cgroup.controllers", l->v2_mount) >= (int)sizeof(path))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    size_t len = strlen(controller);
    for (char *p = strstr(buf, controller); p; p = strstr(p + 1, controller))
        if ((p == buf || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || p[len] == '\0'))
            return 1;
    return 0;
}

/* The directory of `controller` for path: its v1 hierarchy, else cgroup2 if it offers it, else none (NULL). */
static int controller_dir(const struct cgroup_layout *l, const char *controller, const char *path, char **ret,
                          int *ret_v2, struct cleat_error **reterr) {
    *ret = NULL;
    *ret_v2 = 0;
    if (l->mode != CGROUP_MODE_V2 && cgroup_layout_get0_v1(l, controller))
        return cgroup_layout_dir(l, controller, path, ret, reterr);
    if (!v2_offers(l, controller))
        return 0;
    *ret_v2 = 1;
    return cgroup_layout_dir(l, NULL, path, ret, reterr);
}

int cgroup_limit_dirs_of(const struct cgroup_layout *l, const char *path, struct cgroup_limit_dirs *ret,
                         struct cleat_error **reterr) {
    struct cgroup_limit_dirs d = {0};
    int r = controller_dir(l, "cpu", path, &d.cpu, &d.cpu_v2, reterr);
    if (r >= 0)
        r = controller_dir(l, "memory", path, &d.memory, &d.memory_v2, reterr);
    if (r >= 0)
        r = controller_dir(l, "hugetlb", path, &d.hugetlb, &d.hugetlb_v2, reterr);
    if (r >= 0 && (d.cpu_v2 || d.memory_v2 || d.hugetlb_v2) && !(d.v2_mount = strdup(l->v2_mount)))
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (r < 0) {
        cgroup_limit_dirs_clear(&d);
        return r;
    }
    *ret = d;
    return 0;
}

void cgroup_limit_dirs_clear(struct cgroup_limit_dirs *d) {
    free(d->cpu);
    free(d->memory);
    free(d->hugetlb);
    free(d->v2_mount);
    *d = (struct cgroup_limit_dirs){0};
}

int cgroup_limit_dirs_exist(const struct cgroup_limit_dirs *d) {
    const char *dir = d->memory ? d->memory : d->cpu;
    struct stat st;
    return dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --- writing ------------------------------------------------------------------- */

static int write_value(const char *dir, const char *name, const char *value, struct cleat_error **reterr) {
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, ENAMETOOLONG, "%s/%s: path too long", dir, name);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : write(fd, value, strlen(value));
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (n == (ssize_t)strlen(value))
        return 0;
    int32_t status = e == EBUSY || e == EINVAL || e == ENOENT || e == ENOSPC ? CLEAT_STATUS_FAILED_PRECONDITION
                                                                             : CLEAT_STATUS_INTERNAL;
    return error_set(reterr, status, e, "cannot write %s to %s: %s", value, path, strerror(e));
}

/* Only in the v2 directories: "+cpu" in the subtree_control of each one above `dir` (from the mount down). */
static int enable_v2(const char *mount, const char *dir, const char *controller, struct cleat_error **reterr) {
    size_t root = strlen(mount);
    char parent[4096], word[32];
    if (strncmp(dir, mount, root) != 0 || strlen(dir) >= sizeof(parent))
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "%s is not below %s", dir, mount);
    snprintf(word, sizeof(word), "+%s", controller);
    for (const char *slash = dir + root; slash && *slash; slash = strchr(slash + 1, '/')) {
        snprintf(parent, sizeof(parent), "%.*s", (int)(slash - dir), dir);
        int r = write_value(parent, "cgroup.subtree_control", word, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

int cgroup_limit_dirs_make(const struct cgroup_limit_dirs *d, int with_hugetlb, struct cleat_error **reterr) {
    const struct {
        const char *dir, *controller;
        int v2;
    } c[] = {{d->cpu, "cpu", d->cpu_v2},
             {d->memory, "memory", d->memory_v2},
             {with_hugetlb ? d->hugetlb : NULL, "hugetlb", d->hugetlb_v2}};
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        if (!c[i].dir)
            continue;
        int r = c[i].v2 ? enable_v2(d->v2_mount, c[i].dir, c[i].controller, reterr) : 0;
        if (r >= 0)
            r = mkdir_p(c[i].dir, 0755, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

uint64_t cgroup_shares_to_weight(uint64_t shares) {
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

static int write_cpu_v1(const char *dir, const struct cgroup_limits *lim, struct cleat_error **reterr) {
    char quota[32], period[32];
    snprintf(quota, sizeof(quota), "%" PRId64, lim->cpu_quota_us < 0 ? (int64_t)-1 : lim->cpu_quota_us);
    snprintf(period, sizeof(period), "%" PRIu64, lim->cpu_period_us);
    if (!lim->cpu_period_us)
        return write_value(dir, "cpu.cfs_quota_us", quota, reterr);
    /* A new period with the old quota (or the other way round) may be refused: try both orders. */
    struct cleat_error *first = NULL;
    if (write_value(dir, "cpu.cfs_period_us", period, &first) >= 0 &&
        write_value(dir, "cpu.cfs_quota_us", quota, &first) >= 0)
        return 0;
    int r = write_value(dir, "cpu.cfs_quota_us", quota, reterr);
    if (r >= 0)
        r = write_value(dir, "cpu.cfs_period_us", period, reterr);
    if (r < 0) {
        error_free(*reterr);
        *reterr = first;
        return r;
    }
    error_free(first);
    return 0;
}

static int write_cpu(const struct cgroup_limit_dirs *d, const struct cgroup_limits *lim, struct cleat_error **reterr) {
    char v[64];
    int r = 0;
    if (lim->cpu_shares) {
        if (d->cpu_v2)
            snprintf(v, sizeof(v), "%" PRIu64, cgroup_shares_to_weight(lim->cpu_shares));
        else
            snprintf(v, sizeof(v), "%" PRIu64, lim->cpu_shares);
        r = write_value(d->cpu, d->cpu_v2 ? "cpu.weight" : "cpu.shares", v, reterr);
    }
    if (r < 0 || !d->cpu_v2)
        return r < 0 ? r : write_cpu_v1(d->cpu, lim, reterr);
    int n =
        lim->cpu_quota_us < 0 ? snprintf(v, sizeof(v), "max") : snprintf(v, sizeof(v), "%" PRId64, lim->cpu_quota_us);
    if (lim->cpu_period_us)
        snprintf(v + n, sizeof(v) - (size_t)n, " %" PRIu64, lim->cpu_period_us);
    return write_value(d->cpu, "cpu.max", v, reterr);
}

static int write_memory(const struct cgroup_limit_dirs *d, const struct cgroup_limits *lim,
                        struct cleat_error **reterr) {
    char v[32];
    if (lim->memory_bytes < 0)
        snprintf(v, sizeof(v), d->memory_v2 ? "max" : "-1");
    else
        snprintf(v, sizeof(v), "%" PRId64, lim->memory_bytes);
    return write_value(d->memory, d->memory_v2 ? "memory.max" : "memory.limit_in_bytes", v, reterr);
}

static int write_hugepages(const struct cgroup_limit_dirs *d, const struct cgroup_limits *lim,
                           struct cleat_error **reterr) {
    for (size_t i = 0; i < lim->n_hugepages; i++) {
        const struct cgroup_hugepage_limit *h = &lim->hugepages[i];
        char name[64], v[32];
        if (!h->page_size || !*h->page_size || strchr(h->page_size, '/') || strlen(h->page_size) > 16)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "bad hugepage size \"%s\"",
                             h->page_size ? h->page_size : "");
        snprintf(name, sizeof(name), "hugetlb.%s.%s", h->page_size, d->hugetlb_v2 ? "max" : "limit_in_bytes");
        snprintf(v, sizeof(v), "%" PRIu64, h->bytes);
        int r = write_value(d->hugetlb, name, v, reterr);
        if (r < 0 && error_errno(*reterr) == ENOENT)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, ENOENT,
                             "this host has no hugepages of size %s (no %s in %s)", h->page_size, name, d->hugetlb);
        if (r < 0)
            return r;
    }
    return 0;
}

int cgroup_limits_write(const struct cgroup_limit_dirs *d, const struct cgroup_limits *lim,
                        struct cleat_error **reterr) {
    if (!d->cpu || !d->memory)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "this host has no %s controller to apply limits with", !d->cpu ? "cpu" : "memory");
    if (lim->n_hugepages && !d->hugetlb)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "this host has no hugetlb controller to apply hugepage limits with");
    int r = write_cpu(d, lim, reterr);
    if (r >= 0)
        r = write_memory(d, lim, reterr);
    if (r >= 0)
        r = write_hugepages(d, lim, reterr);
    return r;
}

/* --- removing ------------------------------------------------------------------ */

static void remove_one(const struct cgroup_layout *l, const char *controller, const char *path, int *ret_errno,
                       char **ret_dir) {
    char *dir = NULL;
    if (cgroup_layout_dir(l, controller, path, &dir, NULL) < 0)
        return;
    if (rmdir(dir) < 0 && errno != ENOENT && !*ret_errno) {
        *ret_errno = errno;
        *ret_dir = dir;
        return;
    }
    free(dir);
}

int cgroup_remove(const struct cgroup_layout *l, const char *path, struct cleat_error **reterr) {
    int e = 0;
    char *busy = NULL;
    for (size_t i = 0; i < l->n_v1; i++) {
        /* Named by its first controller ("cpu,cpuacct" → "cpu"; "name=systemd" as it is). */
        char controller[64];
        snprintf(controller, sizeof(controller), "%s", l->v1[i].controllers);
        controller[strcspn(controller, ",")] = '\0';
        remove_one(l, controller, path, &e, &busy);
    }
    if (l->v2_mount)
        remove_one(l, NULL, path, &e, &busy);
    if (!e)
        return 0;
    int r = error_set(reterr, e == EBUSY ? CLEAT_STATUS_FAILED_PRECONDITION : CLEAT_STATUS_INTERNAL, e,
                      "cannot remove the cgroup %s: %s", busy, strerror(e));
    free(busy);
    return r;
}
