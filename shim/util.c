/* SPDX-License-Identifier: Apache-2.0 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Missing stdio becomes /dev/null, so that no fd the shim opens later lands
 * on 0, 1 or 2 and is taken for stdio (detach_stdio() would replace a log
 * file opened there, the runtime would inherit it).  The sync fd moves to 3,
 * close-on-exec; everything above it is closed. */
int shim_close_unexpected_fds(int *sync_fd)
{
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 &&
        open("/dev/null", O_RDWR) != fd) /* the lowest free fd: this one */
      return -errno;
  if (*sync_fd >= 0) {
    if (*sync_fd != 3 ? dup3(*sync_fd, 3, O_CLOEXEC) < 0 : fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
      return -errno;
    *sync_fd = 3;
  }
  closefrom(*sync_fd >= 0 ? 4 : 3);
  return 0;
}

ssize_t shim_write_all(int fd, const void *buf, size_t n)
{
  const char *p = buf;
  size_t left = n;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -errno;
    p += w;
    left -= (size_t)w;
  }
  return (ssize_t)n;
}

/* tmp + fsync + rename + fsync(dir): cleatd, restarted after a crash, finds
 * either no file or a complete one. */
int shim_write_file_atomic(const char *path, const char *data, size_t n)
{
  char tmp[4200], dir[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  if (shim_write_all(fd, data, n) < 0 || fsync(fd) < 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return -e;
  }
  close(fd);
  if (rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    return -e;
  }
  snprintf(dir, sizeof dir, "%s", path);
  int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

int shim_write_exit_file(const char *path, int status, int64_t at_ns, pid_t pid)
{
  char json[128];
  int n =
    snprintf(json, sizeof json, "{\"exit_status\":%d,\"exited_at_ns\":%" PRId64 ",\"pid\":%d}\n",
             status, at_ns, (int)pid);
  return shim_write_file_atomic(path, json, (size_t)n);
}
