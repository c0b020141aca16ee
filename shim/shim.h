/* SPDX-License-Identifier: Apache-2.0 */
/* cleat-shim: one small process per container (see README.md).
 * libc only: no cleat core library, no grpc/protobuf/yaml. */
#ifndef CLEAT_SHIM_H
#define CLEAT_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Stream ids, used both in the CRI log writer and in attach frames. */
enum { SHIM_STDIN = 0, SHIM_STDOUT = 1, SHIM_STDERR = 2, SHIM_EXIT = 3 };

/* A line longer than this is split into P (partial) log records, like the
 * 16 KiB limit of containerd and CRI-O. */
#define SHIM_LOG_LINE_MAX (16 * 1024)

struct shim_opts {
  const char *id;
  const char *bundle; /* absolute */
  const char *runtime;
  const char *runtime_root; /* may be NULL */
  const char *log_path;     /* may be NULL: output is only sent to attach clients */
  const char *exit_file;    /* default BUNDLE/exit.json */
  const char **runtime_args;
  size_t n_runtime_args;
  int stdin_open;
  int tty;
  int sync_fd; /* -1 if none */
  int relay;   /* --relay: FIFOs for a shim v2 runtime's stdio, no OCI runtime (relay.c) */
  /* --io-owner UID:GID: the container's stdio pipes go to its root's host ids (a pod with its own user
   * namespace), so that it can reopen them (/dev/stdout); io_owned 0: left as they are. */
  int io_owned;
  unsigned int io_uid, io_gid;
};

/* crilog.c: the CRI log format writer. */
struct crilog_stream {
  char buf[SHIM_LOG_LINE_MAX];
  size_t len;
};
/* Open (create 0640) the log for appending; never through a symlink at its last
 * component, never anything but a regular file.  Returns the fd, or -errno with
 * the reason in `why`. */
int crilog_open(const char *path, char *why, size_t size);
/* The same for the same path (after kubelet renamed the file): 0, or -errno with
 * the reason in `why` (may be NULL), the old file kept. */
int crilog_reopen(char *why, size_t size);
void crilog_close(void);
void crilog_feed(struct crilog_stream *s, int stream, const char *data, size_t n);
void crilog_flush_partial(struct crilog_stream *s, int stream); /* at EOF */
/* Formats now as RFC 3339 with nanoseconds, UTC; returns the length (30). */
size_t crilog_timestamp(char *out, size_t size);

/* runtime.c: run `RUNTIME create`, receive the pty master for TTY. */
struct shim_stdio {
  int in;  /* write end of the container's stdin pipe or the pty master, or -1 */
  int out; /* read end of stdout, or the pty master */
  int err; /* read end of stderr, or -1 for TTY */
  /* Relay only (else -1): writers of the relay's own on the stdout/stderr
   * FIFOs, held until `release` so that no EOF is read before the shim v2
   * runtime has opened them. */
  int hold_out, hold_err;
};
int runtime_create(const struct shim_opts *o, struct shim_stdio *io, pid_t *init_pid, char *errbuf,
                   size_t errsize);

/* relay.c: BUNDLE/stdin (with --stdin), BUNDLE/stdout and BUNDLE/stderr (not
 * with --tty) made as FIFOs 0600 and opened: io->in read-write (the runtime's
 * open for reading never blocks, and closing it is the reader's EOF), io->out
 * and io->err for reading, io->hold_* for writing.  A FIFO already there is an
 * error (two relays must never share one).  On failure the FIFOs it made are
 * removed, the reason is in errbuf, and -1 is returned. */
int relay_open(const struct shim_opts *o, struct shim_stdio *io, char *errbuf, size_t errsize);

/* server.c: the event loop (container output, attach socket, signals). */
/* Returns when the container is done (exit file written) or, relay, after
 * release and EOF on every output (drained written); -1 on failure. */
int server_run(const struct shim_opts *o, struct shim_stdio *io, pid_t init_pid, int listen_fd);
int server_listen(const char *path, char *errbuf, size_t errsize);

/* util */
/* At start: 0, 1 and 2 open (/dev/null where missing), *sync_fd (if >= 0)
 * moved to 3 and close-on-exec, every other fd closed -- the shim may be
 * started by an older cleatd, or by hand, with fds it must not hold for its
 * container's lifetime.  -errno when the sync fd is not open. */
int shim_close_unexpected_fds(int *sync_fd);
ssize_t shim_write_all(int fd, const void *buf, size_t n);
/* tmp + fsync + rename + fsync(dir); 0 or -errno. */
int shim_write_file_atomic(const char *path, const char *data, size_t n);
int shim_write_exit_file(const char *path, int status, int64_t at_ns, pid_t pid);

#endif
