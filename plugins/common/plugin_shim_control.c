/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "plugin_shim_control.h"

int plugin_shim_control_connect(const char *bundle) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int dirfd = -1;
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/attach.sock", bundle) >= (int)sizeof(sa.sun_path)) {
        if ((dirfd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
            return -errno;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/attach.sock", dirfd);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = fd < 0 ? -errno : 0;
    struct timeval tv = {.tv_sec = PLUGIN_SHIM_CONTROL_TIMEOUT_S};
    if (r == 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
                   setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0))
        r = -errno;
    while (r == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        if (errno != EINTR)
            r = -errno;
    if (dirfd >= 0)
        close(dirfd);
    if (r < 0 && fd >= 0)
        close(fd);
    return r < 0 ? r : fd;
}

int plugin_shim_control_exchange(int fd, const char *line, char *reply, size_t size) {
    size_t len = strlen(line), done = 0;
    while (done < len) {
        ssize_t n = send(fd, line + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        done += (size_t)n;
    }
    size_t got = 0;
    reply[0] = '\0';
    while (got + 1 < size && !memchr(reply, '\n', got)) {
        ssize_t n = recv(fd, reply + got, size - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ECONNRESET;
        got += (size_t)n;
        reply[got] = '\0';
    }
    reply[strcspn(reply, "\n")] = '\0';
    return 0;
}
