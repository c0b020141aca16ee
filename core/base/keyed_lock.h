/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One mutex per object ID, made on demand: the core serialises every
 * lifecycle operation on one pod or container (a StopContainer waiting out
 * its grace period must not let a RemoveContainer run underneath it) while
 * operations on different objects run in parallel on the worker threads.
 * An entry lives only while someone holds or waits for it.
 */
#ifndef CLEAT_CORE_KEYED_LOCK_H
#define CLEAT_CORE_KEYED_LOCK_H

struct keyed_locks;
struct keyed_lock;

/* NULL on out of memory. */
struct keyed_locks *keyed_locks_new(void);
/* Every lock must have been released.  NULL-safe. */
void keyed_locks_free(struct keyed_locks *kl);

/* Block until `key` is ours; NULL only on out of memory.  Not recursive. */
struct keyed_lock *keyed_lock_acquire(struct keyed_locks *kl, const char *key);
/* NULL-safe. */
void keyed_lock_release(struct keyed_lock *l);

#endif
