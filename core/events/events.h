/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fan-out of events to any number of subscribers (GetContainerEvents
 * streams), each with a bounded queue of its own.
 *
 * Publishing never waits for a subscriber: it copies the event into every
 * queue under the hub's lock and returns.  A subscriber whose queue is full
 * is dropped on the spot (its queue is emptied and it is told so by its next
 * event_sub_next), so one stuck client can neither slow the daemon nor make
 * it hold an unbounded backlog; a dropped client reconnects and relists, as
 * kubelet's evented PLEG does when its stream ends.
 *
 * Events are opaque bytes (a packed ContainerEventResponse).  Thread-safe.
 */
#ifndef CLEAT_CORE_EVENTS_H
#define CLEAT_CORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

struct event_hub;
struct event_sub;

/* queue_size: events one subscriber may have waiting (at least 1). */
struct event_hub *event_hub_new(uint32_t queue_size);
/* NULL-safe.  Every subscription must have been ended first. */
void event_hub_free(struct event_hub *hub);

/* A new subscription: it receives every event published from now on.  NULL when out of memory. */
struct event_sub *event_hub_subscribe(struct event_hub *hub);
/* End a subscription and free what it still holds.  NULL-safe. */
void event_hub_unsubscribe(struct event_hub *hub, struct event_sub *sub);
/* Subscriptions now (so publishers can skip building events nobody wants). */
size_t event_hub_subscribers(struct event_hub *hub);
/* Events published so far, and subscribers dropped for falling behind. */
void event_hub_counts(struct event_hub *hub, uint64_t *ret_published, uint64_t *ret_dropped_subscribers);

/* Copy `len` bytes to every subscriber's queue. */
void event_hub_publish(struct event_hub *hub, const void *data, size_t len);

/*
 * The subscription's next event, waiting up to timeout_ms (0: do not wait):
 * 1 with *ret_data (malloc'd) and *ret_len, 0 when none came in time,
 * -EPIPE once the subscriber was dropped for falling behind, -ENOMEM.
 */
int event_sub_next(struct event_hub *hub, struct event_sub *sub, int64_t timeout_ms, void **ret_data, size_t *ret_len);

#endif
