/* SPDX-License-Identifier: Apache-2.0 */
/* Event fan-out with a bounded queue per subscriber (see events.h). */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clocks.h"

struct event {
    void *data;
    size_t len;
};

struct event_sub {
    struct event_sub *next;
    struct event *ring; /* queue_size slots */
    size_t head, count;
    int dropped;
};

struct event_hub {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* any queue got an event (waiters check their own) */
    uint32_t queue_size;
    struct event_sub *subs;
    size_t n_subs;
    uint64_t published, dropped_subs;
};

struct event_hub *event_hub_new(uint32_t queue_size) {
    struct event_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    cond_init_on_clock(&h->cond, CLOCK_MONOTONIC);
    h->queue_size = queue_size ? queue_size : 1;
    return h;
}

void event_hub_free(struct event_hub *h) {
    if (!h)
        return;
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static void clear_queue(struct event_hub *h, struct event_sub *s) {
    for (size_t i = 0; i < s->count; i++)
        free(s->ring[(s->head + i) % h->queue_size].data);
    s->head = s->count = 0;
}

struct event_sub *event_hub_subscribe(struct event_hub *h) {
    struct event_sub *s = calloc(1, sizeof(*s));
    if (!s || !(s->ring = calloc(h->queue_size, sizeof(*s->ring)))) {
        free(s);
        return NULL;
    }
    pthread_mutex_lock(&h->mu);
    s->next = h->subs;
    h->subs = s;
    h->n_subs++;
    pthread_mutex_unlock(&h->mu);
    return s;
}

void event_hub_unsubscribe(struct event_hub *h, struct event_sub *s) {
    if (!s)
        return;
    pthread_mutex_lock(&h->mu);
    for (struct event_sub **pp = &h->subs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            h->n_subs--;
            break;
        }
    clear_queue(h, s);
    pthread_mutex_unlock(&h->mu);
    free(s->ring);
    free(s);
}

size_t event_hub_subscribers(struct event_hub *h) {
    pthread_mutex_lock(&h->mu);
    size_t n = h->n_subs;
    pthread_mutex_unlock(&h->mu);
    return n;
}

void event_hub_counts(struct event_hub *h, uint64_t *ret_published, uint64_t *ret_dropped_subscribers) {
    pthread_mutex_lock(&h->mu);
    *ret_published = h->published;
    *ret_dropped_subscribers = h->dropped_subs;
    pthread_mutex_unlock(&h->mu);
}

void event_hub_publish(struct event_hub *h, const void *data, size_t len) {
    pthread_mutex_lock(&h->mu);
    h->published++;
    for (struct event_sub *s = h->subs; s; s = s->next) {
        if (s->dropped)
            continue;
        void *copy = s->count < h->queue_size ? malloc(len ? len : 1) : NULL;
        if (!copy) { /* full (or out of memory): this subscriber cannot keep up */
            clear_queue(h, s);
            s->dropped = 1;
            h->dropped_subs++;
            continue;
        }
        memcpy(copy, data, len);
        s->ring[(s->head + s->count) % h->queue_size] = (struct event){.data = copy, .len = len};
        s->count++;
    }
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
}

int event_sub_next(struct event_hub *h, struct event_sub *s, int64_t timeout_ms, void **ret_data, size_t *ret_len) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&h->mu);
    int r = 0;
    while (!s->dropped && s->count == 0 && timeout_ms > 0)
        if (pthread_cond_timedwait(&h->cond, &h->mu, &deadline) == ETIMEDOUT)
            break;
    if (s->dropped) {
        r = -EPIPE;
    } else if (s->count > 0) {
        struct event *e = &s->ring[s->head];
        *ret_data = e->data;
        *ret_len = e->len;
        *e = (struct event){0};
        s->head = (s->head + 1) % h->queue_size;
        s->count--;
        r = 1;
    }
    pthread_mutex_unlock(&h->mu);
    return r;
}
