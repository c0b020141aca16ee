/* SPDX-License-Identifier: Apache-2.0 */
/* --relay: the FIFOs a shim v2 runtime (containerd-shim-*-v2) is given as the
 * container's stdio.  The runtime opens them by path in its Create; the relay
 * reads stdout/stderr into the CRI log and attach clients (server.c) and
 * writes attach clients' input into stdin. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const names[] = { "stdin", "stdout", "stderr" };

/* mkfifo + open PATH with FLAGS; the mode is set on the fd, whatever the umask. */
static int make_fifo(const char *path, int flags, char *errbuf, size_t size)
{
  if (mkfifo(path, 0600) < 0) {
    snprintf(errbuf, size, "creating FIFO %s: %s", path, strerror(errno));
    return -1;
  }
  int fd = open(path, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || fchmod(fd, 0600) < 0) {
    snprintf(errbuf, size, "opening FIFO %s: %s", path, fd < 0 ? strerror(errno) : "not a FIFO");
    if (fd >= 0)
      close(fd);
    unlink(path);
    return -1;
  }
  return fd;
}

/* A second open of the FIFO behind RD, for writing: it succeeds without
 * blocking because RD is a reader, and cannot be redirected by a rename. */
static int open_writer(int rd)
{
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", rd);
  return open(proc, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
}

int relay_open(const struct shim_opts *o, struct shim_stdio *io, char *errbuf, size_t size)
{
  char path[3][PATH_MAX + 16];
  int fd[3] = { -1, -1, -1 }, hold[3] = { -1, -1, -1 };
  int want[3] = { o->stdin_open, 1, !o->tty }, made = 0, ok = 1;
  for (int i = 0; i < 3 && ok; i++) {
    if (!want[i])
      continue;
    snprintf(path[i], sizeof path[i], "%s/%s", o->bundle, names[i]);
    fd[i] = make_fifo(path[i], i == SHIM_STDIN ? O_RDWR : O_RDONLY, errbuf, size);
    if (fd[i] < 0) {
      ok = 0;
      break;
    }
    made |= 1 << i;
    if (i != SHIM_STDIN && (hold[i] = open_writer(fd[i])) < 0) {
      snprintf(errbuf, size, "opening FIFO %s for writing: %s", path[i], strerror(errno));
      ok = 0;
    }
  }
  if (!ok) {
    for (int i = 0; i < 3; i++) {
      if (fd[i] >= 0)
        close(fd[i]);
      if (hold[i] >= 0)
        close(hold[i]);
      if (made & (1 << i))
        unlink(path[i]);
    }
    return -1;
  }
  io->in = fd[SHIM_STDIN];
  io->out = fd[SHIM_STDOUT];
  io->err = fd[SHIM_STDERR];
  io->hold_out = hold[SHIM_STDOUT];
  io->hold_err = hold[SHIM_STDERR];
  return 0;
}
