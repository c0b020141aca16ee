/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin_clock.h"
#include "plugin_fs.h"
#include "plugin_pidfd.h"

int plugin_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int plugin_pidfd_signal(int pidfd, int sig) {
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int plugin_pidfd_wait(int pidfd, int timeout_ms) {
    int64_t deadline = plugin_monotonic_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int64_t left = deadline - plugin_monotonic_ms();
        int n = poll(&p, 1, left > 0 ? (int)left : 0);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

int plugin_pidfd_reap(int pidfd, int nohang, int *status) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | (nohang ? WNOHANG : 0)) < 0)
        if (errno != EINTR)
            return -errno;
    if (si.si_pid == 0)
        return 0; /* WNOHANG, and it still runs */
    *status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    return 1;
}

int plugin_pidfd_is_command(int pidfd, pid_t pid, const char *flag, const char *value, const char *also) {
    char path[64], *cmd = NULL;
    size_t len = 0;
    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if (plugin_read_file(path, 64 * 1024, &cmd, &len) < 0)
        return 0;
    int named = 0, also_there = also == NULL;
    /* The arguments, each ending in a NUL (the last one may not, if the process rewrote them). */
    for (size_t i = 0; i < len; i += strnlen(cmd + i, len - i) + 1) {
        size_t n = strnlen(cmd + i, len - i), next = i + n + 1;
        also_there |= also && strcmp(cmd + i, also) == 0;
        named |= strcmp(cmd + i, flag) == 0 && next < len && strnlen(cmd + next, len - next) == strlen(value) &&
                 memcmp(cmd + next, value, strlen(value)) == 0;
    }
    free(cmd);
    return named && also_there && plugin_pidfd_signal(pidfd, 0) == 0;
}

int plugin_pidfd_open_command(pid_t pid, const char *flag, const char *value, const char *also) {
    if (pid <= 0)
        return -ESRCH;
    int fd = plugin_pidfd_open(pid);
    if (fd < 0)
        return fd;
    if (!plugin_pidfd_is_command(fd, pid, flag, value, also)) {
        close(fd);
        return -ESRCH;
    }
    return fd;
}
