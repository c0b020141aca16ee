/* SPDX-License-Identifier: Apache-2.0 */
#include "clocks.h"
#include "stream_tokens.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct entry {
    struct entry *next;
    char token[STREAM_TOKEN_LEN + 1];
    int64_t expires;
    struct stream_request *req;
};

struct stream_tokens {
    pthread_mutex_t mu;
    struct entry *head; /* oldest first */
    size_t n, max;
    int64_t ttl;
    int64_t (*now)(void);
};

void stream_request_free(struct stream_request *req) {
    if (!req)
        return;
    for (size_t i = 0; req->cmd && req->cmd[i]; i++)
        free(req->cmd[i]);
    free(req->cmd);
    free(req->ports);
    free(req->netns);
    free(req);
}

struct stream_tokens *stream_tokens_new(int64_t ttl_ns, size_t max) {
    struct stream_tokens *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    pthread_mutex_init(&t->mu, NULL);
    t->ttl = ttl_ns;
    t->max = max ? max : 1;
    t->now = monotonic_ns;
    return t;
}

static void entry_free(struct entry *e) {
    stream_request_free(e->req);
    free(e);
}

void stream_tokens_free(struct stream_tokens *t) {
    if (!t)
        return;
    while (t->head) {
        struct entry *e = t->head;
        t->head = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void stream_tokens_set_clock(struct stream_tokens *t, int64_t (*now)(void)) {
    t->now = now;
}

/* Drop expired entries from the front, and the oldest while over `keep`.  Locked. */
static void prune(struct stream_tokens *t, int64_t now, size_t keep) {
    while (t->head && (t->head->expires <= now || t->n > keep)) {
        struct entry *e = t->head;
        t->head = e->next;
        t->n--;
        entry_free(e);
    }
}

int stream_tokens_put(struct stream_tokens *t, struct stream_request *req, char ret_token[STREAM_TOKEN_LEN + 1]) {
    static const char url64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct entry *e = calloc(1, sizeof(*e));
    uint8_t rnd[STREAM_TOKEN_LEN];
    if (!e) {
        stream_request_free(req);
        return -ENOMEM;
    }
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        free(e);
        stream_request_free(req);
        return -EIO;
    }
    for (size_t i = 0; i < STREAM_TOKEN_LEN; i++) /* 6 random bits a character: 132 bits */
        e->token[i] = url64[rnd[i] & 63];
    e->req = req;
    pthread_mutex_lock(&t->mu);
    int64_t now = t->now();
    e->expires = now + t->ttl;
    prune(t, now, t->max - 1);
    struct entry **tail = &t->head;
    while (*tail) /* ttl is fixed, so appending keeps the list ordered by expiry */
        tail = &(*tail)->next;
    *tail = e;
    t->n++;
    memcpy(ret_token, e->token, sizeof(e->token));
    pthread_mutex_unlock(&t->mu);
    return 0;
}

struct stream_request *stream_tokens_take(struct stream_tokens *t, const char *token, enum stream_kind kind) {
    struct stream_request *req = NULL;
    if (strlen(token) != STREAM_TOKEN_LEN)
        return NULL;
    pthread_mutex_lock(&t->mu);
    prune(t, t->now(), t->max);
    for (struct entry **p = &t->head; *p; p = &(*p)->next) {
        /* Constant time, so a token cannot be found a character at a time. */
        if (CRYPTO_memcmp((*p)->token, token, STREAM_TOKEN_LEN) != 0)
            continue;
        struct entry *e = *p;
        if (e->req->kind == kind) { /* a token is spent even when presented on the wrong path */
            req = e->req;
            e->req = NULL;
        }
        *p = e->next;
        t->n--;
        entry_free(e);
        break;
    }
    pthread_mutex_unlock(&t->mu);
    return req;
}
