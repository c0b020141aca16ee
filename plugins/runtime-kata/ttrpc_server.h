/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The receiving side of a shim's events: a ttrpc server on a unix socket
 * that serves one method, containerd.services.events.ttrpc.v1.Events/Forward.
 * A shim v2 is started with this socket's path in TTRPC_ADDRESS and forwards
 * every event it publishes (TaskExit, TaskOOM, ...) as a call there.
 *
 * One thread serves every connection (many shims, each with one or more),
 * reading frames as they come, split anyhow, and answering each call:
 * OK once the callback has seen the event, UNIMPLEMENTED for any other
 * method, INVALID_ARGUMENT for a request that does not parse.  A peer that
 * announces a frame above 4 MiB, or stops reading its answers, is
 * disconnected.  The socket and every connection are close-on-exec.
 */
#ifndef CLEAT_KATA_TTRPC_SERVER_H
#define CLEAT_KATA_TTRPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <cleat/plugin.h>

struct ttrpc_server;

/*
 * Called on the server's thread for every forwarded event: its topic
 * ("/tasks/exit"), namespace, the event's type URL
 * ("containerd.events.TaskExit"; "" when the envelope has no event) and the
 * event message serialized (`len` bytes; may be NULL when 0).  Everything
 * is borrowed for the call only.  It should return soon: the next event of
 * every shim waits for it.
 */
typedef void (*ttrpc_event_fn)(void *ctx, const char *topic, const char *ns, const char *type_url, const uint8_t *value,
                               size_t len);

/*
 * Listen on `socket_path` (mode 0600; a socket left there by an earlier run
 * is replaced, anything else is refused with ALREADY_EXISTS) and serve
 * events to `fn` on a thread of its own until ttrpc_server_stop().  A path
 * too long for a unix socket is INVALID_ARGUMENT.  *ret is untouched on
 * failure, and then nothing is left on disk.
 */
int ttrpc_events_serve(const struct cleat_host *host, const char *socket_path, ttrpc_event_fn fn, void *ctx,
                       struct ttrpc_server **ret, struct cleat_error **reterr);

/*
 * Stop serving: the thread is joined (no callback runs after this returns),
 * every connection is closed and the socket file is removed.  NULL-safe.
 * Not from the callback itself (the thread would wait for itself).
 */
void ttrpc_server_stop(struct ttrpc_server *s);

#endif
