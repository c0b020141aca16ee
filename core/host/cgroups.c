/* SPDX-License-Identifier: Apache-2.0 */
/* The host's cgroup layout and cgroup path conversions (see cgroups.h). */
#include "cleanup.h"
#include "cgroups.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 64

static int oom(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory");
}

/* *ret = a copy of s; *ret untouched on failure. */
static int dup_to(char **ret, const char *s, struct cleat_error **reterr) {
    char *c = strdup(s);
    if (!c)
        return oom(reterr);
    *ret = c;
    return 0;
}

/* --- mountinfo ------------------------------------------------------------------ */

/* Undo mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) in place. */
static void unescape(char *s) {
    char *out = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else
            *out++ = *s;
    }
    *out = '\0';
}

/* Super options of a v1 mount that are not controllers. */
static int is_plain_option(const char *opt) {
    static const char *const plain[] = {
        "rw", "ro", "none", "noprefix", "clone_children", "xattr", "cpuset_v2_mode", "favordynmods"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        if (strcmp(opt, plain[i]) == 0)
            return 1;
    return strncmp(opt, "release_agent=", 14) == 0;
}

/* "rw,cpu,cpuacct" → "cpu,cpuacct"; NULL when there is none. */
static char *v1_controllers(const char *superopts) {
    _cleanup_free_ char *copy = strdup(superopts);
    char *out = calloc(1, strlen(superopts) + 1), *save = NULL;
    if (!copy || !out) {
        free(out);
        return NULL;
    }
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
        if (!is_plain_option(o)) {
            if (*out)
                strcat(out, ",");
            strcat(out, o);
        }
    if (!*out) {
        free(out);
        return NULL;
    }
    return out;
}

static int has_controller(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',')) {
        if (*p == ',')
            p++;
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
    }
    return 0;
}

const struct cgroup_v1_mount *cgroup_layout_get0_v1(const struct cgroup_layout *l, const char *controller) {
    if (!l || !controller || strchr(controller, ','))
        return NULL;
    for (size_t i = 0; i < l->n_v1; i++)
        if (has_controller(l->v1[i].controllers, controller))
            return &l->v1[i];
    return NULL;
}

static int add_v1(struct cgroup_layout *l, char *controllers, const char *point, const char *root) {
    for (size_t i = 0; i < l->n_v1; i++)
        if (strcmp(l->v1[i].controllers, controllers) == 0) { /* another mount of a known hierarchy */
            free(controllers);
            return 0;
        }
    struct cgroup_v1_mount *v = realloc(l->v1, (l->n_v1 + 1) * sizeof(*v));
    if (!v) {
        free(controllers);
        return -ENOMEM;
    }
    l->v1 = v;
    v = &l->v1[l->n_v1];
    *v = (struct cgroup_v1_mount){.controllers = controllers, .mount_point = strdup(point), .root = strdup(root)};
    l->n_v1++;
    return v->mount_point && v->root ? 0 : -ENOMEM;
}

/* One mountinfo line (modified in place); 0 also for lines that are not cgroup mounts. */
static int parse_line(struct cgroup_layout *l, char *line, struct cleat_error **reterr) {
    char *f[MAX_FIELDS], *save = NULL;
    size_t n = 0, dash = 0;
    for (char *t = strtok_r(line, " ", &save); t && n < MAX_FIELDS; t = strtok_r(NULL, " ", &save)) {
        if (!dash && n >= 6 && strcmp(t, "-") == 0)
            dash = n;
        f[n++] = t;
    }
    if (!dash || dash + 3 > n)
        return 0; /* not a line we can read; it cannot be ours to judge either */
    const char *fstype = f[dash + 1];
    int v2 = strcmp(fstype, "cgroup2") == 0;
    if (!v2 && strcmp(fstype, "cgroup") != 0)
        return 0;
    unescape(f[3]);
    unescape(f[4]);
    if (v2) {
        if (l->v2_mount)
            return 0;
        l->v2_mount = strdup(f[4]);
        l->v2_root = strdup(f[3]);
        return l->v2_mount && l->v2_root ? 0 : oom(reterr);
    }
    char *controllers = v1_controllers(f[dash + 3]);
    if (!controllers)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "cgroup v1 mount '%s': no controller in its options '%s'", f[4], f[dash + 3]);
    if (add_v1(l, controllers, f[4], f[3]) < 0)
        return oom(reterr);
    return 0;
}

int cgroup_layout_parse(const char *mountinfo, struct cgroup_layout **ret, struct cleat_error **reterr) {
    struct cgroup_layout *l = calloc(1, sizeof(*l));
    if (!l)
        return oom(reterr);
    for (const char *p = mountinfo; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        _cleanup_free_ char *line = strndup(p, len);
        int r = line ? parse_line(l, line, reterr) : oom(reterr);
        if (r < 0) {
            cgroup_layout_free(l);
            return error_prefix(r, reterr, "cgroup layout");
        }
        p = end ? end + 1 : p + len;
    }
    if (l->n_v1 == 0 && !l->v2_mount) {
        cgroup_layout_free(l);
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                         "cgroup layout: no cgroup file system is mounted");
    }
    l->mode = l->n_v1 == 0 ? CGROUP_MODE_V2 : l->v2_mount ? CGROUP_MODE_HYBRID : CGROUP_MODE_V1;
    *ret = l;
    return 0;
}

int cgroup_layout_read(struct cgroup_layout **ret, struct cleat_error **reterr) {
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    if (!fp)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cgroup layout: /proc/self/mountinfo: %s",
                         strerror(errno));
    _cleanup_free_ char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    char buf[8192];
    size_t n;
    int ok = mem != NULL;
    while (ok && (n = fread(buf, 1, sizeof(buf), fp)) > 0)
        ok = fwrite(buf, 1, n, mem) == n;
    ok = ok && !ferror(fp);
    fclose(fp);
    if (mem && fclose(mem) != 0)
        ok = 0;
    if (!ok)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EIO, "cgroup layout: cannot read /proc/self/mountinfo");
    return cgroup_layout_parse(text, ret, reterr);
}

struct cgroup_layout *cgroup_layout_free(struct cgroup_layout *l) {
    if (!l)
        return NULL;
    for (size_t i = 0; i < l->n_v1; i++) {
        free(l->v1[i].controllers);
        free(l->v1[i].mount_point);
        free(l->v1[i].root);
    }
    free(l->v1);
    free(l->v2_mount);
    free(l->v2_root);
    free(l);
    return NULL;
}

const char *cgroup_mode_name(int mode) {
    switch (mode) {
    case CGROUP_MODE_V1:
        return "v1";
    case CGROUP_MODE_HYBRID:
        return "hybrid";
    case CGROUP_MODE_V2:
        return "v2";
    default:
        return "unknown";
    }
}

/* --- paths ------------------------------------------------------------------------ */

/* An absolute, '..'-free cgroup path. */
static int check_abs_path(const char *what, const char *path, struct cleat_error **reterr) {
    if (path[0] != '/')
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s '%s': not an absolute path", what, path);
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s '%s': '..' is not allowed", what, path);
    return 0;
}

int cgroup_layout_dir(const struct cgroup_layout *l, const char *controller, const char *path, char **ret,
                      struct cleat_error **reterr) {
    const char *mnt, *root;
    int r = check_abs_path("cgroup", path, reterr);
    if (r < 0)
        return r;
    if (!controller || l->mode == CGROUP_MODE_V2) {
        mnt = l->v2_mount;
        root = l->v2_root;
    } else {
        const struct cgroup_v1_mount *v = cgroup_layout_get0_v1(l, controller);
        mnt = v ? v->mount_point : NULL;
        root = v ? v->root : NULL;
    }
    if (!mnt)
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "cgroup '%s': no %s%s hierarchy is mounted", path,
                         controller ? controller : "cgroup2", controller ? " cgroup" : "");
    size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
    if (rl && (strncmp(path, root, rl) != 0 || (path[rl] != '/' && path[rl] != '\0')))
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "cgroup '%s': outside '%s' mounted at '%s'", path,
                         root, mnt);
    const char *rest = path + rl;
    char *out = NULL;
    if (asprintf(&out, "%s%s", mnt, strcmp(rest, "/") == 0 ? "" : rest) < 0)
        return oom(reterr);
    *ret = out;
    return 0;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The last component of a slice-style parent ("/a.slice/a-b.slice" → "a-b.slice"), or NULL. */
static const char *slice_base(const char *parent) {
    const char *base = strrchr(parent, '/');
    base = base ? base + 1 : parent;
    return has_suffix(base, ".slice") ? base : NULL;
}

static int valid_slice(const char *s) {
    if (strcmp(s, "-.slice") == 0)
        return 1;
    size_t n = strlen(s) - strlen(".slice");
    if (!has_suffix(s, ".slice") || n == 0 || strchr(s, '/') || s[0] == '-' || s[n - 1] == '-')
        return 0;
    return strstr(s, "--") == NULL || strstr(s, "--") >= s + n;
}

int cgroup_expand_slice(const char *slice, char **ret, struct cleat_error **reterr) {
    if (!valid_slice(slice))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "systemd slice '%s': malformed name", slice);
    if (strcmp(slice, "-.slice") == 0)
        return dup_to(ret, "/", reterr);
    size_t n = strlen(slice) - strlen(".slice");
    /* Each '-' starts a new level: a-b-c.slice → /a.slice/a-b.slice/a-b-c.slice. */
    char *out = malloc((n + 8) * (n + 1) + 1);
    if (!out)
        return oom(reterr);
    char *w = out;
    for (size_t i = 0; i <= n; i++)
        if (i == n || slice[i] == '-')
            w += sprintf(w, "/%.*s.slice", (int)i, slice);
    *ret = out;
    return 0;
}

int cgroup_parent_to_slice(const char *parent, char **ret, struct cleat_error **reterr) {
    const char *base;
    if (!*parent)
        parent = "/";
    int r = check_abs_path("cgroup parent", parent, reterr);
    if (r < 0)
        return r;
    if ((base = slice_base(parent))) {
        if (!valid_slice(base))
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "cgroup parent '%s': malformed slice '%s'",
                             parent, base);
        return dup_to(ret, base, reterr);
    }
    /* kubelet's ToSystemd: components joined by '-', their own '-' escaped as '_'. */
    char *out = malloc(strlen(parent) + sizeof("-.slice")), *w = out;
    if (!out)
        return oom(reterr);
    for (const char *p = parent; *p; p++) {
        if (*p == '/') {
            if (w != out && p[1] && p[1] != '/')
                *w++ = '-';
        } else
            *w++ = *p == '-' ? '_' : *p;
    }
    strcpy(w, w == out ? "-.slice" : ".slice");
    *ret = out;
    return 0;
}

static int check_name(const char *what, const char *s, struct cleat_error **reterr) {
    if (!s || !*s || strchr(s, '/') || strchr(s, ':') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "cgroup %s '%s': empty or has '/' or ':'", what,
                         s ? s : "(null)");
    return 0;
}

int cgroup_path_systemd(const char *parent, const char *prefix, const char *id, char **ret,
                        struct cleat_error **reterr) {
    _cleanup_free_ char *slice = NULL;
    int r;
    if ((r = check_name("prefix", prefix, reterr)) < 0 || (r = check_name("id", id, reterr)) < 0 ||
        (r = cgroup_parent_to_slice(parent ? parent : "", &slice, reterr)) < 0)
        return r;
    char *out = NULL;
    if (asprintf(&out, "%s:%s:%s", slice, prefix, id) < 0)
        return oom(reterr);
    *ret = out;
    return 0;
}

int cgroup_path_cgroupfs(const char *parent, const char *id, char **ret, struct cleat_error **reterr) {
    _cleanup_free_ char *expanded = NULL;
    const char *base;
    int r = check_name("id", id, reterr);
    if (r < 0)
        return r;
    if (!parent || !*parent)
        parent = "/";
    if ((r = check_abs_path("cgroup parent", parent, reterr)) < 0)
        return r;
    if ((base = slice_base(parent))) { /* a systemd-style parent on a cgroupfs driver: the slices' real path */
        if ((r = cgroup_expand_slice(base, &expanded, reterr)) < 0)
            return error_prefix(r, reterr, "cgroup parent '%s'", parent);
        parent = expanded;
    }
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        n--;
    char *out = NULL;
    if (asprintf(&out, "%.*s/%s", (int)(n == 1 ? 0 : n), parent, id) < 0)
        return oom(reterr);
    *ret = out;
    return 0;
}

int cgroup_dir_of(const char *cgroups_path, char **ret, struct cleat_error **reterr) {
    if (cgroups_path[0] == '/') {
        int r = check_abs_path("cgroup", cgroups_path, reterr);
        return r < 0 ? r : dup_to(ret, cgroups_path, reterr);
    }
    _cleanup_free_ char *copy = strdup(cgroups_path), *expanded = NULL;
    if (!copy)
        return oom(reterr);
    char *prefix = strchr(copy, ':'), *name = prefix ? strchr(prefix + 1, ':') : NULL;
    if (!name)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "cgroups path '%s': neither absolute nor slice:prefix:name", cgroups_path);
    *prefix++ = '\0';
    *name++ = '\0';
    int r = cgroup_expand_slice(*copy ? copy : "system.slice", &expanded, reterr);
    if (r < 0 || (r = check_name("prefix", prefix, reterr)) < 0 || (r = check_name("name", name, reterr)) < 0)
        return error_prefix(r, reterr, "cgroups path '%s'", cgroups_path);
    char *out = NULL;
    if (asprintf(&out, "%s/%s-%s.scope", strcmp(expanded, "/") == 0 ? "" : expanded, prefix, name) < 0)
        return oom(reterr);
    *ret = out;
    return 0;
}
