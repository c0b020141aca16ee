/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Processes by pidfd.  A daemon with threads and other children must never
 * wait for "any child" nor signal a pid that may have been reused: a pidfd
 * names one process for as long as it is open, and waitid(P_PIDFD) reaps
 * that one child and no other.
 */
#ifndef CLEAT_PLUGIN_PIDFD_H
#define CLEAT_PLUGIN_PIDFD_H

#include <sys/types.h>

/* A pidfd of `pid` (close-on-exec, as pidfds always are), or -errno (-ESRCH: no such process). */
int plugin_pidfd_open(pid_t pid);
/* Send `sig` to the process; sig 0 only checks that it is still there.  0 or -errno. */
int plugin_pidfd_signal(int pidfd, int sig);
/* Wait until the process exits: 1 when it did (it may not be reaped yet), 0 after timeout_ms, or -errno. */
int plugin_pidfd_wait(int pidfd, int timeout_ms);
/*
 * Reap our child: *status is its exit code, or 128 + the signal that ended
 * it.  Blocks until it exits; with `nohang`, returns 0 at once when it still
 * runs and 1 when it was reaped.  -ECHILD when it is not our child, or was
 * reaped already (its status is then lost).
 */
int plugin_pidfd_reap(int pidfd, int nohang, int *status);

/*
 * Whether the process `pidfd` (opened for `pid`) is still the one we
 * started: its command line holds the argument `flag` right before the
 * argument `value` (e.g. "--id" ID) and, when `also` is not NULL, the
 * argument `also` anywhere (e.g. "--relay").  The command line is read after
 * the pidfd was opened and the process is checked to be still there after
 * that, so a match is about the very process the pidfd names, never one that
 * took over its pid.  1 or 0 (a zombie's empty command line matches nothing).
 */
int plugin_pidfd_is_command(int pidfd, pid_t pid, const char *flag, const char *value, const char *also);
/* plugin_pidfd_open(pid) when plugin_pidfd_is_command holds for it, else -ESRCH (or -errno of the open). */
int plugin_pidfd_open_command(pid_t pid, const char *flag, const char *value, const char *also);

#endif
