/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay: the thread that deletes what remove() put in trash/.
 *
 * remove() only renames a snapshot's directory into trash/ (the key is free
 * from then on) and queues its name here; the files are deleted on this
 * thread.  Deleting a container's writable layer took 5-8 ms of every
 * RemoveContainer (most of it the file system freeing inodes), more than
 * the rest of the op.  Names are claimed as any deletion of trash/ is
 * (scan_delete_trash), so cleanup() and this thread never delete the same
 * tree twice; a failure is logged and left for cleanup(), and whatever a
 * killed cleatd left in trash/ init deletes.
 */
#include <stdlib.h>

#include "overlay.h"

/* Lock held: the next queued name (the caller's to free), NULL when none. */
static char *pop(struct ovl *o) {
    return o->nreap ? o->reap_queue[--o->nreap] : NULL;
}

static void *reap(void *arg) {
    struct ovl *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        char *name = pop(o);
        if (!name && o->reap_stop)
            break; /* stopping, and nothing left */
        if (!name) {
            pthread_cond_wait(&o->reap_cond, &o->lock);
            continue;
        }
        pthread_mutex_unlock(&o->lock);
        (void)scan_delete_trash(o, name);
        free(name);
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

int reaper_start(struct ovl *o) {
    pthread_cond_init(&o->reap_cond, NULL);
    int r = pthread_create(&o->reaper, NULL, reap, o);
    if (r != 0) {
        pthread_cond_destroy(&o->reap_cond);
        return -r;
    }
    o->reaper_running = 1;
    return 0;
}

void reaper_queue(struct ovl *o, const char *name) {
    pthread_mutex_lock(&o->lock);
    int queued = o->reaper_running && !o->reap_stop && names_push(&o->reap_queue, &o->nreap, &o->capreap, name) == 0;
    if (queued)
        pthread_cond_signal(&o->reap_cond);
    pthread_mutex_unlock(&o->lock);
    if (!queued)
        (void)scan_delete_trash(o, name); /* no thread, or no memory: delete it here and now */
}

void reaper_stop(struct ovl *o) {
    if (!o->reaper_running)
        return;
    pthread_mutex_lock(&o->lock);
    o->reap_stop = 1;
    pthread_cond_broadcast(&o->reap_cond);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->reaper, NULL); /* it empties the queue first */
    o->reaper_running = 0;
    pthread_cond_destroy(&o->reap_cond);
    free(o->reap_queue);
    o->reap_queue = NULL;
    o->nreap = o->capreap = 0;
}
