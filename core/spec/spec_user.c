/* SPDX-License-Identifier: Apache-2.0 */
/*
 * process.user: run_as_username / run_as_user / image USER resolved against
 * the image's own /etc/passwd and /etc/group.  Those files are opened with
 * fsutil_open_regular_in_root(): an image's absolute or ".." symlinks resolve
 * inside the rootfs, never to the host's files, and a device or FIFO there is
 * refused before it is opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "image_manifest.h"
#include "spec_internal.h"

#define DB_MAX_BYTES ((off_t)4 << 20)

struct db_ent {
    char *name;
    uint32_t id, gid; /* passwd: uid, gid; group: gid */
    char *members;    /* group: "a,b,c" */
};

struct db {
    char *buf;
    struct db_ent *ents;
    size_t n;
};

static void db_free(struct db *d) {
    free(d->buf);
    free(d->ents);
    memset(d, 0, sizeof(*d));
}

/* A decimal id in [0, UINT32_MAX - 1] (-1 is "no id" to the kernel). */
static int parse_id(const char *s, uint32_t *ret) {
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v >= UINT32_MAX)
        return -1;
    *ret = (uint32_t)v;
    return 0;
}

/*
 * Read rootfs/<rel> confined to the rootfs.  A file that is absent, or cannot
 * be reached inside it, is empty; anything but a regular file is refused
 * before it is opened (fsutil_open_regular_in_root).
 */
static int read_in_root(const char *rootfs, const char *rel, char **ret, struct cleat_error **reterr) {
    *ret = NULL;
    int dfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "rootfs %s: %s", rootfs, strerror(errno));
    struct stat st;
    int fd = fsutil_open_regular_in_root(dfd, rel, &st);
    close(dfd);
    /* ELOOP: a symlink loop such as etc/passwd -> /etc/passwd; EXDEV: a mount point crossed. */
    if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV)
        return 0;
    if (fd == -EINVAL)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "image /%s is %s, not a regular file: refused without opening it", rel,
                         fsutil_type_name(st.st_mode));
    if (fd < 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, -fd, "image /%s: %s", rel, strerror(-fd));
    if (st.st_size > DB_MAX_BYTES) {
        close(fd);
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EFBIG, "image /%s is larger than 4 MiB", rel);
    }
    char *buf = read_fd_sized(fd, (size_t)st.st_size, NULL);
    close(fd);
    if (!buf)
        return spec_oom(reterr);
    *ret = buf;
    return 0;
}

/* Parse passwd ("name:pw:uid:gid:...") or group ("name:pw:gid:members") lines; malformed lines are skipped. */
static int db_load(const char *rootfs, const char *rel, int is_group, struct db *ret, struct cleat_error **reterr) {
    memset(ret, 0, sizeof(*ret));
    int r = read_in_root(rootfs, rel, &ret->buf, reterr);
    if (r < 0 || !ret->buf)
        return r;
    size_t cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(ret->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = {0};
        char *p = line;
        for (int i = 0; i < 4 && p; i++)
            f[i] = strsep(&p, ":");
        struct db_ent e = {.name = f[0]};
        if (!f[2] || !*f[0] || parse_id(f[2], &e.id) < 0)
            continue;
        if (is_group)
            e.members = f[3] ? f[3] : (char *)"";
        else if (!f[3] || parse_id(strsep(&f[3], ":"), &e.gid) < 0)
            continue;
        if (ret->n == cap) {
            cap = cap ? cap * 2 : 32;
            struct db_ent *n = realloc(ret->ents, cap * sizeof(*n));
            if (!n) {
                db_free(ret);
                return spec_oom(reterr);
            }
            ret->ents = n;
        }
        ret->ents[ret->n++] = e;
    }
    return 0;
}

static const struct db_ent *db_by_name(const struct db *d, const char *name) {
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->ents[i].name, name) == 0)
            return &d->ents[i];
    return NULL;
}

static const struct db_ent *db_by_id(const struct db *d, uint32_t id) {
    for (size_t i = 0; i < d->n; i++)
        if (d->ents[i].id == id)
            return &d->ents[i];
    return NULL;
}

static int member_of(const char *members, const char *name) {
    size_t len = strlen(name);
    for (const char *p = members; *p;) {
        const char *end = strchrnul(p, ',');
        if ((size_t)(end - p) == len && strncmp(p, name, len) == 0)
            return 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int gids_add(struct spec_user *u, uint32_t gid, struct cleat_error **reterr) {
    for (size_t i = 0; i < u->n_gids; i++)
        if (u->gids[i] == gid)
            return 0;
    uint32_t *n = realloc(u->gids, (u->n_gids + 1) * sizeof(*n));
    if (!n)
        return spec_oom(reterr);
    u->gids = n;
    u->gids[u->n_gids++] = gid;
    return 0;
}

/* "name" or "uid" → uid, primary gid (0 if not in passwd) and the name (NULL if unknown). */
static int resolve_user(const struct db *pw, const char *user, struct spec_user *u, const char **ret_name,
                        struct cleat_error **reterr) {
    const struct db_ent *e;
    if (parse_id(user, &u->uid) == 0) {
        e = db_by_id(pw, u->uid);
    } else {
        e = db_by_name(pw, user);
        if (!e)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, ENOENT,
                             "user \"%s\" not found in the image's /etc/passwd", user);
        u->uid = e->id;
    }
    u->gid = e ? e->gid : 0;
    *ret_name = e ? e->name : NULL;
    return 0;
}

static int resolve_group(const struct db *gr, const char *group, uint32_t *ret, struct cleat_error **reterr) {
    if (parse_id(group, ret) == 0)
        return 0;
    const struct db_ent *e = db_by_name(gr, group);
    if (!e)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, ENOENT,
                         "group \"%s\" not found in the image's /etc/group", group);
    *ret = e->id;
    return 0;
}

static int check_id(const Runtime__V1__Int64Value *v, const char *what, struct cleat_error **reterr) {
    if (v && (v->value < 0 || v->value >= (int64_t)UINT32_MAX))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s %lld is out of range", what,
                         (long long)v->value);
    return 0;
}

/* uid, gid and name from the security context or the image's USER. */
static int resolve_ids(const struct spec_input *in, const struct db *pw, const struct db *gr, struct spec_user *u,
                       const char **name, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    if (sc && sc->run_as_username && *sc->run_as_username)
        return resolve_user(pw, sc->run_as_username, u, name, reterr);
    if (sc && sc->run_as_user) {
        char buf[24];
        snprintf(buf, sizeof(buf), "%lld", (long long)sc->run_as_user->value);
        return resolve_user(pw, buf, u, name, reterr);
    }
    const char *image_user = in->image && in->image->user ? in->image->user : "";
    char *user = strdup(image_user);
    if (!user)
        return spec_oom(reterr);
    char *group = strchr(user, ':');
    if (group)
        *group++ = '\0';
    int r = resolve_user(pw, *user ? user : "0", u, name, reterr);
    if (r >= 0 && group && *group)
        r = resolve_group(gr, group, &u->gid, reterr);
    free(user);
    return r;
}

int spec_user_resolve(const struct spec_input *in, struct spec_user *ret, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    struct spec_user u = {0};
    struct db pw, gr = {0};
    const char *name = NULL;
    int r = check_id(sc ? sc->run_as_user : NULL, "run_as_user", reterr);
    if (r >= 0)
        r = check_id(sc ? sc->run_as_group : NULL, "run_as_group", reterr);
    /* A group alone would run as the image's user with another group: kubelet never asks that, so it is a mistake. */
    if (r >= 0 && sc && sc->run_as_group && !sc->run_as_user && !(sc->run_as_username && *sc->run_as_username))
        r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                      "run_as_group is set without run_as_user or run_as_username");
    if (r < 0)
        return r;
    r = db_load(in->rootfs, "etc/passwd", 0, &pw, reterr);
    if (r < 0)
        return r;
    r = db_load(in->rootfs, "etc/group", 1, &gr, reterr);
    if (r >= 0)
        r = resolve_ids(in, &pw, &gr, &u, &name, reterr);
    if (r >= 0 && sc && sc->run_as_group)
        u.gid = (uint32_t)sc->run_as_group->value;
    if (r >= 0)
        r = gids_add(&u, u.gid, reterr);
    int merge = !sc || sc->supplemental_groups_policy != RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    for (size_t i = 0; r >= 0 && merge && name && i < gr.n; i++)
        if (member_of(gr.ents[i].members, name))
            r = gids_add(&u, gr.ents[i].id, reterr);
    for (size_t i = 0; r >= 0 && sc && i < sc->n_supplemental_groups; i++) {
        int64_t g = sc->supplemental_groups[i];
        if (g < 0 || g >= (int64_t)UINT32_MAX)
            r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "supplemental group %lld is out of range",
                          (long long)g);
        else
            r = gids_add(&u, (uint32_t)g, reterr);
    }
    db_free(&pw);
    db_free(&gr);
    if (r < 0) {
        free(u.gids);
        return r;
    }
    *ret = u;
    return 0;
}
