/* SPDX-License-Identifier: Apache-2.0 */
/* The shim's event loop: one epoll, no threads. Container output goes to the
 * CRI log (never dropped) and to attached clients (a client whose buffer is
 * full is dropped). Protocol: see README.md.  The same loop serves --relay,
 * where the output comes from FIFOs a shim v2 runtime writes and there is no
 * container process of ours to wait for: the end is EOF after `release`. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define CLIENT_OUT_MAX (256 * 1024)
#define DRAIN_MS 2000 /* after init exits, how long to wait for EOF on its stdio */

enum { T_SIG = 1, T_OUT, T_ERR, T_LISTEN, T_STDIN, T_CLIENT };

struct client {
  int fd;
  int attached, want_stdin, stdin_once, rd_eof;
  char cmd[128];
  size_t cmdlen;
  char *out; /* malloc'd once attached */
  size_t olen;
};

static struct {
  int ep, sfd, listen_fd, out, err, in, tty_fd;
  /* --relay: fds of the FIFOs held until release (by stream id): our own
   * writers on stdout/stderr, and stdin once closed before release. */
  int relay, released, hold[3];
  pid_t init_pid;
  int exited, exit_status;
  int64_t exited_at_ns;
  struct client c[MAX_CLIENTS];
  char stdin_buf[4096];
  size_t stdin_len;
  int stdin_owner; /* client index whose input is pending, or -1 */
  struct crilog_stream ls[2];
} S;

static char rbuf[32 * 1024];

static uint64_t tag(int kind, int idx)
{
  return ((uint64_t)kind << 32) | (uint32_t)idx;
}

static void ep_set(int op, int fd, uint32_t ev, uint64_t t)
{
  struct epoll_event e = { .events = ev, .data.u64 = t };
  epoll_ctl(S.ep, op, fd, &e);
}

static int64_t now_ns(int clock)
{
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void client_drop(int i)
{
  struct client *c = &S.c[i];
  if (c->fd < 0)
    return;
  close(c->fd); /* also removes it from the epoll set */
  free(c->out);
  if (S.stdin_owner == i)
    S.stdin_owner = -1;
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

static void client_update(int i)
{
  struct client *c = &S.c[i];
  uint32_t ev = 0;
  if (!c->rd_eof && !(S.stdin_owner == i && S.stdin_len > 0))
    ev |= EPOLLIN;
  if (c->olen > 0)
    ev |= EPOLLOUT;
  ep_set(EPOLL_CTL_MOD, c->fd, ev, tag(T_CLIENT, i));
}

static void client_flush(int i)
{
  struct client *c = &S.c[i];
  while (c->olen > 0) {
    ssize_t n = send(c->fd, c->out, c->olen, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n <= 0) {
      client_drop(i);
      return;
    }
    memmove(c->out, c->out + n, c->olen - (size_t)n);
    c->olen -= (size_t)n;
  }
  client_update(i);
}

static void client_reply(int i, const char *msg, int close_after)
{
  struct client *c = &S.c[i];
  ssize_t n = send(c->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (close_after || n != (ssize_t)strlen(msg))
    client_drop(i);
}

/* Queues one frame: 1 byte stream id, 4 bytes big-endian length, data. */
static void client_frame(int i, int stream, const char *data, size_t n)
{
  struct client *c = &S.c[i];
  if (c->olen + 5 + n > CLIENT_OUT_MAX) {
    client_drop(i); /* too slow: drop it, never block the container */
    return;
  }
  unsigned char h[5] = { (unsigned char)stream, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                         (unsigned char)(n >> 8), (unsigned char)n };
  memcpy(c->out + c->olen, h, 5);
  memcpy(c->out + c->olen + 5, data, n);
  c->olen += 5 + n;
  client_flush(i);
}

static void close_stdin(void)
{
  if (S.in >= 0 && S.relay && !S.released) {
    /* The runtime may open the FIFO later: a blocking open for reading
     * would wait for a writer forever.  It gets its EOF at release. */
    epoll_ctl(S.ep, EPOLL_CTL_DEL, S.in, NULL);
    S.hold[SHIM_STDIN] = S.in;
  } else if (S.in >= 0) {
    close(S.in); /* the pipe, or our dup of the pty master; leaves the epoll set */
  }
  S.in = -1;
  S.stdin_len = 0;
}

static void stdin_flush(void)
{
  while (S.in >= 0 && S.stdin_len > 0) {
    ssize_t n = write(S.in, S.stdin_buf, S.stdin_len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    if (n < 0) {
      close_stdin();
      break;
    }
    memmove(S.stdin_buf, S.stdin_buf + n, S.stdin_len - (size_t)n);
    S.stdin_len -= (size_t)n;
  }
  if (S.in < 0)
    S.stdin_len = 0;
  if (S.in >= 0)
    ep_set(EPOLL_CTL_MOD, S.in, S.stdin_len > 0 ? EPOLLOUT : 0, tag(T_STDIN, 0));
  if (S.stdin_owner >= 0 && S.c[S.stdin_owner].fd >= 0)
    client_update(S.stdin_owner);
}

static void stdin_push(int i, const char *p, size_t n)
{
  if (S.in < 0)
    return; /* stdin closed: input is discarded */
  memcpy(S.stdin_buf + S.stdin_len, p, n);
  S.stdin_len += n;
  S.stdin_owner = i;
  stdin_flush();
}

/* Relay: the runtime has opened the FIFOs.  Our writers go, so EOF from now
 * on means every writer of the container is done; a stdin closed earlier gets
 * its EOF to the reader now. */
static const char *release(void)
{
  for (int k = 0; k < 3; k++) {
    if (S.hold[k] >= 0)
      close(S.hold[k]);
    S.hold[k] = -1;
  }
  S.released = 1;
  return "ok\n";
}

static void do_command(int i, char *line, char *rest, size_t restlen)
{
  struct client *c = &S.c[i];
  unsigned w, h;
  if (strcmp(line, "attach") == 0 || strcmp(line, "attach stdin") == 0 ||
      strcmp(line, "attach stdin-once") == 0) {
    c->want_stdin = line[6] != 0;
    c->stdin_once = strcmp(line, "attach stdin-once") == 0;
    if (c->want_stdin && S.in < 0) {
      client_reply(i, "error stdin is not open\n", 1);
      return;
    }
    if (!(c->out = malloc(CLIENT_OUT_MAX))) {
      client_reply(i, "error out of memory\n", 1);
      return;
    }
    c->attached = 1;
    client_reply(i, "ok\n", 0);
    if (c->fd >= 0 && c->want_stdin && restlen > 0)
      stdin_push(i, rest,
                 restlen < sizeof S.stdin_buf - S.stdin_len ? restlen
                                                            : sizeof S.stdin_buf - S.stdin_len);
    if (c->fd >= 0)
      client_update(i);
  } else if (strcmp(line, "release") == 0) {
    client_reply(i, S.relay ? release() : "error not a relay\n", 1);
  } else if (sscanf(line, "resize %u %u", &w, &h) == 2) {
    struct winsize ws = { .ws_col = (unsigned short)w, .ws_row = (unsigned short)h };
    if (S.relay)
      client_reply(i, "error the terminal belongs to the shim v2 runtime\n", 1);
    else if (S.tty_fd < 0)
      client_reply(i, "error not a tty container\n", 1);
    else if (ioctl(S.tty_fd, TIOCSWINSZ, &ws) < 0)
      client_reply(i, "error resize failed\n", 1);
    else
      client_reply(i, "ok\n", 1);
  } else if (strcmp(line, "reopen") == 0) {
    char why[PATH_MAX + 128], msg[PATH_MAX + 200];
    if (crilog_reopen(why, sizeof why) < 0)
      snprintf(msg, sizeof msg, "error %s; the output goes on to the previous file\n", why);
    else
      snprintf(msg, sizeof msg, "ok\n");
    client_reply(i, msg, 1);
  } else if (strcmp(line, "close-stdin") == 0) {
    close_stdin();
    client_reply(i, "ok\n", 1);
  } else {
    client_reply(i, "error unknown command\n", 1);
  }
}

static void client_read(int i)
{
  struct client *c = &S.c[i];
  char buf[4096];
  size_t want = sizeof buf;
  if (c->attached && c->want_stdin)
    want = sizeof S.stdin_buf - S.stdin_len;
  if (want == 0) {
    client_update(i);
    return;
  }
  ssize_t n = recv(c->fd, buf, want, MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (n <= 0) {
    if (!c->attached) {
      client_drop(i);
      return;
    }
    c->rd_eof = 1;
    if (c->want_stdin && c->stdin_once)
      close_stdin();
    client_update(i);
    return;
  }
  if (c->attached) {
    if (c->want_stdin)
      stdin_push(i, buf, (size_t)n);
    return;
  }
  char *nl = memchr(buf, '\n', (size_t)n);
  size_t take = nl ? (size_t)(nl - buf) : (size_t)n;
  if (c->cmdlen + take >= sizeof c->cmd) {
    client_reply(i, "error command too long\n", 1);
    return;
  }
  memcpy(c->cmd + c->cmdlen, buf, take);
  c->cmdlen += take;
  c->cmd[c->cmdlen] = 0;
  if (nl)
    do_command(i, c->cmd, nl + 1, (size_t)n - take - 1);
}

static void accept_client(void)
{
  int fd = accept4(S.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0)
    return;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (S.c[i].fd < 0) {
      S.c[i].fd = fd;
      ep_set(EPOLL_CTL_ADD, fd, EPOLLIN, tag(T_CLIENT, i));
      return;
    }
  }
  (void)!write(fd, "error too many clients\n", 23);
  close(fd);
}

/* Reads container output; returns 0 at EOF (or EIO from a pty whose slave is gone). */
static int pump(int *fd, int stream)
{
  ssize_t n = read(*fd, rbuf, sizeof rbuf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return 1;
  if (n <= 0) {
    crilog_flush_partial(&S.ls[stream - 1], stream);
    if (*fd == S.tty_fd)
      S.tty_fd = -1;
    close(*fd);
    *fd = -1;
    return 0;
  }
  crilog_feed(&S.ls[stream - 1], stream, rbuf, (size_t)n);
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (S.c[i].fd >= 0 && S.c[i].attached)
      client_frame(i, stream, rbuf, (size_t)n);
  return 1;
}

static void reap(void)
{
  int st;
  pid_t p;
  while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
    if (p != S.init_pid || S.exited)
      continue;
    S.exited = 1;
    S.exited_at_ns = now_ns(CLOCK_REALTIME);
    S.exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
}

static void on_signal(void)
{
  struct signalfd_siginfo si;
  while (read(S.sfd, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD)
      reap();
    else if (si.ssi_signo == SIGUSR1)
      crilog_reopen(NULL, 0);
  }
}

static void dispatch(struct epoll_event *e)
{
  int kind = (int)(e->data.u64 >> 32), idx = (int)(uint32_t)e->data.u64;
  switch (kind) {
  case T_SIG: on_signal(); break;
  case T_OUT: pump(&S.out, SHIM_STDOUT); break;
  case T_ERR: pump(&S.err, SHIM_STDERR); break;
  case T_LISTEN: accept_client(); break;
  case T_STDIN:
    if (e->events & (EPOLLERR | EPOLLHUP))
      close_stdin();
    else
      stdin_flush();
    break;
  case T_CLIENT:
    if (S.c[idx].fd < 0)
      break;
    if (e->events & EPOLLOUT)
      client_flush(idx);
    if (S.c[idx].fd >= 0 && (e->events & EPOLLIN))
      client_read(idx);
    if (S.c[idx].fd >= 0 && (e->events & (EPOLLERR | EPOLLHUP)) && !(e->events & EPOLLIN))
      client_drop(idx);
    break;
  }
}

/* Binds PATH; a path longer than sun_path (long bundle dirs) is reached
 * through /proc/self/fd/DIRFD/NAME, which is short. */
int server_listen(const char *path, char *errbuf, size_t size)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int dfd = -1;
  const char *slash = strrchr(path, '/');
  if (strlen(path) < sizeof sa.sun_path) {
    strcpy(sa.sun_path, path);
  } else {
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 0, path);
    dfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dfd,
                            slash + 1) >= (int)sizeof sa.sun_path) {
      snprintf(errbuf, size, "socket path too long: %s", path);
      if (dfd >= 0)
        close(dfd);
      return -1;
    }
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd >= 0) {
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
      close(fd);
      fd = -1;
    }
  }
  if (fd < 0)
    snprintf(errbuf, size, "%s: %s", path, strerror(errno));
  if (dfd >= 0)
    close(dfd);
  return fd;
}

/* Relay: the log is complete; no exit status is known here (the shim v2
 * runtime has it), so clients get no exit frame, only the end of the stream.
 * -errno if `drained` could not be written (the relay then exits 1). */
static int finish_relay(const struct shim_opts *o)
{
  char path[PATH_MAX + 16], json[64];
  snprintf(path, sizeof path, "%s/drained", o->bundle);
  int n =
    snprintf(json, sizeof json, "{\"drained_at_ns\":%lld}\n", (long long)now_ns(CLOCK_REALTIME));
  int r = shim_write_file_atomic(path, json, (size_t)n);
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (S.c[i].fd >= 0 && S.c[i].attached)
      client_flush(i); /* what the socket takes now; a slow client may lose the tail */
    client_drop(i);
  }
  return r;
}

static void finish(const struct shim_opts *o)
{
  char status[16];
  int n = snprintf(status, sizeof status, "%d", S.exit_status);
  shim_write_exit_file(o->exit_file, S.exit_status, S.exited_at_ns, S.init_pid);
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (S.c[i].fd >= 0 && S.c[i].attached)
      client_frame(i, SHIM_EXIT, status, (size_t)n);
    client_drop(i);
  }
}

int server_run(const struct shim_opts *o, struct shim_stdio *io, pid_t init_pid, int listen_fd)
{
  sigset_t ss;
  sigemptyset(&ss);
  sigaddset(&ss, SIGCHLD);
  sigaddset(&ss, SIGUSR1);
  S.sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
  S.ep = epoll_create1(EPOLL_CLOEXEC);
  if (S.sfd < 0 || S.ep < 0)
    return -1;
  S.init_pid = init_pid;
  S.listen_fd = listen_fd;
  S.out = io->out;
  S.err = io->err;
  S.relay = o->relay;
  S.hold[SHIM_STDIN] = -1;
  S.hold[SHIM_STDOUT] = io->hold_out;
  S.hold[SHIM_STDERR] = io->hold_err;
  S.tty_fd = !S.relay && io->err < 0 ? io->out : -1;
  S.in = io->in;
  S.stdin_owner = -1;
  for (int i = 0; i < MAX_CLIENTS; i++)
    S.c[i].fd = -1;
  if (S.tty_fd >= 0 && S.in >= 0)
    S.in = fcntl(S.tty_fd, F_DUPFD_CLOEXEC, 3); /* a separate epoll registration */
  if (S.tty_fd >= 0 && !o->stdin_open) {
    if (S.in >= 0)
      close(S.in);
    S.in = -1;
  }
  int fds[] = { S.out, S.err, S.in };
  for (int i = 0; i < 3; i++)
    if (fds[i] >= 0)
      fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
  ep_set(EPOLL_CTL_ADD, S.sfd, EPOLLIN, tag(T_SIG, 0));
  ep_set(EPOLL_CTL_ADD, S.out, EPOLLIN, tag(T_OUT, 0));
  if (S.err >= 0)
    ep_set(EPOLL_CTL_ADD, S.err, EPOLLIN, tag(T_ERR, 0));
  if (S.in >= 0)
    ep_set(EPOLL_CTL_ADD, S.in, 0, tag(T_STDIN, 0));
  ep_set(EPOLL_CTL_ADD, listen_fd, EPOLLIN, tag(T_LISTEN, 0));
  reap(); /* a SIGCHLD from before the signalfd existed */

  int64_t deadline = 0;
  while (S.out >= 0 || S.err >= 0 || (S.relay ? !S.released : !S.exited)) {
    if (S.exited && !deadline)
      deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)DRAIN_MS * 1000000;
    int timeout = -1;
    if (deadline) {
      int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
      if (left <= 0)
        break; /* something outside the container still holds its stdio */
      timeout = (int)(left / 1000000) + 1;
    }
    struct epoll_event ev[16];
    int n = epoll_wait(S.ep, ev, 16, timeout);
    if (n < 0 && errno != EINTR)
      return -1;
    for (int i = 0; i < n; i++)
      dispatch(&ev[i]);
  }
  if (S.out >= 0)
    crilog_flush_partial(&S.ls[0], SHIM_STDOUT);
  if (S.err >= 0)
    crilog_flush_partial(&S.ls[1], SHIM_STDERR);
  int r = 0;
  if (S.relay)
    r = finish_relay(o);
  else
    finish(o);
  close_stdin();
  crilog_close();
  return r;
}
