/* SPDX-License-Identifier: Apache-2.0 */
/* The CRI container log format kubelet reads:
 *   2026-11-22T21:00:00.123456789Z stdout F message\n
 * F = the line ended with a newline, P = a partial line (longer than
 * SHIM_LOG_LINE_MAX, or cut by EOF). Log writes are blocking regular-file
 * writes: output is never dropped from the log, only from slow attach clients. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static const char *log_path;

static const char *type_name(mode_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFLNK: return "a symbolic link";
  case S_IFDIR: return "a directory";
  case S_IFCHR: return "a character device";
  case S_IFBLK: return "a block device";
  case S_IFIFO: return "a FIFO";
  case S_IFSOCK: return "a socket";
  default: return "not a regular file";
  }
}

/* An existing log file, reached without following a symlink and reopened
 * for appending only if it is a regular file. */
static int open_existing(const char *path, char *why, size_t size)
{
  int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (pfd < 0)
    return -errno;
  struct stat st;
  int fd = fstat(pfd, &st) < 0 ? -errno : 0;
  if (fd == 0 && !S_ISREG(st.st_mode)) {
    snprintf(why, size, "log file %s is %s: refused", path, type_name(st.st_mode));
    fd = -EPERM;
  }
  if (fd == 0) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
    fd = open(proc, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
    fd = fd < 0 ? -errno : fd;
  }
  close(pfd);
  return fd;
}

/* The log is in a directory kubelet may share with the pod (a log collector
 * mounts it writable): a symlink planted at the path must not make the shim,
 * root, append to a host file, nor a device node or FIFO make it write to a
 * device or block.  So the last component is never followed (O_EXCL creates,
 * O_NOFOLLOW reaches an existing one with O_PATH, which opens nothing), and
 * only a regular file is reopened for appending.  On failure `why` says why. */
static int open_log(const char *path, char *why, size_t size)
{
  int fd = -ENOENT;
  why[0] = '\0';
  /* Twice: the file may go between the two opens (kubelet rotating it). */
  for (int tries = 0; tries < 2 && fd == -ENOENT; tries++) {
    fd =
      open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
    fd = fd >= 0 ? fd : errno == EEXIST ? open_existing(path, why, size) : -errno;
  }
  if (fd < 0 && !why[0])
    snprintf(why, size, "opening log %s: %s", path, strerror(-fd));
  return fd;
}

int crilog_open(const char *path, char *why, size_t size)
{
  int fd = open_log(path, why, size);
  if (fd < 0)
    return fd;
  log_fd = fd;
  log_path = path;
  return fd;
}

int crilog_reopen(char *why, size_t size)
{
  char none[1];
  if (!log_path)
    return 0;
  int fd = open_log(log_path, why ? why : none, why ? size : sizeof none);
  if (fd < 0)
    return fd; /* keep writing to the old file rather than losing output */
  close(log_fd);
  log_fd = fd;
  return 0;
}

void crilog_close(void)
{
  if (log_fd >= 0)
    close(log_fd);
  log_fd = -1;
}

size_t crilog_timestamp(char *out, size_t size)
{
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)ts.tv_nsec);
  return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static void emit(int stream, char tag, const char *msg, size_t n)
{
  if (log_fd < 0)
    return;
  char head[64];
  size_t hl = crilog_timestamp(head, sizeof head);
  int k = snprintf(head + hl, sizeof head - hl, " %s %c ",
                   stream == SHIM_STDERR ? "stderr" : "stdout", tag);
  if (k > 0)
    hl += (size_t)k;
  struct iovec iov[3] = {
    { head, hl },
    { (void *)msg, n },
    { (void *)"\n", 1 },
  };
  size_t total = hl + n + 1;
  /* O_APPEND on a regular file: a short write only happens on ENOSPC/EIO;
   * finish the record if we can, so the next line starts at a line start. */
  ssize_t w;
  do
    w = writev(log_fd, iov, 3);
  while (w < 0 && errno == EINTR);
  if (w < 0 || (size_t)w == total)
    return;
  size_t done = (size_t)w;
  for (int i = 0; i < 3; i++) {
    if (done >= iov[i].iov_len) {
      done -= iov[i].iov_len;
      continue;
    }
    if (shim_write_all(log_fd, (char *)iov[i].iov_base + done, iov[i].iov_len - done) < 0)
      return;
    done = 0;
  }
}

void crilog_feed(struct crilog_stream *s, int stream, const char *p, size_t n)
{
  while (n > 0) {
    size_t room = sizeof s->buf - s->len;
    size_t m = n < room ? n : room;
    const char *nl = memchr(p, '\n', m);
    if (nl) {
      size_t k = (size_t)(nl - p);
      if (s->len == 0) {
        emit(stream, 'F', p, k); /* the common case: no copy */
      } else {
        memcpy(s->buf + s->len, p, k);
        emit(stream, 'F', s->buf, s->len + k);
        s->len = 0;
      }
      p += k + 1;
      n -= k + 1;
      continue;
    }
    memcpy(s->buf + s->len, p, m);
    s->len += m;
    p += m;
    n -= m;
    if (s->len == sizeof s->buf && n > 0) {
      if (*p == '\n') { /* exactly SHIM_LOG_LINE_MAX bytes and a newline: a full line */
        emit(stream, 'F', s->buf, s->len);
        p++;
        n--;
      } else {
        emit(stream, 'P', s->buf, s->len);
      }
      s->len = 0;
    }
  }
}

void crilog_flush_partial(struct crilog_stream *s, int stream)
{
  if (s->len > 0)
    emit(stream, 'P', s->buf, s->len);
  s->len = 0;
}
