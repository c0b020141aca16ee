/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pinned pod namespaces: a pod's network, IPC and UTS namespaces without a
 * pause process.
 *
 * pod_ns_create unshares the namespaces in a short-lived thread of its own
 * (for net, ipc and uts, unshare(2) changes only the calling thread, so the
 * daemon's other threads never see them), sets the hostname, brings up "lo",
 * and keeps each namespace alive by bind-mounting the thread's
 * /proc/thread-self/ns/<name> onto an empty file <dir>/<name>.  The thread
 * then exits; the bind mounts are all that hold the namespaces.
 *
 * <dir> is owned by this module while pins live in it: before pinning, it is
 * made a private mount (a bind mount of itself when it is not a mount point
 * yet, as iproute2 does with /run/netns), so that a pin never propagates into
 * another mount namespace, where it would keep the namespace alive after
 * pod_ns_remove.  pod_ns_remove undoes that self-bind again.  Needs
 * CAP_SYS_ADMIN.  Safe to call from any thread of a threaded daemon.
 */
#ifndef CLEAT_CORE_POD_NS_H
#define CLEAT_CORE_POD_NS_H

#include <stdint.h>

#include "error.h"
#include "userns.h"

#define POD_NS_NET 1u /* pinned at <dir>/net */
#define POD_NS_IPC 2u /* pinned at <dir>/ipc */
#define POD_NS_UTS 4u /* pinned at <dir>/uts */
#define POD_NS_ALL (POD_NS_NET | POD_NS_IPC | POD_NS_UTS)
/* Pinned at <dir>/user by pod_ns_create_userns only; never part of `which`. */
#define POD_NS_USER 8u

/*
 * Create the namespaces in `which` (a non-empty subset of POD_NS_ALL) and pin
 * each at <dir>/{net,ipc,uts}.  With POD_NS_UTS, the new UTS namespace gets
 * `hostname` (NULL: it keeps a copy of the host's); a hostname without
 * POD_NS_UTS is INVALID_ARGUMENT, as it would rename the host.  With
 * POD_NS_NET, "lo" is brought up in the new network namespace.
 * Errors: INVALID_ARGUMENT (bad `which`/hostname), NOT_FOUND (dir missing),
 * ALREADY_EXISTS (a pin file is already there), INTERNAL otherwise.  On
 * failure nothing is left behind: no pin file, no mount.
 */
int pod_ns_create(const char *dir, uint32_t which, const char *hostname, struct cleat_error **reterr);

/*
 * As pod_ns_create, but first a new user namespace with `maps` (checked as
 * userns_check_maps says), pinned at <dir>/user; the namespaces in `which`
 * are then created inside it, so that it owns them: capabilities of the
 * pod's root (an unprivileged user on the host) apply to its own network,
 * IPC and hostname.  A forked helper process makes them (a threaded
 * process cannot enter a new user namespace) and is gone on return.
 * Errors as pod_ns_create's, INVALID_ARGUMENT for bad maps; on failure
 * nothing is left behind.  pod_ns_remove removes the user pin too.
 */
int pod_ns_create_userns(const char *dir, uint32_t which, const char *hostname, const struct userns_maps *maps,
                         struct cleat_error **reterr);

/*
 * Detach (MNT_DETACH) and unlink every pin in <dir>, then drop the private
 * self-bind of <dir> that pod_ns_create made (a mount at <dir> of another
 * file system, such as a tmpfs the caller mounted there, is left alone).
 * Idempotent: absent pins, or an absent <dir>, are success.  <dir> itself is
 * not removed.
 */
int pod_ns_remove(const char *dir, struct cleat_error **reterr);

/*
 * Open the namespace pinned at <dir>/<name> ("net", "ipc", "uts", "user") with
 * O_RDONLY|O_CLOEXEC, for setns(2) or to hand to a runtime.  NOT_FOUND when
 * there is no pin (no file, or a file with no namespace mounted on it).
 */
int pod_ns_open(const char *dir, const char *name, int *ret_fd, struct cleat_error **reterr);

/*
 * Run fn(ctx) inside the namespace at ns_path (a pin, or /proc/<pid>/ns/...)
 * of type nstype (CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNS, or 0
 * for any): setns(2) happens in a new thread that exits after fn returns, so
 * the caller's thread never changes namespace.  Returns fn's result (fn
 * reports its own failures through ctx; *reterr is then untouched), or a
 * negative errno with *reterr set when the namespace could not be entered.
 */
int pod_ns_run_in(const char *ns_path, int nstype, int (*fn)(void *ctx), void *ctx, struct cleat_error **reterr);

#endif
