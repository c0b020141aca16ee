/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat-testbin: a small static program the end-to-end tests put into their
 * container images, for what busybox's shell cannot show (it runs applets
 * in-process and has no ipcs or pgrep).  One subcommand per run; it prints
 * one line and exits 0, unless the arguments are wrong (exit 2).
 *
 *   keyctl            the session keyring's id via keyctl(2) (RuntimeDefault
 *                     seccomp denies it): "ok" or the errno name ("EPERM")
 *   unshare-uts       unshare(CLONE_NEWUTS): "ok" or the errno name
 *   unshare KIND      unshare() of one namespace, KIND ns|user|net|uts|ipc|pid|cgroup: "ok" or the errno name
 *   clone KIND        a child by the raw clone() with that namespace's flag (or "none"), which exits at once
 *   clone3            a child by clone3() without flags: "ok" or the errno name (ENOSYS under RuntimeDefault)
 *   socket FAMILY     socket() of unix|inet|netlink|alg|vsock, or vsock-hi: AF_VSOCK with bits set above
 *                     the int the kernel reads, which a filter comparing 64-bit values must still refuse
 *   personality VALUE personality(VALUE) (strtoul base 0): "ok" or the errno name
 *   io-uring          io_uring_setup() of a one-entry ring: "ok" or the errno name
 *   kcmp              kcmp() of this process's fd 0 with itself (needs CAP_SYS_PTRACE under RuntimeDefault)
 *   syscall NR        the raw syscall NR with zero arguments: "ok" or the errno name
 *   caps              "CapInh=.. CapPrm=.. CapEff=.. CapBnd=.. CapAmb=.." (hex, from /proc/self/status)
 *   ids               "uid=U gid=G euid=U egid=G groups=A,B,C" (numeric; groups sorted)
 *   write PATH        create/truncate PATH and write "x": "ok" or the errno name
 *   shm-create KEY    a SysV shared memory segment with KEY (decimal): "ok" or the errno name
 *   shm-find KEY      "ok" when a segment with KEY exists in this IPC namespace, else the errno name
 *   ignore-term       ignore SIGTERM, print "ready", and sleep forever
 *   hold TOKEN        the same, and ignore SIGHUP too: a process that only SIGKILL ends, found
 *                     from the host by TOKEN in its command line (busybox's sleep would be
 *                     found as "sh" or "busybox")
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

static const char *errno_name(int e) {
    static const struct {
        int e;
        const char *name;
    } names[] = {
        {EPERM, "EPERM"},
        {ENOENT, "ENOENT"},
        {EACCES, "EACCES"},
        {EEXIST, "EEXIST"},
        {EINVAL, "EINVAL"},
        {EROFS, "EROFS"},
        {ENOSYS, "ENOSYS"},
        {ENOSPC, "ENOSPC"},
        {EFAULT, "EFAULT"},
        {ENOTDIR, "ENOTDIR"},
        {EISDIR, "EISDIR"},
        {EDQUOT, "EDQUOT"},
        {ENOKEY, "ENOKEY"},
        {EIDRM, "EIDRM"},
        {EAFNOSUPPORT, "EAFNOSUPPORT"},
        {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
        {EOPNOTSUPP, "EOPNOTSUPP"},
        {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"},
        {EBADF, "EBADF"},
        {ENOMEM, "ENOMEM"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].e == e)
            return names[i].name;
    static char buf[32];
    snprintf(buf, sizeof(buf), "errno%d", e);
    return buf;
}

static int result(long r) {
    puts(r < 0 ? errno_name(errno) : "ok");
    return 0;
}

static int caps(void) {
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) {
        printf("%s\n", errno_name(errno));
        return 1;
    }
    char line[256];
    const char *sep = "";
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Cap", 3) != 0)
            continue;
        char name[16], value[32];
        if (sscanf(line, "%15[^:]:%31s", name, value) == 2) {
            printf("%s%s=%s", sep, name, value);
            sep = " ";
        }
    }
    fclose(f);
    putchar('\n');
    return 0;
}

static int cmp_gid(const void *a, const void *b) {
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

static int ids(void) {
    gid_t groups[256];
    int n = getgroups(256, groups);
    if (n < 0)
        n = 0;
    qsort(groups, (size_t)n, sizeof(gid_t), cmp_gid);
    printf("uid=%u gid=%u euid=%u egid=%u groups=", (unsigned)getuid(), (unsigned)getgid(), (unsigned)geteuid(),
           (unsigned)getegid());
    for (int i = 0; i < n; i++)
        printf("%s%u", i ? "," : "", (unsigned)groups[i]);
    putchar('\n');
    return 0;
}

static int write_file(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return result(-1);
    long r = write(fd, "x", 1);
    int e = errno;
    close(fd);
    errno = e;
    return result(r == 1 ? 0 : -1);
}

/* Touch MiB megabytes, one page at a time, then sleep: in a small memory cgroup the OOM killer ends it. */
static int alloc(long mib) {
    for (long i = 0; i < mib; i++) {
        /* volatile: clang may otherwise drop an allocation nothing reads, and nothing gets touched */
        volatile char *p = malloc(1 << 20);
        if (!p)
            return result(-1);
        for (size_t off = 0; off < (1u << 20); off += 4096)
            p[off] = 1;
    }
    puts("allocated");
    fflush(stdout);
    for (;;)
        pause();
}

static const struct {
    const char *name;
    unsigned long flag;
} ns_flags[] = {
    {"ns", CLONE_NEWNS},   {"user", CLONE_NEWUSER}, {"net", CLONE_NEWNET},       {"uts", CLONE_NEWUTS},
    {"ipc", CLONE_NEWIPC}, {"pid", CLONE_NEWPID},   {"cgroup", CLONE_NEWCGROUP}, {"none", 0},
};

static long ns_flag(const char *name) {
    for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
        if (!strcmp(name, ns_flags[i].name))
            return (long)ns_flags[i].flag;
    return -1;
}

/* The child of a raw clone()/clone3() shares the stack, like fork(): it leaves at once, by a raw exit. */
static int reap(long pid) {
    if (pid == 0)
        syscall(SYS_exit, 0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return result(pid);
}

static int clone_ns(long flag) {
#if defined(__x86_64__) || defined(__aarch64__)
    return reap(syscall(SYS_clone, (unsigned long)flag | SIGCHLD, 0, NULL, NULL, 0));
#else
    (void)flag;
    return result(-1);
#endif
}

static int clone3_plain(void) {
    struct clone_args args = {.exit_signal = SIGCHLD};
    return reap(syscall(SYS_clone3, &args, sizeof(args)));
}

static int make_socket(const char *family) {
    static const struct {
        const char *name;
        int family, type;
    } f[] = {
        {"unix", AF_UNIX, SOCK_STREAM},  {"inet", AF_INET, SOCK_STREAM},   {"netlink", AF_NETLINK, SOCK_RAW},
        {"alg", AF_ALG, SOCK_SEQPACKET}, {"vsock", AF_VSOCK, SOCK_STREAM},
    };
#if __SIZEOF_LONG__ == 8
    if (!strcmp(family, "vsock-hi"))
        return result(syscall(SYS_socket, (1L << 32) | AF_VSOCK, SOCK_STREAM, 0));
#endif
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (!strcmp(family, f[i].name))
            return result(socket(f[i].family, f[i].type | SOCK_CLOEXEC, 0));
    return 2;
}

static int io_uring(void) {
    unsigned char params[120] = {0}; /* struct io_uring_params, zeroed: the kernel fills it in */
    return result(syscall(SYS_io_uring_setup, 1, params));
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "keyctl") && argc == 2)
        /* KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_SESSION_KEYRING (-3), create (1) */
        return result(syscall(SYS_keyctl, 0, -3, 1));
    if (!strcmp(cmd, "unshare-uts") && argc == 2)
        return result(unshare(CLONE_NEWUTS));
    if (!strcmp(cmd, "unshare") && argc == 3 && ns_flag(argv[2]) > 0)
        return result(unshare((int)ns_flag(argv[2])));
    if (!strcmp(cmd, "clone") && argc == 3 && ns_flag(argv[2]) >= 0)
        return clone_ns(ns_flag(argv[2]));
    if (!strcmp(cmd, "clone3") && argc == 2)
        return clone3_plain();
    if (!strcmp(cmd, "socket") && argc == 3 && make_socket(argv[2]) == 0)
        return 0;
    if (!strcmp(cmd, "personality") && argc == 3)
        return result(syscall(SYS_personality, strtoul(argv[2], NULL, 0)));
    if (!strcmp(cmd, "io-uring") && argc == 2)
        return io_uring();
    if (!strcmp(cmd, "kcmp") && argc == 2)
        return result(syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0));
    if (!strcmp(cmd, "syscall") && argc == 3)
        return result(syscall(atol(argv[2]), 0, 0, 0, 0, 0, 0));
    if (!strcmp(cmd, "caps") && argc == 2)
        return caps();
    if (!strcmp(cmd, "ids") && argc == 2)
        return ids();
    if (!strcmp(cmd, "write") && argc == 3)
        return write_file(argv[2]);
    if (!strcmp(cmd, "shm-create") && argc == 3)
        return result(shmget((key_t)atoi(argv[2]), 4096, IPC_CREAT | 0600));
    if (!strcmp(cmd, "shm-find") && argc == 3)
        return result(shmget((key_t)atoi(argv[2]), 0, 0));
    if (!strcmp(cmd, "alloc") && argc == 3)
        return alloc(atol(argv[2]));
    if ((!strcmp(cmd, "ignore-term") && argc == 2) || (!strcmp(cmd, "hold") && argc == 3)) {
        signal(SIGTERM, SIG_IGN);
        if (argc == 3)
            signal(SIGHUP, SIG_IGN);
        puts("ready");
        fflush(stdout);
        for (;;)
            pause();
    }
    fprintf(stderr, "usage: cleat-testbin keyctl|unshare-uts|unshare KIND|clone KIND|clone3|socket FAMILY|"
                    "personality VALUE|io-uring|kcmp|syscall NR|caps|ids|write PATH|shm-create KEY|shm-find "
                    "KEY|ignore-term|hold TOKEN|alloc MIB\n");
    return 2;
}
