/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming server: the HTTP/1.1 (optionally TLS) endpoint behind the
 * URLs that Exec, Attach and PortForward return, as kubelet expects of a CRI
 * runtime (containerd's and CRI-O's work the same way).
 *
 *   http://<address>:<port>/exec/<token>
 *   http://<address>:<port>/attach/<token>
 *   http://<address>:<port>/portforward/<token>
 *
 * A token is single use and expires (stream_tokens.h); an unknown, used or
 * expired one is answered 404 before any upgrade.  The client then upgrades
 * to SPDY/3.1 (X-Stream-Protocol-Version v4.channel.k8s.io,
 * v5.channel.k8s.io; portforward.k8s.io) or to WebSocket (channel.k8s.io,
 * base64.channel.k8s.io, v4.channel.k8s.io, v4.base64.channel.k8s.io,
 * v5.channel.k8s.io; for port-forward v4.channel.k8s.io and
 * v4.base64.channel.k8s.io), exactly as kubelet's own streaming server
 * (k8s.io/kubelet/pkg/cri/streaming) speaks them.
 */
#ifndef CLEAT_CORE_STREAM_SERVER_H
#define CLEAT_CORE_STREAM_SERVER_H

#include <stdint.h>

#include "error.h"
#include "stream_tokens.h"

struct runtime_service;
struct stream_server;

struct stream_server_options {
    const char *address;       /* an IPv4 or IPv6 literal to listen on */
    uint16_t port;             /* 0: an ephemeral port */
    const char *tls_cert_file; /* both set: TLS; both NULL or "": plain HTTP */
    const char *tls_key_file;
    int64_t token_ttl_seconds; /* > 0 */
    uint32_t max_sessions;     /* sessions (requests with a valid token) at once; more are answered 503 (0: 128) */
    /*
     * Connections that have not completed their request head yet: they wait
     * in an HTTP gate (http_gate.h), not in a session, and at most this many
     * (0: 1024); past it the oldest is dropped.
     */
    uint32_t max_pending;
    int request_timeout_ms; /* for the TLS handshake and the request head, in all (<= 0: 5000) */
};

/*
 * Listen and serve: the gate's thread takes connections until their request
 * is there; each request with a valid token becomes a session with a thread
 * of its own.  `rs` is what sessions reach the pods and containers through.
 */
int stream_server_start(struct runtime_service *rs, const struct stream_server_options *o, struct stream_server **ret,
                        struct cleat_error **reterr);
/* Stop listening, end every session (their exec'd processes are killed), wait for them.  NULL-safe. */
void stream_server_stop(struct stream_server *s);

/* "http://127.0.0.1:PORT" (https with TLS; a wildcard address is named by its loopback). */
const char *stream_server_base_url(const struct stream_server *s);

/* Register a validated request (taken, also on failure) and return its URL (malloc'd). */
int stream_server_register(struct stream_server *s, struct stream_request *req, char **ret_url,
                           struct cleat_error **reterr);

#endif
