/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of cleat-shim's control socket, BUNDLE/attach.sock
 * (shim/README.md): one command line in, one line back (`ok` or
 * `error TEXT`).  runtime-runc sends its container shims resize, close-stdin
 * and reopen; runtime-kata sends the same to the log relays.
 */
#ifndef CLEAT_PLUGIN_SHIM_CONTROL_H
#define CLEAT_PLUGIN_SHIM_CONTROL_H

#include <stddef.h>

/* How long one exchange may wait for the shim, each way, in seconds. */
#define PLUGIN_SHIM_CONTROL_TIMEOUT_S 10

/*
 * Connect to BUNDLE/attach.sock, with send and receive timeouts of
 * PLUGIN_SHIM_CONTROL_TIMEOUT_S.  A path too long for a socket address is
 * reached through /proc/self/fd/DIRFD/attach.sock.  The socket (close-on-exec)
 * or -errno: -ENOENT or -ECONNREFUSED when no shim listens there (it ended).
 */
int plugin_shim_control_connect(const char *bundle);

/*
 * Send `line` (ending in a newline) on a connected control socket and read
 * the one-line answer into `reply` (size bytes at least 2), without its
 * newline.  0, or -errno: -ECONNRESET when the shim closed before a whole
 * line, -EAGAIN when it did not answer in time.  Never raises SIGPIPE.  The
 * shim reads one command per connection: connect again for the next.
 */
int plugin_shim_control_exchange(int fd, const char *line, char *reply, size_t size);

#endif
