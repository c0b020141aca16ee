/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The requests that Exec, Attach and PortForward validated, waiting for the
 * client to connect to their URL.  A token is 128 random bits (base64url,
 * 22 characters), valid once and for a limited time; at most `max` wait at
 * once (the oldest is dropped first), as in kubelet's request cache.
 */
#ifndef CLEAT_CORE_STREAM_TOKENS_H
#define CLEAT_CORE_STREAM_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#define STREAM_TOKEN_LEN 22

enum stream_kind { STREAM_EXEC = 1, STREAM_ATTACH, STREAM_PORTFORWARD };

struct stream_request {
    enum stream_kind kind;
    char id[65]; /* the container (exec, attach) or the pod (port-forward) */
    char **cmd;  /* exec: NULL-terminated */
    int tty, in, out, err;
    int stdin_once; /* attach: the container closes stdin when this attacher's input ends */
    int32_t *ports; /* port-forward: the ports of the request */
    size_t n_ports;
    char *netns; /* port-forward: the pod's pinned network namespace, NULL for the host's */
};
void stream_request_free(struct stream_request *req);

struct stream_tokens;

/* ttl_ns: how long a token stays valid; max: how many may wait. */
struct stream_tokens *stream_tokens_new(int64_t ttl_ns, size_t max);
void stream_tokens_free(struct stream_tokens *t);
/* For tests: the clock (CLOCK_MONOTONIC ns) the cache reads. */
void stream_tokens_set_clock(struct stream_tokens *t, int64_t (*now)(void));

/* Store req (taken, also on failure) under a new token; 0 or negative errno. */
int stream_tokens_put(struct stream_tokens *t, struct stream_request *req, char ret_token[STREAM_TOKEN_LEN + 1]);
/* The request of a valid token of that kind, removed from the cache (the caller frees it); NULL otherwise. */
struct stream_request *stream_tokens_take(struct stream_tokens *t, const char *token, enum stream_kind kind);

#endif
