/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A process started in a running container (an exec) and followed to its
 * end: the one exec API of the lifecycle, which ExecSync (runtime_exec.c)
 * and the streaming server's Exec both use, and the attach address that
 * the streaming server's Attach connects to.
 *
 * The process gets the container's own process settings (user,
 * environment, capabilities, cwd, rlimits) with the given command; with a
 * terminal it gets TERM if the container has none.  Its exit comes from the
 * runtime's report, and the runtime is asked as well in case a report was
 * missed.
 */
#ifndef CLEAT_CORE_CONTAINER_EXEC_H
#define CLEAT_CORE_CONTAINER_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct runtime_service;
struct container_exec;

struct container_exec_options {
    char *const *cmd; /* argv; cmd[0] non-empty */
    size_t n_cmd;
    int tty;          /* a terminal: stdout carries the terminal, there is no stderr */
    int in, out, err; /* which standard streams the caller wants pipes for */
};

/* The caller's ends of the process's pipes, non-blocking and close-on-exec; -1 where not asked for. */
struct container_exec_io {
    int in_fd;  /* write end of the process's stdin: closing it is the EOF */
    int out_fd; /* read end of stdout (the terminal's output with tty) */
    int err_fd; /* read end of stderr */
};

/*
 * Start the process in a RUNNING container (ID or unique prefix): NOT_FOUND
 * for an unknown container, FAILED_PRECONDITION for one not running,
 * UNIMPLEMENTED when its runtime cannot exec.  *ret_io gets the caller's ends
 * of the pipes (the caller closes them); *ret the handle, to be ended with
 * container_exec_end.  Each call starts a new process with a new exec ID.
 */
int container_exec_start(struct runtime_service *rs, const char *id_or_prefix, const struct container_exec_options *o,
                         struct container_exec **ret, struct container_exec_io *ret_io, struct cleat_error **reterr);

/* The full container ID and the exec ID (short hex; it names the exec to the runtime). */
const char *container_exec_container_id(const struct container_exec *x);
const char *container_exec_id(const struct container_exec *x);

/*
 * Has the process exited?  1 with *ret_status once it has (again on every
 * later call), 0 while it runs.  deadline_ns (CLOCK_REALTIME): wait until
 * then, asking the runtime every 100 ms; 0: do not wait.
 */
int container_exec_poll(struct container_exec *x, int64_t deadline_ns, int32_t *ret_status);

/* Resize the process's terminal.  UNIMPLEMENTED when the runtime cannot; an exited process is NOT_FOUND. */
int container_exec_resize(struct container_exec *x, uint32_t width, uint32_t height, struct cleat_error **reterr);

/*
 * Kill the process (SIGKILL) unless it exited, wait up to 5 s for its exit,
 * let the runtime forget it, and free the handle.  The caller's pipe ends are
 * not touched.  NULL-safe.
 */
void container_exec_end(struct container_exec *x);

/*
 * The address (a unix socket path) where the container's standard streams
 * can be attached to, for a RUNNING container (ID or unique prefix);
 * ret_id gets the full ID.  UNIMPLEMENTED when its runtime cannot attach.
 */
int container_attach_address(struct runtime_service *rs, const char *id_or_prefix, char ret_id[65], char *addr,
                             size_t addr_size, struct cleat_error **reterr);

/*
 * Resize the terminal of a RUNNING container (ID or unique prefix), for an
 * attached client: through the runtime's resize_pty, which every runtime
 * answers (a shim v2's terminal is not behind the attach socket).  The last
 * call wins.  NOT_FOUND for an unknown container, FAILED_PRECONDITION for
 * one not running or without a terminal, UNIMPLEMENTED when its runtime
 * cannot resize.
 */
int container_attach_resize(struct runtime_service *rs, const char *id_or_prefix, uint32_t width, uint32_t height,
                            struct cleat_error **reterr);

#endif
