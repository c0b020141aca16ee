/* SPDX-License-Identifier: Apache-2.0 */
/* Pinned pod namespaces (see pod_ns.h). */
#include "pod_ns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
    uint32_t bit;
    int clone_flag;
    const char *name;
} pod_ns_kinds[] = {
    {POD_NS_NET, CLONE_NEWNET, "net"},
    {POD_NS_IPC, CLONE_NEWIPC, "ipc"},
    {POD_NS_UTS, CLONE_NEWUTS, "uts"},
    {POD_NS_USER, CLONE_NEWUSER, "user"}, /* last: only pod_ns_create_userns makes it, first of all */
};
#define N_KINDS (sizeof(pod_ns_kinds) / sizeof(pod_ns_kinds[0]))

static int pin_path(char *buf, size_t size, const char *dir, const char *name, struct cleat_error **reterr) {
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, ENAMETOOLONG, "pod namespace dir '%s': path too long",
                         dir);
    return 0;
}

/* Detach everything stacked on a pin and unlink it; absent is fine. */
static int unpin(const char *path, struct cleat_error **reterr) {
    while (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        ;
    if (errno != EINVAL && errno != ENOENT)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "namespace pin '%s': unmount: %s", path,
                         strerror(errno));
    if (unlink(path) < 0 && errno != ENOENT)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "namespace pin '%s': unlink: %s", path, strerror(errno));
    return 0;
}

/* --- the private self-bind of <dir> ------------------------------------------ */

static int mount_id_of(const char *path, uint64_t *ret_id, dev_t *ret_dev) {
    struct statx stx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID, &stx) < 0)
        return -errno;
    if (!(stx.stx_mask & STATX_MNT_ID))
        return -ENOSYS;
    if (!S_ISDIR(stx.stx_mode)) /* never a symlink: mount(2) would follow it */
        return -ENOTDIR;
    *ret_id = stx.stx_mnt_id;
    *ret_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    return 0;
}

/* 1 if dir is a mount point, 0 if not; *same_fs says whether it is on its parent's file system. */
static int is_mount_point(const char *dir, int *same_fs, struct cleat_error **reterr) {
    char parent[PATH_MAX];
    uint64_t id = 0, parent_id = 0;
    dev_t dev = 0, parent_dev = 0;
    int r = pin_path(parent, sizeof(parent), dir, "..", reterr);
    if (r < 0)
        return r;
    if ((r = mount_id_of(dir, &id, &dev)) < 0 || (r = mount_id_of(parent, &parent_id, &parent_dev)) < 0)
        return error_set(reterr,
                         r == -ENOENT    ? CLEAT_STATUS_NOT_FOUND
                         : r == -ENOTDIR ? CLEAT_STATUS_INVALID_ARGUMENT
                                         : CLEAT_STATUS_INTERNAL,
                         -r, "pod namespace dir '%s': %s", dir, strerror(-r));
    if (same_fs)
        *same_fs = dev == parent_dev;
    return id != parent_id;
}

/* Make dir a private mount, bind-mounting it onto itself first if need be; *ret_bound says whether we did. */
static int make_private(const char *dir, int *ret_bound, struct cleat_error **reterr) {
    int r = is_mount_point(dir, NULL, reterr);
    if (r < 0)
        return r;
    *ret_bound = 0;
    if (r == 0) {
        if (mount(dir, dir, NULL, MS_BIND, NULL) < 0)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "pod namespace dir '%s': bind onto itself: %s", dir,
                             strerror(errno));
        *ret_bound = 1;
    }
    if (mount(NULL, dir, NULL, MS_PRIVATE, NULL) < 0) {
        int e = errno;
        if (*ret_bound)
            umount2(dir, MNT_DETACH);
        *ret_bound = 0;
        return error_set(reterr, CLEAT_STATUS_INTERNAL, e, "pod namespace dir '%s': make private: %s", dir,
                         strerror(e));
    }
    return 0;
}

/* --- creating: runs in a thread of its own ------------------------------------ */

struct create_job {
    const char *dir;
    uint32_t which;
    const char *hostname;
    int ret;
    struct cleat_error *err;
};

/* Bring "lo" up in the calling thread's network namespace: 0 or -errno, only system calls (a forked child uses it). */
static int loopback_up_raw(void) {
    struct ifreq ifr;
    int r = 0, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        r = -errno;
    else if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
            r = -errno;
    }
    close(fd);
    return r;
}

static int loopback_up(struct cleat_error **reterr) {
    int r = loopback_up_raw();
    if (r < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, -r, "loopback: set 'lo' up: %s", strerror(-r));
    return 0;
}

/* Pin the namespace `name` of `proc` ("thread-self", or a pid) at dir/name. */
static int pin_one(const char *dir, const char *proc, const char *name, struct cleat_error **reterr) {
    char path[PATH_MAX], src[64];
    int r = pin_path(path, sizeof(path), dir, name, reterr);
    if (r < 0)
        return r;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
    if (fd < 0)
        return error_set(reterr, errno == EEXIST ? CLEAT_STATUS_ALREADY_EXISTS : CLEAT_STATUS_INTERNAL, errno,
                         "namespace pin '%s': create: %s", path, strerror(errno));
    close(fd);
    snprintf(src, sizeof(src), "/proc/%s/ns/%s", proc, name);
    if (mount(src, path, NULL, MS_BIND, NULL) < 0) {
        int e = errno;
        unlink(path);
        return error_set(reterr, CLEAT_STATUS_INTERNAL, e, "namespace pin '%s': bind mount: %s", path, strerror(e));
    }
    return 0;
}

static void *create_thread(void *arg) {
    struct create_job *job = arg;
    int flags = 0;
    size_t pinned = 0;
    for (size_t i = 0; i < N_KINDS; i++)
        if (job->which & pod_ns_kinds[i].bit)
            flags |= pod_ns_kinds[i].clone_flag;
    if (unshare(flags) < 0) {
        job->ret = error_set(&job->err, CLEAT_STATUS_INTERNAL, errno, "unshare: %s", strerror(errno));
        return NULL;
    }
    if ((job->which & POD_NS_UTS) && job->hostname && sethostname(job->hostname, strlen(job->hostname)) < 0) {
        job->ret =
            error_set(&job->err, CLEAT_STATUS_INTERNAL, errno, "set hostname '%s': %s", job->hostname, strerror(errno));
        return NULL;
    }
    if ((job->which & POD_NS_NET) && (job->ret = loopback_up(&job->err)) < 0)
        return NULL;
    for (; pinned < N_KINDS; pinned++)
        if ((job->which & pod_ns_kinds[pinned].bit) &&
            (job->ret = pin_one(job->dir, "thread-self", pod_ns_kinds[pinned].name, &job->err)) < 0)
            break;
    if (job->ret < 0) /* undo the pins made before the failing one */
        for (size_t i = 0; i < pinned; i++)
            if (job->which & pod_ns_kinds[i].bit) {
                char path[PATH_MAX];
                if (pin_path(path, sizeof(path), job->dir, pod_ns_kinds[i].name, NULL) == 0)
                    unpin(path, NULL);
            }
    return NULL;
}

static int check_create_args(const char *dir, uint32_t which, const char *hostname, struct cleat_error **reterr) {
    if (!dir || !*dir)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "pod namespaces: no directory given");
    if (which == 0 || (which & ~POD_NS_ALL))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "pod namespace dir '%s': bad namespace set 0x%x", dir, (unsigned)which);
    if (hostname && !(which & POD_NS_UTS))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "pod namespace dir '%s': hostname '%s' given without a UTS namespace", dir, hostname);
    if (hostname && (!*hostname || strlen(hostname) > HOST_NAME_MAX))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "pod namespace dir '%s': hostname '%s' is empty or longer than %d bytes", dir, hostname,
                         HOST_NAME_MAX);
    return 0;
}

int pod_ns_create(const char *dir, uint32_t which, const char *hostname, struct cleat_error **reterr) {
    struct create_job job = {.dir = dir, .which = which, .hostname = hostname};
    pthread_t th;
    int bound = 0, r = check_create_args(dir, which, hostname, reterr);
    if (r < 0 || (r = make_private(dir, &bound, reterr)) < 0)
        return r;
    r = pthread_create(&th, NULL, create_thread, &job);
    if (r != 0)
        job.ret = error_set(&job.err, CLEAT_STATUS_INTERNAL, r, "start namespace thread: %s", strerror(r));
    else
        pthread_join(th, NULL);
    if (job.ret >= 0)
        return 0;
    if (bound)
        umount2(dir, MNT_DETACH);
    job.err = error_wrap(job.err, "pod namespace dir '%s'", dir);
    if (reterr)
        *reterr = job.err;
    else
        error_free(job.err);
    return job.ret;
}

/* --- creating inside a new user namespace: a child process ------------------- */

/*
 * A multi-threaded process cannot unshare(CLONE_NEWUSER), so a forked child
 * makes the namespaces: the user namespace first (the parent writes its
 * maps), then the others inside it, which makes them its.  The child uses
 * system calls only (it was forked from a threaded daemon) and reports each
 * step as an errno (0: done) on `up`; it waits on `down` for the parent to
 * go on and exits when `down` closes.  The parent pins /proc/<child>/ns/.
 */
struct userns_child {
    int up[2], down[2];
    pid_t pid;
};

static void child_report(int fd, int e) {
    while (write(fd, &e, sizeof(e)) < 0 && errno == EINTR)
        ;
}

static int child_wait(int fd) {
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    return n == 1 ? 0 : -1;
}

static _Noreturn void child_run(struct userns_child *c, int flags, const char *hostname) {
    close(c->up[0]);
    close(c->down[1]);
    int e = unshare(CLONE_NEWUSER) < 0 ? errno : 0;
    child_report(c->up[1], e);
    if (e || child_wait(c->down[0]) < 0)
        _exit(1);
    e = unshare(flags) < 0 ? errno : 0;
    if (!e && hostname && sethostname(hostname, strlen(hostname)) < 0)
        e = errno;
    if (!e && (flags & CLONE_NEWNET))
        e = -loopback_up_raw();
    child_report(c->up[1], e);
    child_wait(c->down[0]); /* EOF: the parent has pinned what it needs */
    _exit(0);
}

/* The child's report of its next step: 0 when it went well. */
static int child_step(struct userns_child *c, const char *what, struct cleat_error **reterr) {
    int e = 0;
    ssize_t n;
    while ((n = read(c->up[0], &e, sizeof(e))) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(e))
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EPIPE, "%s: the helper process died", what);
    if (e)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, e, "%s: %s", what, strerror(e));
    return 0;
}

static void child_end(struct userns_child *c, int kill_it) {
    int fds[] = {c->up[0], c->up[1], c->down[0], c->down[1]};
    for (size_t i = 0; i < 4; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (c->pid > 0) {
        if (kill_it)
            kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
}

static int child_start(struct userns_child *c, int flags, const char *hostname, struct cleat_error **reterr) {
    c->up[0] = c->up[1] = c->down[0] = c->down[1] = -1;
    c->pid = -1;
    if (pipe2(c->up, O_CLOEXEC) < 0 || pipe2(c->down, O_CLOEXEC) < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "pipe: %s", strerror(errno));
    c->pid = fork();
    if (c->pid < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "fork: %s", strerror(errno));
    if (c->pid == 0)
        child_run(c, flags, hostname);
    close(c->up[1]);
    close(c->down[0]);
    c->up[1] = c->down[0] = -1;
    return 0;
}

static int go_on(struct userns_child *c, struct cleat_error **reterr) {
    if (write(c->down[1], "g", 1) != 1)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "the helper process died: %s", strerror(errno));
    return 0;
}

/* Pin the child's user namespace, then the others of `which`; on failure the pins made here are undone. */
static int pin_child(const char *dir, pid_t pid, uint32_t which, struct cleat_error **reterr) {
    char proc[32], path[PATH_MAX];
    const char *done[N_KINDS];
    size_t n = 0;
    int r = 0;
    snprintf(proc, sizeof(proc), "%d", (int)pid);
    for (size_t k = N_KINDS; r >= 0 && k-- > 0;) /* "user" is last in the table: pinned first */
        if ((which | POD_NS_USER) & pod_ns_kinds[k].bit) {
            r = pin_one(dir, proc, pod_ns_kinds[k].name, reterr);
            if (r >= 0)
                done[n++] = pod_ns_kinds[k].name;
        }
    for (size_t i = 0; r < 0 && i < n; i++)
        if (pin_path(path, sizeof(path), dir, done[i], NULL) == 0)
            unpin(path, NULL);
    return r;
}

int pod_ns_create_userns(const char *dir, uint32_t which, const char *hostname, const struct userns_maps *maps,
                         struct cleat_error **reterr) {
    int flags = 0, bound = 0;
    int r = check_create_args(dir, which, hostname, reterr);
    if (r >= 0 && !maps)
        r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "pod namespace dir '%s': no id maps given", dir);
    if (r >= 0)
        r = userns_check_maps("user namespace", maps, reterr);
    if (r < 0 || (r = make_private(dir, &bound, reterr)) < 0)
        return r;
    for (size_t i = 0; i < N_KINDS; i++)
        if ((which & pod_ns_kinds[i].bit) && pod_ns_kinds[i].bit != POD_NS_USER)
            flags |= pod_ns_kinds[i].clone_flag;
    struct userns_child c;
    r = child_start(&c, flags, which & POD_NS_UTS ? hostname : NULL, reterr);
    if (r >= 0)
        r = child_step(&c, "new user namespace", reterr);
    if (r >= 0)
        r = userns_write_maps(c.pid, maps, reterr);
    if (r >= 0)
        r = go_on(&c, reterr);
    if (r >= 0)
        r = child_step(&c, "namespaces inside the user namespace", reterr);
    if (r >= 0)
        r = pin_child(dir, c.pid, which, reterr);
    child_end(&c, r < 0);
    if (r >= 0)
        return 0;
    if (bound)
        umount2(dir, MNT_DETACH);
    return error_prefix(r, reterr, "pod namespace dir '%s'", dir);
}

/* --- removing, opening --------------------------------------------------------- */

int pod_ns_remove(const char *dir, struct cleat_error **reterr) {
    char path[PATH_MAX];
    int r, same_fs = 0;
    if (!dir || !*dir)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "pod namespaces: no directory given");
    if (access(dir, F_OK) < 0 && errno == ENOENT)
        return 0;
    for (size_t i = 0; i < N_KINDS; i++)
        if ((r = pin_path(path, sizeof(path), dir, pod_ns_kinds[i].name, reterr)) < 0 || (r = unpin(path, reterr)) < 0)
            return r;
    /* Only a bind of the parent's own file system is ours to drop (see make_private). */
    r = is_mount_point(dir, &same_fs, reterr);
    if (r > 0 && same_fs && umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "pod namespace dir '%s': unmount: %s", dir,
                         strerror(errno));
    return r < 0 ? r : 0;
}

int pod_ns_open(const char *dir, const char *name, int *ret_fd, struct cleat_error **reterr) {
    char path[PATH_MAX];
    struct statfs sfs;
    if (!name || !*name || strchr(name, '/') || strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "pod namespace dir '%s': bad name '%s'", dir,
                         name ? name : "(null)");
    int r = pin_path(path, sizeof(path), dir, name, reterr);
    if (r < 0)
        return r;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return error_set(reterr, errno == ENOENT ? CLEAT_STATUS_NOT_FOUND : CLEAT_STATUS_INTERNAL, errno,
                         "namespace pin '%s': %s", path, strerror(errno));
    if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC) {
        close(fd);
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "namespace pin '%s': no namespace is pinned there",
                         path);
    }
    *ret_fd = fd;
    return 0;
}

/* --- running inside a namespace ------------------------------------------------ */

struct run_job {
    const char *path;
    int nstype;
    int (*fn)(void *ctx);
    void *ctx;
    int entered;
    int ret;
    struct cleat_error *err;
};

static void *run_thread(void *arg) {
    struct run_job *job = arg;
    /* A mount namespace can only be joined by a thread that does not share its fs_struct. */
    if ((job->nstype == CLONE_NEWNS || job->nstype == 0) && unshare(CLONE_FS) < 0) {
        job->ret = error_set(&job->err, CLEAT_STATUS_INTERNAL, errno, "unshare fs: %s", strerror(errno));
        return NULL;
    }
    int fd = open(job->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        job->ret = error_set(&job->err, errno == ENOENT ? CLEAT_STATUS_NOT_FOUND : CLEAT_STATUS_INTERNAL, errno,
                             "open: %s", strerror(errno));
        return NULL;
    }
    if (setns(fd, job->nstype) < 0) {
        job->ret = error_set(&job->err, CLEAT_STATUS_INTERNAL, errno, "setns: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    close(fd);
    job->entered = 1;
    job->ret = job->fn(job->ctx);
    return NULL;
}

int pod_ns_run_in(const char *ns_path, int nstype, int (*fn)(void *ctx), void *ctx, struct cleat_error **reterr) {
    struct run_job job = {.path = ns_path, .nstype = nstype, .fn = fn, .ctx = ctx};
    pthread_t th;
    if (!ns_path || !fn)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "namespace: no path or function given");
    int r = pthread_create(&th, NULL, run_thread, &job);
    if (r != 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, r, "namespace '%s': start thread: %s", ns_path, strerror(r));
    pthread_join(th, NULL);
    if (job.entered)
        return job.ret;
    job.err = error_wrap(job.err, "namespace '%s'", ns_path);
    if (reterr)
        *reterr = job.err;
    else
        error_free(job.err);
    return job.ret;
}
