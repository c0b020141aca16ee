/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pinned images (images.pinned): the references the configuration names
 * are resolved against the image store whenever kubelet asks, so a pin
 * follows its tag to whichever image carries it now, and a pin on an image
 * that is not on the node yet names nothing until it is pulled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "image_internal.h"
#include "image_ref.h"

/* A pin must be something PullImage or an image lookup would take: an ID, a transport reference, or a docker one. */
static int check_pin(const char *pin, struct cleat_error **reterr) {
    if (strncmp(pin, "sha256:", 7) == 0)
        return id_is_valid(pin + 7)
                   ? 0
                   : error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "images.pinned: '%s' is not an image ID (sha256: and 64 hex digits)", pin);
    char *scheme = NULL;
    const char *rest = NULL;
    if (image_ref_split_scheme(pin, &scheme, &rest) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int local = *scheme != '\0';
    free(scheme);
    if (local)
        return 0; /* oci:, oci-archive:...: recorded verbatim, matched verbatim */
    struct image_ref *parsed = NULL;
    int r = image_ref_parse(pin, &parsed, reterr);
    image_ref_free(parsed);
    return r < 0 ? error_prefix(r, reterr, "images.pinned") : 0;
}

int image_pins_copy(const char *const *pinned, char ***ret, struct cleat_error **reterr) {
    size_t n = 0;
    while (pinned && pinned[n])
        n++;
    char **v = calloc(n + 1, sizeof(*v));
    if (!v)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int r = check_pin(pinned[i], reterr);
        if (r >= 0 && !(v[i] = strdup(pinned[i])))
            r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        if (r < 0) {
            strv_free(v);
            return r;
        }
    }
    *ret = v;
    return 0;
}

int image_service_check_pins(const char *const *pinned, struct cleat_error **reterr) {
    for (size_t i = 0; pinned && pinned[i]; i++) {
        int r = check_pin(pinned[i], reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

char **image_service_pinned_ids(struct image_service *svc) {
    struct image_settings *s = image_settings_get(svc);
    char *const *pinned = s->pinned;
    size_t n = 0, found = 0;
    while (pinned && pinned[n])
        n++;
    char **ids = calloc(n + 1, sizeof(*ids));
    for (size_t i = 0; ids && i < n; i++) {
        char id[ID_HEX_LEN + 1];
        if (image_store_resolve(svc->images, pinned[i], id, NULL) < 0)
            continue; /* not on the node (yet) */
        if (!(ids[found] = strdup(id))) {
            strv_free(ids);
            ids = NULL;
            break;
        }
        found++;
    }
    image_settings_unref(s);
    return ids;
}

int image_ids_contain(char *const *ids, const char *id) {
    for (size_t i = 0; ids && ids[i]; i++)
        if (strcmp(ids[i], id) == 0)
            return 1;
    return 0;
}
