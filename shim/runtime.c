/* SPDX-License-Identifier: Apache-2.0 */
/* `RUNTIME [--root R] [ARGS...] create --bundle B --pid-file B/init.pid
 *  [--console-socket B/console.sock] ID`, with the container's stdio wired to
 * pipes the shim holds (runc passes its own stdio through to the container
 * when there is no terminal), or the pty master it sends for TTY. */
#include "shim.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void set_err(char *errbuf, size_t size, const char *what, int err)
{
  snprintf(errbuf, size, "%s: %s", what, strerror(err));
}

/* Receives one fd over SCM_RIGHTS from an accepted console socket connection. */
static int recv_fd(int listen_fd)
{
  int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0)
    return -errno;
  char data[256];
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct iovec iov = { data, sizeof data };
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf
  };
  ssize_t n;
  do
    n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  int err = n < 0 ? -errno : -EBADMSG, fd = -1;
  struct cmsghdr *cm = n < 0 ? NULL : CMSG_FIRSTHDR(&msg);
  if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    err = 0;
  }
  close(c);
  return err < 0 ? err : fd;
}

/* The console socket path is handed to the runtime, so it must fit in
 * sun_path as is: with a long bundle dir it goes to a private /tmp dir. */
static int console_listen(char *path, size_t pathsize, char *tmpdir, char *errbuf, size_t size)
{
  if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    strcpy(tmpdir, "/tmp/cleat-shim-XXXXXX");
    if (!mkdtemp(tmpdir)) {
      snprintf(errbuf, size, "console socket dir: %s", strerror(errno));
      tmpdir[0] = 0;
      return -1;
    }
    snprintf(path, pathsize, "%s/console.sock", tmpdir);
  }
  /* Non-blocking: the runtime has connected before it exited successfully;
   * if it did not, accept fails with EAGAIN instead of hanging. */
  return server_listen(path, errbuf, size);
}

/* In a forked child: stdio from in, out and err (all above 2), no other fd,
 * no blocked signal, then exec argv.  The shim's own fds are close-on-exec,
 * but the runtime gets only what it needs whatever else may be open. */
static void exec_child(const char *const *argv, int in, int out, int err)
{
  sigset_t none; /* the shim blocks the signals it reads from its signalfd */
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
    _exit(127);
  closefrom(3);
  execv(argv[0], (char *const *)argv);
  dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

static void exec_runtime(const struct shim_opts *o, const char *pid_file, const char *console,
                         int in, int out, int err)
{
  const char *argv[32 + 64];
  size_t n = 0;
  argv[n++] = o->runtime;
  if (o->runtime_root) {
    argv[n++] = "--root";
    argv[n++] = o->runtime_root;
  }
  for (size_t i = 0; i < o->n_runtime_args && i < 64; i++)
    argv[n++] = o->runtime_args[i];
  argv[n++] = "create";
  argv[n++] = "--bundle";
  argv[n++] = o->bundle;
  argv[n++] = "--pid-file";
  argv[n++] = pid_file;
  if (console) {
    argv[n++] = "--console-socket";
    argv[n++] = console;
  }
  argv[n++] = o->id;
  argv[n] = NULL;
  exec_child(argv, in, out, err);
}

static int read_pid_file(const char *path, pid_t *pid)
{
  char buf[32] = "";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  long v = n > 0 ? strtol(buf, NULL, 10) : 0;
  if (v <= 0)
    return -EINVAL;
  *pid = (pid_t)v;
  return 0;
}

/* After a create that succeeded but left us unable to run the container
 * (no pid file, no pty): do not leave a created container behind. */
static void runtime_delete(const struct shim_opts *o, int devnull)
{
  pid_t pid = fork();
  if (pid == 0) {
    const char *argv[8];
    size_t n = 0;
    argv[n++] = o->runtime;
    if (o->runtime_root) {
      argv[n++] = "--root";
      argv[n++] = o->runtime_root;
    }
    argv[n++] = "delete";
    argv[n++] = "-f";
    argv[n++] = o->id;
    argv[n] = NULL;
    exec_child(argv, devnull, devnull, devnull);
  }
  while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

/* Collects what the runtime wrote on the error pipe, as the error text. */
static void read_errors(int fd, char *errbuf, size_t size, int status)
{
  size_t len = (size_t)snprintf(errbuf, size, "%s create exited with %s %d: ", "runtime",
                                WIFEXITED(status) ? "status" : "signal",
                                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  fcntl(fd, F_SETFL, O_NONBLOCK);
  while (len + 1 < size) {
    ssize_t n = read(fd, errbuf + len, size - len - 1);
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  while (len > 0 && (errbuf[len - 1] == '\n' || errbuf[len - 1] == ' '))
    len--;
  errbuf[len] = 0;
  for (size_t i = 0; i < len; i++) /* one line on the sync pipe */
    if (errbuf[i] == '\n')
      errbuf[i] = ' ';
}

int runtime_create(const struct shim_opts *o, struct shim_stdio *io, pid_t *init_pid, char *errbuf,
                   size_t size)
{
  char pid_file[4096], console[4096], tmpdir[32] = "";
  snprintf(pid_file, sizeof pid_file, "%s/init.pid", o->bundle);
  snprintf(console, sizeof console, "%s/console.sock", o->bundle);
  int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 }, csock = -1, rc = -1;
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0 || pipe2(perr, O_CLOEXEC) < 0 || (!o->tty && pipe2(pout, O_CLOEXEC) < 0) ||
      (!o->tty && o->stdin_open && pipe2(pin, O_CLOEXEC) < 0)) {
    set_err(errbuf, size, "pipe", errno);
    goto out;
  }
  /* A pipe is one inode for both ends: giving the read end away gives the container's end too. */
  int owned[] = { perr[0], pout[0], pin[0] };
  for (size_t i = 0; o->io_owned && i < sizeof owned / sizeof owned[0]; i++)
    if (owned[i] >= 0 && fchown(owned[i], o->io_uid, o->io_gid) < 0) {
      set_err(errbuf, size, "giving the stdio pipes to the container's root", errno);
      goto out;
    }
  if (o->tty && (csock = console_listen(console, sizeof console, tmpdir, errbuf, size)) < 0)
    goto out;
  unlink(pid_file);
  pid_t pid = fork();
  if (pid < 0) {
    set_err(errbuf, size, "fork", errno);
    goto out;
  }
  if (pid == 0)
    exec_runtime(o, pid_file, o->tty ? console : NULL, pin[0] >= 0 ? pin[0] : devnull,
                 o->tty ? devnull : pout[1], perr[1]);
  /* Only the container (and the runtime) hold the write ends now: EOF on
   * our read ends means every process in the container closed its stdio. */
  close(perr[1]);
  perr[1] = -1;
  if (pout[1] >= 0)
    close(pout[1]);
  if (pin[0] >= 0)
    close(pin[0]);
  pout[1] = pin[0] = -1;
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      set_err(errbuf, size, "waitpid", errno);
      goto out;
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    read_errors(perr[0], errbuf, size, status);
    goto out;
  }
  if ((rc = read_pid_file(pid_file, init_pid)) < 0) {
    set_err(errbuf, size, pid_file, -rc);
    runtime_delete(o, devnull);
    goto out;
  }
  if (o->tty) {
    int m = recv_fd(csock);
    if (m < 0) {
      set_err(errbuf, size, "receiving the pty master", -m);
      runtime_delete(o, devnull);
      rc = -1;
      goto out;
    }
    io->in = io->out = m;
    io->err = -1;
  } else {
    io->in = pin[1];
    io->out = pout[0];
    io->err = perr[0];
    pin[1] = pout[0] = perr[0] = -1;
  }
  rc = 0;
out:
  if (rc != 0)
    rc = -1;
  int fds[] = { pin[0], pin[1], pout[0], pout[1], perr[0], perr[1], csock, devnull };
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  if (csock >= 0)
    unlink(console);
  if (tmpdir[0])
    rmdir(tmpdir);
  return rc;
}
