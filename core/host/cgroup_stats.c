/* SPDX-License-Identifier: Apache-2.0 */
/* A cgroup's CPU, memory, process and pressure figures (see cgroup_stats.h). */
#include "cgroup_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A v1 "no limit" is PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages); anything this big is none. */
#define V1_NO_LIMIT (1ULL << 62)

/* --- parsers ------------------------------------------------------------------- */

int cgroup_parse_u64(const char *text, uint64_t *ret) {
    while (*text == ' ' || *text == '\t')
        text++;
    if (strncmp(text, "max", 3) == 0 && (text[3] == '\0' || text[3] == '\n')) {
        *ret = UINT64_MAX;
        return 0;
    }
    if (*text < '0' || *text > '9')
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || (*end != '\0' && *end != '\n' && *end != ' '))
        return -EINVAL;
    *ret = v;
    return 0;
}

int cgroup_parse_keyed(const char *text, const char *key, uint64_t *ret) {
    size_t n = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, n) == 0 && p[n] == ' ')
            return cgroup_parse_u64(p + n + 1, ret);
    return -ENOENT;
}

/* "avg10=0.29 avg60=0.46 avg300=3.00 total=2682977932" after the line's kind. */
static int parse_psi_line(const char *p, struct cgroup_psi_line *ret) {
    struct cgroup_psi_line l = {.present = 1};
    unsigned long long total = 0;
    if (sscanf(p, " avg10=%lf avg60=%lf avg300=%lf total=%llu", &l.avg10, &l.avg60, &l.avg300, &total) != 4)
        return -EINVAL;
    l.total = total;
    *ret = l;
    return 0;
}

int cgroup_parse_psi(const char *text, struct cgroup_psi *ret) {
    struct cgroup_psi psi = {0};
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "some ", 5) == 0 && parse_psi_line(p + 4, &psi.some) < 0)
            return -EINVAL;
        if (strncmp(p, "full ", 5) == 0 && parse_psi_line(p + 4, &psi.full) < 0)
            return -EINVAL;
    }
    if (!psi.some.present)
        return -EINVAL;
    *ret = psi;
    return 0;
}

/* --- files --------------------------------------------------------------------- */

/* dir/name into buf (NUL-terminated, cut at size-1); its length, or -errno. */
static ssize_t read_small(const char *dir, const char *name, char *buf, size_t size) {
    char path[4096];
    if (!dir || snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return -ENOENT;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    ssize_t n;
    while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return -e; /* e.g. EOPNOTSUPP: a pressure file of a kernel with PSI off */
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static int read_u64(const char *dir, const char *name, uint64_t *ret) {
    char buf[64];
    return read_small(dir, name, buf, sizeof(buf)) < 0 ? -ENOENT : cgroup_parse_u64(buf, ret);
}

/* The lines (pids) of dir/cgroup.procs, read in chunks: a busy cgroup's list can be long. */
static int count_procs(const char *dir, uint64_t *ret) {
    char path[4096], buf[4096];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint64_t lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    if (n < 0)
        return -EIO;
    *ret = lines;
    return 0;
}

static void read_psi(const char *dir, const char *name, uint32_t bit, struct cgroup_psi *psi, uint32_t *have) {
    char buf[512];
    if (!(*have & bit) && read_small(dir, name, buf, sizeof(buf)) > 0 && cgroup_parse_psi(buf, psi) == 0)
        *have |= bit;
}

/* usage, working set, rss and faults from a usage file and memory.stat (keys differ between v1 and v2). */
static void read_memory(const char *dir, int v2, struct cgroup_stats *s) {
    char stat[8192];
    uint64_t usage, inactive = 0, v;
    if (read_u64(dir, v2 ? "memory.current" : "memory.usage_in_bytes", &usage) < 0)
        return;
    ssize_t n = read_small(dir, "memory.stat", stat, sizeof(stat));
    if (n > 0) {
        cgroup_parse_keyed(stat, v2 ? "inactive_file" : "total_inactive_file", &inactive);
        int ok = cgroup_parse_keyed(stat, v2 ? "anon" : "total_rss", &s->memory_rss) == 0 &&
                 cgroup_parse_keyed(stat, v2 ? "pgfault" : "total_pgfault", &s->page_faults) == 0 &&
                 cgroup_parse_keyed(stat, v2 ? "pgmajfault" : "total_pgmajfault", &s->major_page_faults) == 0;
        if (ok)
            s->have |= CGS_MEMORY_STAT;
    }
    s->memory_usage = usage;
    s->memory_working_set = usage > inactive ? usage - inactive : 0;
    s->have |= CGS_MEMORY;
    if (read_u64(dir, v2 ? "memory.max" : "memory.limit_in_bytes", &v) == 0 && v < V1_NO_LIMIT) {
        s->memory_limit = v;
        s->have |= CGS_MEMORY_LIMIT;
    }
}

static void read_v1(const struct cgroup_dirs *d, struct cgroup_stats *s) {
    if (d->cpuacct && read_u64(d->cpuacct, "cpuacct.usage", &s->cpu_usage_ns) == 0)
        s->have |= CGS_CPU;
    if (d->memory)
        read_memory(d->memory, 0, s);
    if (d->pids && read_u64(d->pids, "pids.current", &s->pids) == 0)
        s->have |= CGS_PIDS;
}

static void read_v2(const char *dir, struct cgroup_stats *s) {
    char buf[1024];
    uint64_t usec;
    if (!(s->have & CGS_CPU) && read_small(dir, "cpu.stat", buf, sizeof(buf)) > 0 &&
        cgroup_parse_keyed(buf, "usage_usec", &usec) == 0) {
        s->cpu_usage_ns = usec * 1000;
        s->have |= CGS_CPU;
    }
    if (!(s->have & CGS_MEMORY))
        read_memory(dir, 1, s);
    if (!(s->have & CGS_PIDS) && (read_u64(dir, "pids.current", &s->pids) == 0 || count_procs(dir, &s->pids) == 0))
        s->have |= CGS_PIDS;
    read_psi(dir, "cpu.pressure", CGS_PSI_CPU, &s->psi_cpu, &s->have);
    read_psi(dir, "memory.pressure", CGS_PSI_MEMORY, &s->psi_memory, &s->have);
    read_psi(dir, "io.pressure", CGS_PSI_IO, &s->psi_io, &s->have);
}

static int is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cgroup_stats_read(const struct cgroup_dirs *d, struct cgroup_stats *ret, struct cleat_error **reterr) {
    struct cgroup_stats s = {0};
    int v1 = is_dir(d->cpuacct) || is_dir(d->memory) || is_dir(d->pids), v2 = is_dir(d->v2);
    if (!v1 && !v2)
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "cgroup %s does not exist",
                         d->v2        ? d->v2
                         : d->memory  ? d->memory
                         : d->cpuacct ? d->cpuacct
                                      : "(none)");
    if (v1)
        read_v1(d, &s);
    if (v2)
        read_v2(d->v2, &s);
    *ret = s;
    return 0;
}

/* --- locating ------------------------------------------------------------------ */

static int dir_for(const struct cgroup_layout *l, const char *controller, const char *path, char **ret,
                   struct cleat_error **reterr) {
    struct cleat_error *err = NULL;
    int r = cgroup_layout_dir(l, controller, path, ret, &err);
    if (r < 0 && error_status(err) == CLEAT_STATUS_NOT_FOUND) { /* no such hierarchy: nothing to read there */
        error_free(err);
        *ret = NULL;
        return 0;
    }
    if (r < 0)
        *reterr = err;
    return r;
}

int cgroup_dirs_of(const struct cgroup_layout *l, const char *path, struct cgroup_dirs *ret,
                   struct cleat_error **reterr) {
    struct cgroup_dirs d = {0};
    int r = 0;
    if (l->mode != CGROUP_MODE_V2 && ((r = dir_for(l, "cpuacct", path, &d.cpuacct, reterr)) < 0 ||
                                      (r = dir_for(l, "memory", path, &d.memory, reterr)) < 0 ||
                                      (r = dir_for(l, "pids", path, &d.pids, reterr)) < 0)) {
        cgroup_dirs_clear(&d);
        return r;
    }
    if (l->v2_mount && (r = dir_for(l, NULL, path, &d.v2, reterr)) < 0) {
        cgroup_dirs_clear(&d);
        return r;
    }
    *ret = d;
    return 0;
}

void cgroup_dirs_clear(struct cgroup_dirs *d) {
    free(d->cpuacct);
    free(d->memory);
    free(d->pids);
    free(d->v2);
    *d = (struct cgroup_dirs){0};
}
