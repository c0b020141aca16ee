/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running programs (an OCI runtime, a shim, a CNI plugin) from a daemon with
 * threads.  posix_spawn, never a bare fork: a forked copy of a threaded
 * process may only call async-signal-safe functions.  The child gets
 * exactly the three stdio fds it is given and nothing else: every fd above
 * 2 is closed in the child (closefrom), since not every fd of the daemon is
 * close-on-exec -- libcurl's sockets are not, and a shim would hold one for
 * its container's lifetime.  It also starts with an empty signal mask and
 * default dispositions, whatever the calling thread blocks or the daemon
 * ignores.  Children are reaped through their pidfd only (see
 * plugin_pidfd.h): the daemon's other children are not ours to wait for.
 */
#ifndef CLEAT_PLUGIN_SPAWN_H
#define CLEAT_PLUGIN_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The child leads a process group of its own, so that the whole group can be killed (what it delegated to). */
#define PLUGIN_SPAWN_PGROUP 1u

/*
 * Start argv[0] (a path: there is no PATH search) with arguments argv and
 * environment envp (NULL: the daemon's own).  stdio[i] becomes the child's
 * fd i; -1 gives it /dev/null.  The caller keeps its fds, and may pass the
 * same fd for several slots or its own 0, 1 and 2 in any order.  *ret_pid is
 * the child, which the caller must reap.  0, or -errno when nothing was
 * started.
 */
int plugin_spawn(const char *const *argv, char *const *envp, const int stdio[3], unsigned flags, pid_t *ret_pid);

/* What plugin_run() runs. */
struct plugin_run {
    const char *const *argv;
    char *const *envp;  /* NULL: the daemon's environment */
    unsigned flags;     /* PLUGIN_SPAWN_*; with PGROUP, a timeout kills the child's whole group */
    int64_t timeout_ms; /* the child is killed (SIGKILL) when it has not exited by then */
    size_t stdout_max;  /* 0: stdout is /dev/null; else keep this many bytes (the rest is read and dropped) */
    size_t stderr_max;  /* the same for stderr */
    const char *cwd;    /* the child's working directory; NULL: the daemon's (a missing one: -ENOENT) */
};

/* How it ended. */
struct plugin_output {
    int exit_status; /* its exit code, or 128 + the signal that ended it */
    int timed_out;   /* it was killed at the timeout */
    char *out, *err; /* what it wrote, NUL-terminated; "" when it wrote nothing, NULL when not captured */
    size_t out_len, err_len;
};

/*
 * Run a program to its end: spawned as plugin_spawn() does, with `stdin_fd`
 * as its stdin (-1: /dev/null), its stdout and stderr read while it runs
 * (so that a chatty child never blocks on a full pipe), and reaped.  Once
 * it has exited only what is already in the pipes is read: a grandchild it
 * left behind (a shim detaches one) may keep them open far longer.  0 when
 * it ran, whatever its exit status (see *ret; free with
 * plugin_output_done()); -errno when it could not be run or its output not
 * read, and then *ret holds nothing to free.
 */
int plugin_run(const struct plugin_run *run, int stdin_fd, struct plugin_output *ret);
/* Free the captured output; NULL-safe, and a second call does nothing. */
void plugin_output_done(struct plugin_output *o);

#endif
