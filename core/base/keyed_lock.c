/* SPDX-License-Identifier: Apache-2.0 */
#include "keyed_lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A list is enough: entries exist only for objects being operated on right now. */
struct keyed_lock {
    struct keyed_lock *next;
    struct keyed_locks *owner;
    unsigned users; /* holder + waiters; guarded by owner->mu */
    int held;       /* guarded by owner->mu */
    char *key;
};

struct keyed_locks {
    pthread_mutex_t mu;
    pthread_cond_t released;
    struct keyed_lock *head;
};

struct keyed_locks *keyed_locks_new(void) {
    struct keyed_locks *kl = calloc(1, sizeof(*kl));
    if (!kl)
        return NULL;
    pthread_mutex_init(&kl->mu, NULL);
    pthread_cond_init(&kl->released, NULL);
    return kl;
}

void keyed_locks_free(struct keyed_locks *kl) {
    if (!kl)
        return;
    pthread_cond_destroy(&kl->released);
    pthread_mutex_destroy(&kl->mu);
    free(kl);
}

struct keyed_lock *keyed_lock_acquire(struct keyed_locks *kl, const char *key) {
    pthread_mutex_lock(&kl->mu);
    struct keyed_lock *l = kl->head;
    while (l && strcmp(l->key, key) != 0)
        l = l->next;
    if (!l) {
        l = calloc(1, sizeof(*l));
        if (!l || !(l->key = strdup(key))) {
            free(l);
            pthread_mutex_unlock(&kl->mu);
            return NULL;
        }
        l->owner = kl;
        l->next = kl->head;
        kl->head = l;
    }
    l->users++;
    /* One condition for all keys: contention on one object is rare and short. */
    while (l->held)
        pthread_cond_wait(&kl->released, &kl->mu);
    l->held = 1;
    pthread_mutex_unlock(&kl->mu);
    return l;
}

void keyed_lock_release(struct keyed_lock *l) {
    if (!l)
        return;
    struct keyed_locks *kl = l->owner;
    pthread_mutex_lock(&kl->mu);
    l->held = 0;
    if (--l->users == 0) {
        struct keyed_lock **pp = &kl->head;
        while (*pp != l)
            pp = &(*pp)->next;
        *pp = l->next;
        free(l->key);
        free(l);
    } else {
        pthread_cond_broadcast(&kl->released);
    }
    pthread_mutex_unlock(&kl->mu);
}
