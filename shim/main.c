/* SPDX-License-Identifier: Apache-2.0 */
/* cleat-shim: argument parsing, detaching, and the create handshake.
 * The invoking process waits until the shim reports "ok SHIM_PID INIT_PID"
 * or "error TEXT" (on --sync-fd, and as its own exit status and stderr).
 * With --relay there is no OCI runtime to run: the shim makes the stdio FIFOs
 * for a shim v2 runtime and reports "ok SHIM_PID 0". */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RUNTIME_ARGS 64

static const char usage[] =
  "usage: cleat-shim --id ID --bundle DIR --runtime PATH [--runtime-root DIR]\n"
  "                  [--log-path FILE] [--exit-file FILE] [--stdin] [--tty]\n"
  "                  [--io-owner UID:GID] [--sync-fd N] [--runtime-arg ARG]...\n"
  "       cleat-shim --relay --id ID --bundle DIR [--log-path FILE] [--stdin] [--tty]\n"
  "                  [--sync-fd N]\n";

static int parse_args(int argc, char **argv, struct shim_opts *o)
{
  static const char *rargs[MAX_RUNTIME_ARGS];
  static const struct option lo[] = {
    { "id", required_argument, NULL, 'i' },       { "bundle", required_argument, NULL, 'b' },
    { "runtime", required_argument, NULL, 'r' },  { "runtime-root", required_argument, NULL, 'R' },
    { "log-path", required_argument, NULL, 'l' }, { "exit-file", required_argument, NULL, 'e' },
    { "stdin", no_argument, NULL, 's' },          { "tty", no_argument, NULL, 't' },
    { "sync-fd", required_argument, NULL, 'S' },  { "runtime-arg", required_argument, NULL, 'a' },
    { "relay", no_argument, NULL, 'y' },          { "io-owner", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
  };
  o->sync_fd = -1;
  o->runtime_args = rargs;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'i': o->id = optarg; break;
    case 'b': o->bundle = optarg; break;
    case 'r': o->runtime = optarg; break;
    case 'R': o->runtime_root = optarg; break;
    case 'l': o->log_path = optarg; break;
    case 'e': o->exit_file = optarg; break;
    case 's': o->stdin_open = 1; break;
    case 't': o->tty = 1; break;
    case 'y': o->relay = 1; break;
    case 'o': {
      char *end;
      unsigned long u = strtoul(optarg, &end, 10), g = 0;
      int ok = end != optarg && *end == ':' && u < 0xffffffffUL;
      if (ok) {
        const char *gs = end + 1;
        g = strtoul(gs, &end, 10);
        ok = end != gs && *end == 0 && g < 0xffffffffUL;
      }
      if (!ok) {
        fprintf(stderr, "cleat-shim: --io-owner: not UID:GID: %s\n", optarg);
        return -1;
      }
      o->io_owned = 1;
      o->io_uid = (unsigned int)u;
      o->io_gid = (unsigned int)g;
      break;
    }
    case 'S': {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*optarg == 0 || *end != 0 || v < 3 || v > INT_MAX) {
        fprintf(stderr, "cleat-shim: --sync-fd: not an fd above 2: %s\n", optarg);
        return -1;
      }
      o->sync_fd = (int)v;
      break;
    }
    case 'a':
      if (o->n_runtime_args == MAX_RUNTIME_ARGS) {
        fputs("cleat-shim: too many --runtime-arg\n", stderr);
        return -1;
      }
      rargs[o->n_runtime_args++] = optarg;
      break;
    case 'h': fputs(usage, stdout); exit(0);
    default: fputs(usage, stderr); return -1;
    }
  }
  if (optind != argc || !o->id || !o->bundle || !o->id[0] || (!o->relay && !o->runtime)) {
    fputs(usage, stderr);
    return -1;
  }
  if (o->relay && (o->runtime || o->runtime_root || o->exit_file || o->n_runtime_args)) {
    fputs("cleat-shim: --relay runs no OCI runtime: --runtime, --runtime-root, --runtime-arg and "
          "--exit-file do not apply\n",
          stderr);
    return -1;
  }
  return 0;
}

/* The first process waits for the detached shim's verdict. */
static int wait_verdict(int rd, pid_t child)
{
  char buf[4096];
  size_t len = 0;
  ssize_t n;
  while (len + 1 < sizeof buf &&
         ((n = read(rd, buf + len, sizeof buf - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
    if (n > 0)
      len += (size_t)n;
  buf[len] = 0;
  waitpid(child, NULL, 0); /* the intermediate process, exits at once */
  if (strncmp(buf, "ok ", 3) == 0) {
    fputs(buf + 3, stdout);
    return 0;
  }
  fprintf(stderr, "cleat-shim: %s",
          len ? buf + (strncmp(buf, "error ", 6) ? 0 : 6) : "the shim exited before reporting\n");
  return 1;
}

static void report(int rd_fd, int sync_fd, const char *msg)
{
  shim_write_all(rd_fd, msg, strlen(msg));
  close(rd_fd);
  if (sync_fd >= 0) {
    shim_write_all(sync_fd, msg, strlen(msg));
    close(sync_fd);
  }
}

static void detach_stdio(void)
{
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return;
  dup2(fd, 0);
  dup2(fd, 1);
  dup2(fd, 2);
  close(fd);
}

static int run_shim(struct shim_opts *o, int vfd)
{
  char err[2048] = "", msg[2200], path[PATH_MAX + 32];
  struct shim_stdio io = { .in = -1, .out = -1, .err = -1, .hold_out = -1, .hold_err = -1 };
  pid_t init_pid = 0;
  int lfd = -1;
  if (o->log_path && crilog_open(o->log_path, err, sizeof err) < 0)
    goto fail;
  snprintf(path, sizeof path, "%s/attach.sock", o->bundle);
  if ((lfd = server_listen(path, err, sizeof err)) < 0)
    goto fail;
  if (o->relay ? relay_open(o, &io, err, sizeof err) < 0
               : runtime_create(o, &io, &init_pid, err, sizeof err) < 0) {
    unlink(path);
    goto fail;
  }
  snprintf(path, sizeof path, "%s/shim.pid", o->bundle);
  FILE *f = fopen(path, "we");
  if (f) {
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
  }
  snprintf(msg, sizeof msg, "ok %d %d\n", (int)getpid(), (int)init_pid);
  report(vfd, o->sync_fd, msg);
  int rc = server_run(o, &io, init_pid, lfd);
  snprintf(path, sizeof path, "%s/attach.sock", o->bundle);
  unlink(path);
  return rc < 0 ? 1 : 0;
fail:
  snprintf(msg, sizeof msg, "error %s\n", err);
  report(vfd, o->sync_fd, msg);
  return 1;
}

int main(int argc, char **argv)
{
  struct shim_opts o = { 0 };
  if (parse_args(argc, argv, &o) < 0)
    return 2;
  int r = shim_close_unexpected_fds(&o.sync_fd);
  if (r < 0) {
    fprintf(stderr, "cleat-shim: setting up stdio and --sync-fd: %s\n", strerror(-r));
    return 1;
  }
  char bundle[PATH_MAX], exit_file[PATH_MAX + 16];
  if (!realpath(o.bundle, bundle)) {
    fprintf(stderr, "cleat-shim: bundle %s: %s\n", o.bundle, strerror(errno));
    return 1;
  }
  o.bundle = bundle;
  if (!o.exit_file) {
    snprintf(exit_file, sizeof exit_file, "%s/exit.json", bundle);
    o.exit_file = exit_file;
  }
  /* Read through a signalfd later; blocked now so that SIGUSR1 never kills
   * us and no SIGCHLD is lost. SIGPIPE: EPIPE is handled where it happens. */
  sigset_t ss;
  sigemptyset(&ss);
  sigaddset(&ss, SIGCHLD);
  sigaddset(&ss, SIGUSR1);
  sigaddset(&ss, SIGPIPE);
  sigprocmask(SIG_BLOCK, &ss, NULL);

  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    perror("cleat-shim: pipe");
    return 1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("cleat-shim: fork");
    return 1;
  }
  if (pid > 0) {
    close(p[1]);
    if (o.sync_fd >= 0)
      close(o.sync_fd);
    return wait_verdict(p[0], pid);
  }
  close(p[0]);
  /* Double fork: the shim is reparented to init (or the nearest subreaper),
   * never a child of cleatd, and is no session leader (no controlling tty). */
  if (setsid() < 0 || (pid = fork()) < 0) {
    dprintf(p[1], "error setsid/fork: %s\n", strerror(errno));
    _exit(1);
  }
  if (pid > 0)
    _exit(0);
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  if (chdir("/") < 0)
    _exit(1);
  detach_stdio();
  return run_shim(&o, p[1]);
}
