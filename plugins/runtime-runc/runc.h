/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: any OCI CLI runtime (runc, crun) driven through cleat-shim.
 * Internal interfaces shared by the plugin's files; nothing here is part of
 * the SDK.
 *
 * What is where:
 *
 *   <state_dir>/containers/<id>  -> the container's bundle dir.  The only
 *                                   record of a container: a new instance
 *                                   (after a daemon restart) finds the bundle,
 *                                   hence shim.pid and exit.json, from the id.
 *   <state_dir>/root             the runtime's --root (unless `root:` says otherwise)
 *   BUNDLE/shim.pid, init.pid, exit.json, attach.sock   written by cleat-shim
 *   BUNDLE/exec-<exec_id>.json, .pid                     one exec's process and pid
 *
 * In memory there is only the watch table: the shims and exec'd processes a
 * monitor thread is waiting for (pidfds in one epoll set), and the execs'
 * results until they are removed.  The table is protected by `lock`, which is
 * never held across a runtime invocation or any other wait.
 */
#ifndef RUNTIME_RUNC_H
#define RUNTIME_RUNC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#include <cleat/runtime.h>

#include "plugin_cleanup.h"
#include "plugin_error.h"
#include "plugin_spawn.h"

/* Bounds on waits, so that a hung runtime cannot hang a worker forever. */
#define RR_RUNTIME_TIMEOUT_MS 60000  /* one runtime invocation, or the shim's create handshake */
#define RR_SHIM_EXIT_TIMEOUT_MS 5000 /* the shim's exit after its container was deleted or killed */
#define RR_ERR_MAX 4096              /* captured stderr of one invocation, its NUL included */
#define RR_STDOUT_MAX (1024 * 1024)  /* captured stdout of one invocation (runc state prints one small object) */

struct rr {
    const struct cleat_host *host;
    char *binary;  /* the OCI runtime, absolute */
    char *root;    /* its --root */
    char *shim;    /* cleat-shim */
    char **global; /* the global options of every invocation: --root R [--systemd-cgroup] [runtime_args] */
    size_t nglobal;
    char *ctr_dir; /* <state_dir>/containers */

    pthread_mutex_t lock; /* everything below */
    struct watch **watches;
    size_t n, cap;
    uint64_t next_token; /* epoll data of a watch; 0 is the wake-up eventfd */
    int epfd, wakefd;    /* -1 until the monitor thread runs */
    int thread_started, stopping;
    pthread_t thread;
    struct rr_tty *ttys;      /* the relays of TTY execs that still run (tty.c) */
    pthread_cond_t ttys_done; /* broadcast when one ends */
    uint64_t features;        /* CLEAT_RUNTIME_FEATURE_* the runtime's `features` earned (set once, at init) */
};

#define WATCH_SHIM 1 /* a container's shim: its exit is the container's exit */
#define WATCH_EXEC 2 /* a `runtime exec` child of ours */

struct watch {
    uint64_t token;
    int kind;
    char *id;
    char *exec_id; /* WATCH_EXEC */
    char *bundle;
    pid_t pid;          /* the shim, or the runtime's exec child */
    int pidfd;          /* -1 once the process is gone (an exec: and reaped) */
    int starting;       /* an exec whose id is reserved while it is being spawned */
    int forgotten;      /* an exec of a removed container: dropped, unreported, when it ends */
    int exited;         /* an exec: the results below are valid */
    struct rr_tty *tty; /* an exec with a terminal: its relay (owned by the relay, NULL once it ended) */
    int32_t exit_status;
    int64_t exited_at_ns;
};

/* --- runc.c ---------------------------------------------------------------- */

/*
 * Run a helper program (the runtime, the shim) to its end as plugin_run()
 * does, within RR_RUNTIME_TIMEOUT_MS: stderr kept (at most RR_ERR_MAX - 1
 * bytes), stdout too when want_stdout (else /dev/null); free with
 * plugin_output_done().  -errno when it could not run at all.
 */
int rr_run(const char *const *argv, int want_stdout, struct plugin_output *ret);

/* The runtime's own error text: the msg="..." parts of runc's log lines, else the text trimmed. */
void rr_clean_message(const char *raw, char *out, size_t size);
/* BINARY GLOBAL... words..., NULL: an array to free, of borrowed strings; NULL on ENOMEM. */
const char **rr_runc_argv(const struct rr *rr, const char *const *words);
/* Run `BINARY GLOBAL... words...`; `ret` as rr_run (want stdout: ret->out); an error says what did not run. */
int rr_runc_raw(struct rr *rr, const char *const *words, int want_stdout, struct plugin_output *ret,
                struct cleat_error **reterr);
/* An error for a failed invocation: "container 'ID': runc WHAT: MESSAGE", status from the message. */
int rr_runc_error(struct rr *rr, const struct plugin_output *o, const char *what, const char *id,
                  struct cleat_error **reterr);
/* rr_runc_raw + rr_runc_error: 0 only when the runtime exited 0. */
int rr_runc(struct rr *rr, const char *const *words, const char *what, const char *id, struct cleat_error **reterr);
/* `runtime state ID`: its status word ("created", "running", ...) and pid. */
int rr_runc_state(struct rr *rr, const char *id, char *status, size_t size, pid_t *ret_pid,
                  struct cleat_error **reterr);
/* True when a runtime error says the container is gone or not running (kill and delete accept it). */
int rr_runc_says_gone(const struct plugin_output *o);

/* --- features.c ------------------------------------------------------------ */

/*
 * Set rr->features to the CLEAT_RUNTIME_FEATURE_* bits the runtime's own
 * `features` document earns (RECURSIVE_READ_ONLY_MOUNTS when its
 * mountOptions have "rro"); 0 when the runtime cannot be run or has no such
 * subcommand.  Called once by init, before the instance is shared: asking
 * again would run the runtime again.
 */
void rr_probe_features(struct rr *rr);

/* --- bundle.c -------------------------------------------------------------- */

/* Ids become file names and runtime arguments: [A-Za-z0-9_.+-], not "." or "..", at most 1024 bytes. */
int rr_valid_id(const char *id);
/* Read a decimal pid from a file (a pid file of the runtime or the shim); -EINVAL while it is still empty. */
int rr_read_pid(const char *path, pid_t *ret);

/* The bundle of a known container (readlink of its record); -ENOENT when unknown. */
int rr_bundle_of(const struct rr *rr, const char *id, char *buf, size_t size);
/* NOT_FOUND error when unknown: the usual first step of an op. */
int rr_lookup(struct rr *rr, const char *id, char *buf, size_t size, struct cleat_error **reterr);
int rr_record_path(const struct rr *rr, const char *id, char *buf, size_t size);

struct rr_exit {
    int32_t exit_status;
    int64_t exited_at_ns;
    pid_t pid;
};
/* BUNDLE/exit.json; -ENOENT when the container has not finished. */
int rr_read_exit(const char *bundle, struct rr_exit *ret);
/* The exit as far as it is known: exit.json, else 255 now with the pid from init.pid (a killed shim). */
void rr_exit_or_lost(const char *bundle, struct rr_exit *ret);
/*
 * A pidfd of the container's shim when it still runs (and is really the
 * shim of `id`: its command line says so); -ESRCH when it does not.
 */
int rr_shim_pidfd(const char *bundle, const char *id, pid_t *ret_pid);
/* The shim of `id` is process `pidfd`: its /proc command line has "--id ID". */
int rr_is_shim_of(int pidfd, pid_t pid, const char *id);
/*
 * BUNDLE/started, the plugin's own record that the init runs: made once
 * `runc start` or `runc resume` succeeded, removed before `runc pause`.
 * With it, a live shim and no exit.json, the state op answers RUNNING
 * without asking runc (a restart with 500 containers asked runc 500 times,
 * 10 ms each); without it (created, paused, or a start cleatd did not see
 * end) runc is asked.  Marking twice is harmless; unmarking a bundle with no
 * mark is too.  Failures are ignored: no mark only costs a runc call.
 */
void rr_mark_started(const char *bundle, int started);

/* --- monitor.c ------------------------------------------------------------- */

/* Watch a shim (takes pidfd; -1 means it is already gone: its exit is reported at once). */
int rr_watch_shim(struct rr *rr, const char *id, const char *bundle, pid_t pid, int pidfd);
/* Stop watching a container's shim; returns its pidfd (the caller's now) and pid, or -1 if none was watched. */
int rr_unwatch_shim(struct rr *rr, const char *id, pid_t *ret_pid);
/* Watch an exec reserved with rr_exec_reserve (takes pidfd). */
int rr_watch_exec(struct rr *rr, struct watch *w, pid_t pid, int pidfd);
/* The table entry of (id, exec_id) or NULL; lock held. */
struct watch *rr_find_exec_locked(struct rr *rr, const char *id, const char *exec_id);
/* Take w out of the table and free it (any pidfd closed, out of epoll); lock held. */
void rr_drop_locked(struct rr *rr, struct watch *w);
/* Reap an exec that has exited but not been seen by the monitor yet; lock held. */
void rr_reap_exec_locked(struct rr *rr, struct watch *w);
/* Forget every exec of container `id` (removed): finished ones now, running ones when they end. */
void rr_forget_execs(struct rr *rr, const char *id);
/* Add an entry to the table; lock held. */
int rr_add_locked(struct rr *rr, struct watch *w);
struct watch *rr_watch_new(int kind, const char *id, const char *exec_id, const char *bundle);
void rr_watch_free(struct watch *w);
/* Stop the monitor thread and free the table (fini). */
void rr_monitor_stop(struct rr *rr);

/* --- tty.c ---------------------------------------------------------------- */

/* The relay of one TTY exec (tty.c); fields under rr->lock unless said otherwise. */
struct rr_tty {
    struct rr_tty *next; /* rr->ttys */
    pthread_t thread;
    int master;  /* the pty master; -1 once the relay closed it */
    int in, out; /* the relay's own: dups of the host's stdin and stdout, or -1 */
    int pidfd;   /* the relay's own: a dup of the runtime child's pidfd (SIGWINCH goes there) */
    int wake;    /* eventfd: a request below is pending */
    int close_stdin, stop;
    char *pidfile;             /* the relay's own: BUNDLE/exec-<id>.pid */
    pid_t pid;                 /* the process, once the pid file was read */
    unsigned short cols, rows; /* the last size asked for (sized: one was) */
    int sized;
};

/* A pty pair, both ends close-on-exec and without a controlling terminal. */
int rr_openpty(int *ret_master, int *ret_slave);
/* Start the relay of exec watch w (takes master; dups in, out and pidfd); sets w->tty. */
int rr_tty_start(struct rr *rr, struct watch *w, int master, int in, int out, int pidfd, const char *pidfile);
int rr_tty_resize(struct rr *rr, const char *id, const char *exec_id, uint32_t width, uint32_t height,
                  struct cleat_error **reterr);
/* A TTY exec's terminal gets end-of-file after the pending input; 0 for an exec without one. */
int rr_tty_close_stdin(struct rr *rr, const char *id, const char *exec_id, struct cleat_error **reterr);
/* Stop every relay and wait for them (fini). */
void rr_tty_stop_all(struct rr *rr);

/* --- container.c ----------------------------------------------------------- */

/* Who the container's stdio pipes go to (cleat_runtime_container io_uid / io_gid); CLEAT_RUNTIME_NO_ID: left as is. */
struct rr_io_owner {
    uint32_t uid, gid;
};
/* Create a container through the shim and record it (create and sandbox_create; io NULL: no owner). */
int rr_create(struct rr *rr, const char *id, const char *bundle, const char *log_path, uint32_t flags,
              const struct rr_io_owner *io, struct cleat_error **reterr);
/* Delete a container that is not running, wait for its shim, forget it (remove and sandbox_remove). */
int rr_remove(struct rr *rr, const char *id, struct cleat_error **reterr);
int rr_init_state(struct rr *rr, const char *id, struct cleat_runtime_state *ret, struct cleat_error **reterr);

/* --- ops*.c ---------------------------------------------------------------- */

int rr_exec(void *instance, const struct cleat_runtime_exec *exec, uint32_t *ret_pid, struct cleat_error **reterr);
int rr_exec_kill(struct rr *rr, const char *id, const char *exec_id, int32_t sig, struct cleat_error **reterr);
int rr_exec_remove(struct rr *rr, const char *id, const char *exec_id, struct cleat_error **reterr);
int rr_exec_state(struct rr *rr, const char *id, const char *exec_id, struct cleat_runtime_state *ret,
                  struct cleat_error **reterr);

int rr_sandbox_create(void *instance, const struct cleat_runtime_sandbox *sandbox, struct cleat_error **reterr);
int rr_sandbox_stop(void *instance, const char *sandbox_id, struct cleat_error **reterr);
int rr_sandbox_remove(void *instance, const char *sandbox_id, struct cleat_error **reterr);

int rr_resize_pty(void *instance, const char *id, const char *exec_id, uint32_t width, uint32_t height,
                  struct cleat_error **reterr);
int rr_close_stdin(void *instance, const char *id, const char *exec_id, struct cleat_error **reterr);
int rr_reopen_log(void *instance, const char *id, struct cleat_error **reterr);
int rr_attach_address(void *instance, const char *id, char *buf, uint64_t size, struct cleat_error **reterr);

extern const struct cleat_runtime_ops rr_ops;

#endif
