/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin_clock.h"
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
