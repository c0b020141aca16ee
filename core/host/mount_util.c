/* SPDX-License-Identifier: Apache-2.0 */
#include "mount_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The new mount API through syscall(2), so that any glibc will do (the
 * wrappers came with 2.36).  <linux/mount.h> is not included: with older
 * glibc it clashes with <sys/mount.h>; the values below are the kernel ABI.
 */
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x00000001
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#define MOUNT_ATTR_NOATIME 0x00000010
#define MOUNT_ATTR_STRICTATIME 0x00000020
#define MOUNT_ATTR_NODIRATIME 0x00000080
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define MU_FSCONFIG_SET_FLAG 0
#define MU_FSCONFIG_SET_STRING 1
#define MU_FSCONFIG_SET_FD 5
#define MU_FSCONFIG_CMD_CREATE 6
/* fsconfig copies a string value with strndup_user(value, 256). */
#define MU_FSCONFIG_MAX_VALUE 255

static int mu_fsopen(const char *fstype, unsigned int flags) {
#ifdef SYS_fsopen
    return (int)syscall(SYS_fsopen, fstype, flags);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static int mu_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux) {
#ifdef SYS_fsconfig
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static int mu_fsmount(int fd, unsigned int flags, unsigned int attrs) {
#ifdef SYS_fsmount
    return (int)syscall(SYS_fsmount, fd, flags, attrs);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static int mu_move_mount(int from_fd, const char *from, int to_fd, const char *to, unsigned int flags) {
#ifdef SYS_move_mount
    return (int)syscall(SYS_move_mount, from_fd, from, to_fd, to, flags);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static int mu_open_tree(int dfd, const char *path, unsigned int flags) {
#ifdef SYS_open_tree
    return (int)syscall(SYS_open_tree, dfd, path, flags);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* struct mount_attr of <linux/mount.h>, which is not included (see above). */
struct mu_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int mu_mount_setattr(int dfd, const char *path, unsigned int flags, struct mu_mount_attr *attr) {
#ifdef SYS_mount_setattr
    return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof(*attr));
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* --- options --------------------------------------------------------------- */

struct flag_opt {
    const char *name;
    unsigned long set, clear;  /* MS_* flags of the mount itself */
    unsigned long propagation; /* MS_PRIVATE etc., applied by a second mount(2) */
};

static const struct flag_opt flag_opts[] = {
    {"defaults", 0, 0, 0},
    {"ro", MS_RDONLY, 0, 0},
    {"rw", 0, MS_RDONLY, 0},
    {"nosuid", MS_NOSUID, 0, 0},
    {"suid", 0, MS_NOSUID, 0},
    {"nodev", MS_NODEV, 0, 0},
    {"dev", 0, MS_NODEV, 0},
    {"noexec", MS_NOEXEC, 0, 0},
    {"exec", 0, MS_NOEXEC, 0},
    {"sync", MS_SYNCHRONOUS, 0, 0},
    {"async", 0, MS_SYNCHRONOUS, 0},
    {"dirsync", MS_DIRSYNC, 0, 0},
    {"mand", MS_MANDLOCK, 0, 0},
    {"nomand", 0, MS_MANDLOCK, 0},
    {"noatime", MS_NOATIME, 0, 0},
    {"atime", 0, MS_NOATIME, 0},
    {"nodiratime", MS_NODIRATIME, 0, 0},
    {"diratime", 0, MS_NODIRATIME, 0},
    {"relatime", MS_RELATIME, 0, 0},
    {"norelatime", 0, MS_RELATIME, 0},
    {"strictatime", MS_STRICTATIME, 0, 0},
    {"nostrictatime", 0, MS_STRICTATIME, 0},
    {"lazytime", MS_LAZYTIME, 0, 0},
    {"nolazytime", 0, MS_LAZYTIME, 0},
    {"nosymfollow", MS_NOSYMFOLLOW, 0, 0},
    {"symfollow", 0, MS_NOSYMFOLLOW, 0},
    {"silent", MS_SILENT, 0, 0},
    {"loud", 0, MS_SILENT, 0},
    {"bind", MS_BIND, 0, 0},
    {"rbind", MS_BIND | MS_REC, 0, 0},
    {"private", 0, 0, MS_PRIVATE},
    {"rprivate", 0, 0, MS_PRIVATE | MS_REC},
    {"shared", 0, 0, MS_SHARED},
    {"rshared", 0, 0, MS_SHARED | MS_REC},
    {"slave", 0, 0, MS_SLAVE},
    {"rslave", 0, 0, MS_SLAVE | MS_REC},
    {"unbindable", 0, 0, MS_UNBINDABLE},
    {"runbindable", 0, 0, MS_UNBINDABLE | MS_REC},
};

/* Flags that a remounting bind can change on the bind's own mount. */
#define BIND_REMOUNT_FLAGS                                                                                             \
    (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME |        \
     MS_NOSYMFOLLOW)

/* One mount's options, taken apart; `data` borrows the mount's strings. */
struct mopts {
    const char *type;
    const char *target;
    unsigned long flags;
    unsigned long propagation;
    const char **data; /* NULL-terminated */
    size_t ndata;
    size_t datalen;                  /* of the ','-joined data, without its NUL */
    const struct mount_idmap *idmap; /* NULL: not idmapped */
    /* The idmapped copies of an overlay's layers: kept open until the overlay is made (closing one unmounts it). */
    int *layers;
    size_t nlayers;
};

static int32_t status_of(int e) {
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return CLEAT_STATUS_NOT_FOUND;
    case EPERM:
    case EACCES:
        return CLEAT_STATUS_PERMISSION_DENIED;
    case ENOMEM:
        return CLEAT_STATUS_RESOURCE_EXHAUSTED;
    case EINVAL:
    case E2BIG:
    case ENAMETOOLONG:
    case ELOOP:
        return CLEAT_STATUS_INVALID_ARGUMENT;
    case ENOSYS:
    case ENODEV:
    case EBUSY:
    case EROFS:
        return CLEAT_STATUS_FAILED_PRECONDITION;
    default:
        return CLEAT_STATUS_INTERNAL;
    }
}

static int out_of_memory(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

static const struct flag_opt *find_flag(const char *name) {
    for (size_t i = 0; i < sizeof(flag_opts) / sizeof(flag_opts[0]); i++)
        if (strcmp(flag_opts[i].name, name) == 0)
            return &flag_opts[i];
    return NULL;
}

static int parse_options(const struct cleat_mount *m, const char *target, struct mopts *mo,
                         struct cleat_error **reterr) {
    size_t n = 0;
    while (m->options && m->options[n])
        n++;
    *mo = (struct mopts){.type = m->type, .target = target};
    if (!(mo->data = calloc(n + 1, sizeof(char *))))
        return out_of_memory(reterr);
    for (size_t i = 0; i < n; i++) {
        const char *o = m->options[i];
        const struct flag_opt *f = find_flag(o);
        if (f) {
            mo->flags = (mo->flags | f->set) & ~f->clear;
            mo->propagation = f->propagation ? f->propagation : mo->propagation;
            continue;
        }
        if (o[0] == '\0' || o[0] == '=' || strchr(o, ',')) {
            free(mo->data);
            mo->data = NULL;
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "%s mount on %s: option '%s' is not one option (empty, no name, or holding a ',')",
                             m->type, target, o);
        }
        mo->datalen += strlen(o) + (mo->ndata ? 1 : 0);
        mo->data[mo->ndata++] = o;
    }
    return 0;
}

/* --- bind ------------------------------------------------------------------ */

/* The restrictions a bind inherits from its source; a remount without them would lift them. */
static unsigned long kept_flags(const char *target) {
    struct statvfs sv;
    unsigned long kept = 0;
    if (statvfs(target, &sv) < 0)
        return 0;
    kept |= (sv.f_flag & ST_NOSUID) ? MS_NOSUID : 0;
    kept |= (sv.f_flag & ST_NODEV) ? MS_NODEV : 0;
    kept |= (sv.f_flag & ST_NOEXEC) ? MS_NOEXEC : 0;
    return kept;
}

/* "ro,nosuid,..." for a remount's message. */
static void flag_names(unsigned long flags, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(flag_opts) / sizeof(flag_opts[0]) && len < size; i++) {
        unsigned long f = flag_opts[i].set;
        if (f && !(f & MS_BIND) && (flags & f) == f)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "," : "", flag_opts[i].name);
    }
}

/* A bind needs a source and takes no options but mount flags. */
static int check_bind(const struct cleat_mount *m, const struct mopts *mo, struct cleat_error **reterr) {
    if (!m->source)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "bind mount on %s: no source", mo->target);
    if (mo->ndata > 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "bind mount of %s on %s: option '%s' is not a mount flag, and a bind takes no others",
                         m->source, mo->target, mo->data[0]);
    return 0;
}

static int apply_bind(const struct cleat_mount *m, const struct mopts *mo, struct cleat_error **reterr) {
    int r = check_bind(m, mo, reterr);
    if (r < 0)
        return r;
    if (mount(m->source, mo->target, NULL, MS_BIND | (mo->flags & MS_REC), NULL) < 0) {
        int e = errno;
        return error_set(reterr, status_of(e), e, "bind mount of %s on %s: %s", m->source, mo->target, strerror(e));
    }
    unsigned long flags = mo->flags & BIND_REMOUNT_FLAGS;
    if (!flags)
        return 0;
    flags |= kept_flags(mo->target);
    if (mount(NULL, mo->target, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0) {
        int e = errno;
        (void)umount2(mo->target, MNT_DETACH);
        char names[128];
        flag_names(flags, names, sizeof(names));
        return error_set(reterr, status_of(e), e, "bind mount of %s on %s: remounting it %s: %s", m->source, mo->target,
                         names, strerror(e));
    }
    return 0;
}

/* --- mount(2) -------------------------------------------------------------- */

static char *join_data(const struct mopts *mo) {
    char *data = malloc(mo->datalen + 1);
    if (!data)
        return NULL;
    size_t len = 0;
    for (size_t i = 0; i < mo->ndata; i++) {
        if (i)
            data[len++] = ',';
        size_t n = strlen(mo->data[i]);
        memcpy(data + len, mo->data[i], n);
        len += n;
    }
    data[len] = '\0';
    return data;
}

static int apply_classic(const struct cleat_mount *m, const struct mopts *mo, struct cleat_error **reterr) {
    char *data = join_data(mo);
    if (!data)
        return out_of_memory(reterr);
    const char *source = m->source ? m->source : m->type;
    int r = 0;
    if (mount(source, mo->target, m->type, mo->flags, mo->ndata ? data : NULL) < 0) {
        int e = errno;
        r = error_set(reterr, status_of(e), e, "%s mount on %s (options '%s'): %s", m->type, mo->target, data,
                      strerror(e));
    }
    free(data);
    return r;
}

/* --- the new mount API ----------------------------------------------------- */

/* The kernel's last error message about fs context fd ("overlay: failed to resolve ..."), or "". */
static void fs_log(int fd, char *buf, size_t size) {
    char line[512];
    buf[0] = '\0';
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(fd, line, sizeof(line) - 1);
        if (n <= 2)
            break;
        line[n] = '\0';
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == 'e' || !buf[0])
            snprintf(buf, size, "%s", line + 2); /* past "e " */
    }
}

static int fs_fail(int fd, const struct mopts *mo, const char *what, const char *key, const char *value,
                   struct cleat_error **reterr) {
    int e = errno;
    char log[512];
    fs_log(fd, log, sizeof(log));
    /* Linux 6.5 to 6.7 have fsopen but not "lowerdir+": a missing kernel feature, not a bad option. */
    int old_kernel = e == EINVAL && key && key[0] && key[strlen(key) - 1] == '+' && strstr(log, "nknown parameter");
    return error_set(reterr, old_kernel ? CLEAT_STATUS_FAILED_PRECONDITION : status_of(e), e,
                     "%s mount on %s: %s%s%s%s%s%s: %s%s%s%s%s", mo->type, mo->target, what, key ? " \"" : "",
                     key ? key : "", value ? "=" : "", value ? value : "", key ? "\"" : "", strerror(e),
                     log[0] ? " (kernel: " : "", log, log[0] ? ")" : "",
                     old_kernel ? "; this kernel is older than Linux 6.8, which added it" : "");
}

/* fsconfig one option: a string when value is not NULL, else a flag. */
static int fs_set(int fd, const struct mopts *mo, const char *key, const char *value, struct cleat_error **reterr) {
    if (value && strlen(value) > MU_FSCONFIG_MAX_VALUE)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, E2BIG,
                         "%s mount on %s: option \"%s=%s\": the value takes %zu bytes, more than the %d that "
                         "fsconfig(2) takes",
                         mo->type, mo->target, key, value, strlen(value), MU_FSCONFIG_MAX_VALUE);
    int cmd = value ? MU_FSCONFIG_SET_STRING : MU_FSCONFIG_SET_FLAG;
    if (mu_fsconfig(fd, (unsigned int)cmd, key, value, 0) < 0)
        return fs_fail(fd, mo, "option", key, value, reterr);
    return 0;
}

static int fs_set_layer(int fd, struct mopts *mo, const char *key, const char *dir, struct cleat_error **reterr);

/*
 * lowerdir=a:b::c as lowerdir+ a, lowerdir+ b, datadir+ c (top-most first).
 * The classic option escapes ':' and '\' with '\'; the "+" forms take paths
 * as they are, so the escapes are undone here.
 */
static int fs_set_lowerdirs(int fd, struct mopts *mo, const char *value, struct cleat_error **reterr) {
    char *dir = malloc(strlen(value) + 1);
    if (!dir)
        return out_of_memory(reterr);
    const char *key = "lowerdir+", *s = value;
    int r = 0;
    for (;;) {
        size_t n = 0;
        for (; *s && *s != ':'; s++) {
            if (*s == '\\' && s[1])
                s++;
            dir[n++] = *s;
        }
        dir[n] = '\0';
        if (n == 0)
            r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                          "%s mount on %s: option lowerdir= names an empty layer", mo->type, mo->target);
        else if (mo->idmap)
            r = fs_set_layer(fd, mo, key, dir, reterr);
        else
            r = fs_set(fd, mo, key, dir, reterr);
        if (r < 0 || !*s++)
            break;
        if (*s == ':') { /* "::": data-only layers from here on */
            key = "datadir+";
            s++;
        }
    }
    free(dir);
    return r;
}

/* The superblock flags, which the new API takes as fsconfig flags rather than mount attributes. */
static int fs_set_sb_flags(int fd, const struct mopts *mo, struct cleat_error **reterr) {
    static const struct {
        unsigned long flag;
        const char *name;
    } sb[] = {{MS_RDONLY, "ro"},
              {MS_SYNCHRONOUS, "sync"},
              {MS_DIRSYNC, "dirsync"},
              {MS_LAZYTIME, "lazytime"},
              {MS_MANDLOCK, "mand"}};
    int r = 0;
    for (size_t i = 0; i < sizeof(sb) / sizeof(sb[0]) && r == 0; i++)
        if (mo->flags & sb[i].flag)
            r = fs_set(fd, mo, sb[i].name, NULL, reterr);
    return r;
}

static int give_upper_to_root(int fd, const struct mopts *mo, const char *dir, struct cleat_error **reterr);

/* source, superblock flags, then the data options in their order. */
static int fs_configure(int fd, const struct cleat_mount *m, struct mopts *mo, struct cleat_error **reterr) {
    int r = m->source ? fs_set(fd, mo, "source", m->source, reterr) : 0;
    if (r == 0)
        r = fs_set_sb_flags(fd, mo, reterr);
    for (size_t i = 0; i < mo->ndata && r == 0; i++) {
        const char *o = mo->data[i], *eq = strchr(o, '=');
        if (!eq) {
            r = fs_set(fd, mo, o, NULL, reterr);
            continue;
        }
        char *key = strndup(o, (size_t)(eq - o));
        if (!key)
            return out_of_memory(reterr);
        if (strcmp(key, "lowerdir") == 0)
            r = fs_set_lowerdirs(fd, mo, eq + 1, reterr);
        else if (strcmp(key, "upperdir") == 0 && mo->idmap)
            r = give_upper_to_root(fd, mo, eq + 1, reterr);
        else
            r = fs_set(fd, mo, key, eq + 1, reterr);
        free(key);
    }
    return r;
}

static unsigned int mount_attrs(unsigned long flags) {
    unsigned int a = 0;
    a |= (flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0;
    a |= (flags & MS_NOSUID) ? MOUNT_ATTR_NOSUID : 0;
    a |= (flags & MS_NODEV) ? MOUNT_ATTR_NODEV : 0;
    a |= (flags & MS_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0;
    a |= (flags & MS_NODIRATIME) ? MOUNT_ATTR_NODIRATIME : 0;
    a |= (flags & MS_NOSYMFOLLOW) ? MOUNT_ATTR_NOSYMFOLLOW : 0;
    /* One atime mode at most; relatime is the default (MOUNT_ATTR_RELATIME is 0). */
    if (flags & MS_NOATIME)
        a |= MOUNT_ATTR_NOATIME;
    else if (flags & MS_STRICTATIME)
        a |= MOUNT_ATTR_STRICTATIME;
    return a;
}

static int set_idmap(int fd, const struct mopts *mo, const char *what, unsigned int attrs, int recursive,
                     struct cleat_error **reterr);

/*
 * A new mount of m made with the new mount API, not attached anywhere: its
 * descriptor in *ret_fd (close it to free the mount).  On failure nothing is
 * left.
 */
static int fsapi_make(const struct cleat_mount *m, struct mopts *mo, int *ret_fd, struct cleat_error **reterr) {
    int fd = mu_fsopen(m->type, FSOPEN_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOSYS)
            return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, e,
                             "%s mount on %s: this kernel lacks the new mount API (fsopen), which idmapped and "
                             "detached mounts, and mounts whose options take more than a page (these take %zu "
                             "bytes), need",
                             m->type, mo->target, mo->datalen);
        return error_set(reterr, status_of(e), e, "%s mount on %s: fsopen: %s", m->type, mo->target, strerror(e));
    }
    int r = fs_configure(fd, m, mo, reterr);
    if (r == 0 && mu_fsconfig(fd, MU_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        r = fs_fail(fd, mo, "creating the filesystem", NULL, NULL, reterr);
    int mfd = -1;
    if (r == 0 && (mfd = mu_fsmount(fd, FSMOUNT_CLOEXEC, mount_attrs(mo->flags))) < 0)
        r = fs_fail(fd, mo, "fsmount", NULL, NULL, reterr);
    /* An overlay is not idmapped itself (the kernel refuses): its lower layers are (fs_set_layer). */
    if (r == 0 && mo->idmap && strcmp(m->type, "overlay") != 0)
        r = set_idmap(mfd, mo, "the new mount", 0, 0, reterr);
    close(fd);
    for (size_t i = 0; i < mo->nlayers; i++) /* the overlay holds private copies of them now */
        close(mo->layers[i]);
    free(mo->layers);
    mo->layers = NULL;
    mo->nlayers = 0;
    if (r < 0 && mfd >= 0)
        close(mfd);
    if (r == 0)
        *ret_fd = mfd;
    return r;
}

static int apply_fsapi(const struct cleat_mount *m, struct mopts *mo, struct cleat_error **reterr) {
    int mfd = -1;
    int r = fsapi_make(m, mo, &mfd, reterr);
    /* A mount not yet moved into place is detached: closing mfd frees it. */
    if (r == 0 && mu_move_mount(mfd, "", AT_FDCWD, mo->target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        int e = errno;
        r = error_set(reterr, status_of(e), e, "%s mount on %s: move_mount: %s", m->type, mo->target, strerror(e));
    }
    if (mfd >= 0)
        close(mfd);
    return r;
}

/* --- idmapped mounts ------------------------------------------------------- */

/*
 * Give the detached mount `fd` (with `recursive`, every mount below it too)
 * the idmap of mo->idmap, then `attrs` (MOUNT_ATTR_*) to the top mount only,
 * as a bind's ro applies to the bind itself.
 */
static int set_idmap(int fd, const struct mopts *mo, const char *what, unsigned int attrs, int recursive,
                     struct cleat_error **reterr) {
    struct mu_mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)mo->idmap->userns_fd};
    int r = mu_mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a);
    if (r == 0 && attrs) {
        struct mu_mount_attr b = {.attr_set = attrs};
        r = mu_mount_setattr(fd, "", AT_EMPTY_PATH, &b);
        if (r < 0)
            return error_set(reterr, status_of(errno), errno, "%s mount on %s: setting the flags of %s: %s", mo->type,
                             mo->target, what, strerror(errno));
    }
    if (r == 0)
        return 0;
    int e = errno;
    return error_set(reterr, e == EINVAL || e == ENOSYS ? CLEAT_STATUS_FAILED_PRECONDITION : status_of(e), e,
                     "%s mount on %s: %s cannot be idmapped: %s%s", mo->type, mo->target, what, strerror(e),
                     e == EINVAL   ? " (its file system, or one mounted below it, does not support idmapped mounts)"
                     : e == ENOSYS ? " (this kernel has no idmapped mounts)"
                                   : "");
}

/* A detached, idmapped copy of the mount (tree, with `recursive`) at `path`: its descriptor, or -1. */
static int idmapped_clone(const char *path, const struct mopts *mo, unsigned int attrs, int recursive,
                          struct cleat_error **reterr) {
    int fd = mu_open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | O_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (fd < 0) {
        int e = errno;
        return error_set(reterr, status_of(e), e, "%s mount on %s: cannot open %s: %s", mo->type, mo->target, path,
                         strerror(e));
    }
    if (set_idmap(fd, mo, path, attrs, recursive, reterr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One overlay layer as an idmapped copy of its directory, handed over by descriptor (Linux 6.13). */
static int fs_set_layer(int fd, struct mopts *mo, const char *key, const char *dir, struct cleat_error **reterr) {
    int *layers = realloc(mo->layers, (mo->nlayers + 1) * sizeof(int));
    if (!layers)
        return out_of_memory(reterr);
    mo->layers = layers;
    int layer = idmapped_clone(dir, mo, 0, 0, reterr);
    if (layer < 0)
        return -1;
    mo->layers[mo->nlayers++] = layer;
    return mu_fsconfig(fd, MU_FSCONFIG_SET_FD, key, NULL, layer) < 0 ? fs_fail(fd, mo, "layer", key, dir, reterr) : 0;
}

/*
 * The upper layer is not idmapped: what the pod writes lands with its host
 * ids, as without idmapping.  Its top directory is the root directory the
 * pod sees, so it goes to the pod's root (one chown, nothing below it).
 */
static int give_upper_to_root(int fd, const struct mopts *mo, const char *dir, struct cleat_error **reterr) {
    if (lchown(dir, mo->idmap->root_uid, mo->idmap->root_gid) < 0)
        return error_set(reterr, status_of(errno), errno, "%s mount on %s: giving the upper dir %s to %u:%u: %s",
                         mo->type, mo->target, dir, mo->idmap->root_uid, mo->idmap->root_gid, strerror(errno));
    return fs_set(fd, mo, "upperdir", dir, reterr);
}

static int apply_bind_idmapped(const struct cleat_mount *m, const struct mopts *mo, struct cleat_error **reterr) {
    int r = check_bind(m, mo, reterr);
    if (r < 0)
        return r;
    /* The copy keeps the source's nosuid, nodev and noexec; only what was asked is added. */
    int fd =
        idmapped_clone(m->source, mo, mount_attrs(mo->flags & BIND_REMOUNT_FLAGS), (mo->flags & MS_REC) != 0, reterr);
    if (fd < 0)
        return -1;
    if (mu_move_mount(fd, "", AT_FDCWD, mo->target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        int e = errno;
        r = error_set(reterr, status_of(e), e, "bind mount of %s on %s: move_mount: %s", m->source, mo->target,
                      strerror(e));
    }
    close(fd);
    return r;
}

/* --- the API --------------------------------------------------------------- */

static int apply_fs(const struct cleat_mount *m, struct mopts *mo, struct cleat_error **reterr) {
    if (mo->idmap) /* only the new API can idmap */
        return apply_fsapi(m, mo, reterr);
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        page = 4096;
    if (mo->datalen < (size_t)page) /* mount(2) copies one page, NUL included */
        return apply_classic(m, mo, reterr);
    if (strcmp(m->type, "overlay") == 0)
        return apply_fsapi(m, mo, reterr);
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, E2BIG,
                     "%s mount on %s: its options take %zu bytes, more than the one page (%ld bytes) mount(2) takes",
                     m->type, mo->target, mo->datalen, page);
}

static int apply(const struct cleat_mount *m, const char *target, const struct mount_idmap *idmap,
                 struct cleat_error **reterr) {
    if (!m || !m->type || !m->type[0])
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "mount on %s: no filesystem type",
                         target ? target : "(null)");
    if (!target || target[0] != '/')
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s mount on '%s': the target is not absolute",
                         m->type, target ? target : "(null)");
    struct mopts mo;
    int r = parse_options(m, target, &mo, reterr);
    if (r < 0)
        return r;
    mo.idmap = idmap;
    if ((strcmp(m->type, "bind") == 0 || (mo.flags & MS_BIND)) && idmap)
        r = apply_bind_idmapped(m, &mo, reterr);
    else if (strcmp(m->type, "bind") == 0 || (mo.flags & MS_BIND))
        r = apply_bind(m, &mo, reterr);
    else
        r = apply_fs(m, &mo, reterr);
    if (r == 0 && mo.propagation && mount(NULL, target, NULL, mo.propagation, NULL) < 0) {
        int e = errno;
        (void)umount2(target, MNT_DETACH);
        r = error_set(reterr, status_of(e), e, "%s mount on %s: changing its propagation: %s", m->type, target,
                      strerror(e));
    }
    free(mo.data);
    return r;
}

int mount_apply(const struct cleat_mount *m, const char *target, struct cleat_error **reterr) {
    return apply(m, target, NULL, reterr);
}

int mount_apply_idmapped(const struct cleat_mount *m, const char *target, const struct mount_idmap *idmap,
                         struct cleat_error **reterr) {
    if (!idmap || idmap->userns_fd < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "mount on %s: no user namespace to idmap to",
                         target ? target : "(null)");
    return apply(m, target, idmap, reterr);
}

/* A detached copy of the bind's source, with the flags asked for on the copy itself. */
static int bind_detached(const struct cleat_mount *m, const struct mopts *mo, int *ret_fd,
                         struct cleat_error **reterr) {
    int r = check_bind(m, mo, reterr);
    if (r < 0)
        return r;
    int fd = mu_open_tree(AT_FDCWD, m->source, OPEN_TREE_CLONE | O_CLOEXEC | ((mo->flags & MS_REC) ? AT_RECURSIVE : 0));
    if (fd < 0) {
        int e = errno;
        return error_set(reterr, status_of(e), e, "bind mount of %s (detached): open_tree: %s", m->source, strerror(e));
    }
    struct mu_mount_attr a = {.attr_set = mount_attrs(mo->flags & BIND_REMOUNT_FLAGS)};
    if (a.attr_set && mu_mount_setattr(fd, "", AT_EMPTY_PATH, &a) < 0) {
        int e = errno;
        close(fd);
        return error_set(reterr, status_of(e), e, "bind mount of %s (detached): setting its flags: %s", m->source,
                         strerror(e));
    }
    *ret_fd = fd;
    return 0;
}

int mount_detached(const struct cleat_mount *m, int *ret_fd, struct cleat_error **reterr) {
    static const char where[] = "(detached)";
    if (!m || !m->type || !m->type[0] || !ret_fd)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "detached mount: no filesystem type");
    struct mopts mo;
    int r = parse_options(m, where, &mo, reterr);
    if (r < 0)
        return r;
    if (strcmp(m->type, "bind") == 0 || (mo.flags & MS_BIND))
        r = bind_detached(m, &mo, ret_fd, reterr);
    else
        r = fsapi_make(m, &mo, ret_fd, reterr);
    free(mo.data);
    return r;
}

/* target/rel, or target itself for an empty rel; ".." is refused. */
static int join_target(const char *target, const char *rel, char **ret, struct cleat_error **reterr) {
    rel = rel ? rel : "";
    while (*rel == '/')
        rel++;
    for (const char *s = rel; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "mount target '%s' below %s: '..' is not allowed", rel, target);
        s += n;
        s += *s == '/';
    }
    size_t tlen = strlen(target);
    int slash = tlen > 0 && target[tlen - 1] != '/' && *rel;
    if (asprintf(ret, "%s%s%s", target, slash ? "/" : "", rel) < 0) {
        *ret = NULL;
        return out_of_memory(reterr);
    }
    return 0;
}

static int mount_all_with(const struct cleat_mount *m, size_t n, const char *target, const struct mount_idmap *idmap,
                          struct cleat_error **reterr) {
    char **done = calloc(n + 1, sizeof(char *));
    if (!done)
        return out_of_memory(reterr);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        char *path = NULL;
        r = join_target(target, m[i].target, &path, reterr);
        if (r == 0 &&
            (r = (idmap ? mount_apply_idmapped(&m[i], path, idmap, reterr) : mount_apply(&m[i], path, reterr))) == 0)
            done[i] = path;
        else
            free(path);
    }
    /* Undo in reverse: a later mount may sit on or below an earlier one. */
    for (size_t i = n; i-- > 0;) {
        if (r < 0 && done[i])
            (void)umount2(done[i], MNT_DETACH);
        free(done[i]);
    }
    free(done);
    return r;
}

int mount_all(const struct cleat_mount *m, size_t n, const char *target, struct cleat_error **reterr) {
    return mount_all_with(m, n, target, NULL, reterr);
}

int mount_all_idmapped(const struct cleat_mount *m, size_t n, const char *target, const struct mount_idmap *idmap,
                       struct cleat_error **reterr) {
    return mount_all_with(m, n, target, idmap, reterr);
}

int unmount_tree(const char *target, struct cleat_error **reterr) {
    /* Each round detaches the top-most mount at target, with everything below it. */
    for (int i = 0; i < 1024; i++) {
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
            continue;
        int e = errno;
        if (e == EINVAL || e == ENOENT) /* not (or no longer) a mount point */
            return 0;
        return error_set(reterr, status_of(e), e, "unmounting %s: %s", target, strerror(e));
    }
    return error_set(reterr, CLEAT_STATUS_INTERNAL, EBUSY, "unmounting %s: still mounted after 1024 unmounts", target);
}

int mount_recursive_ro_probe(const char *dir, struct cleat_error **reterr) {
    /* A detached copy of one mount: nothing is attached anywhere, and closing the descriptor drops it. */
    int fd = mu_open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return error_set(reterr, e == ENOSYS ? CLEAT_STATUS_FAILED_PRECONDITION : status_of(e), e,
                         "cannot make a detached copy of the mount at %s (open_tree): %s", dir, strerror(e));
    }
    struct mu_mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
    struct statvfs sv;
    int r = mu_mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a);
    int e = errno;
    if (r == 0 && fstatvfs(fd, &sv) < 0) {
        r = -1;
        e = errno;
    }
    close(fd);
    if (r < 0)
        return error_set(reterr, e == ENOSYS || e == EINVAL ? CLEAT_STATUS_FAILED_PRECONDITION : status_of(e), e,
                         "this kernel cannot make a mount tree read-only (mount_setattr AT_RECURSIVE): %s",
                         strerror(e));
    if (!(sv.f_flag & ST_RDONLY))
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "mount_setattr AT_RECURSIVE succeeded, but the copy of %s is not read-only", dir);
    return 0;
}
