/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image service's reloadable settings (the signature policy, its
 * registries.d, the pins) as one reference-counted snapshot: loaded and
 * checked whole before anything changes, swapped in under a short lock, and
 * freed by whoever lets go of it last (the service, or a pull that started
 * with it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"
#include "log.h"

void image_settings_unref(struct image_settings *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    trust_policy_free(s->policy);
    trust_lookaside_free(s->lookaside);
    strv_free(s->pinned);
    free(s);
}

int image_settings_load(const struct image_service_options *o, struct image_settings **ret,
                        struct cleat_error **reterr) {
    struct image_settings *s = calloc(1, sizeof(*s));
    if (!s)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    atomic_init(&s->refs, 1);
    int r = image_pins_copy(o->pinned, &s->pinned, reterr);
    if (r >= 0 && o->signature_policy)
        r = trust_policy_load(o->signature_policy, &s->policy, reterr);
    if (r >= 0 && o->signature_policy && o->registries_d)
        r = trust_lookaside_load(o->registries_d, &s->lookaside, reterr);
    if (r < 0) {
        image_settings_unref(s);
        return r;
    }
    *ret = s;
    return 0;
}

int image_service_check_trust(const struct image_service_options *o, struct cleat_error **reterr) {
    struct image_service_options trust = {.signature_policy = o->signature_policy, .registries_d = o->registries_d};
    struct image_settings *s = NULL;
    int r = image_settings_load(&trust, &s, reterr);
    image_settings_unref(s);
    return r;
}

struct image_settings *image_settings_get(struct image_service *svc) {
    pthread_mutex_lock(&svc->settings_lock);
    struct image_settings *s = svc->settings;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&svc->settings_lock);
    return s;
}

void image_service_set_settings(struct image_service *svc, struct image_settings *s) {
    pthread_mutex_lock(&svc->settings_lock);
    struct image_settings *old = svc->settings;
    svc->settings = s;
    pthread_mutex_unlock(&svc->settings_lock);
    image_settings_unref(old); /* a pull still holding it frees it when done */
}

static int same_policy(const struct trust_policy *a, const struct trust_policy *b) {
    if (!a || !b)
        return a == b;
    return strcmp(a->path, b->path) == 0 && a->digest[0] && strcmp(a->digest, b->digest) == 0;
}

unsigned image_service_settings_changes(struct image_service *svc, const struct image_settings *s) {
    struct image_settings *cur = image_settings_get(svc);
    unsigned changes = (same_policy(cur->policy, s->policy) ? 0 : IMAGE_SETTINGS_POLICY) |
                       (strv_equal(cur->pinned, s->pinned) ? 0 : IMAGE_SETTINGS_PINS);
    image_settings_unref(cur);
    return changes;
}
