/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One CDI spec file, parsed and checked: its kind, its devices and the
 * container edits of each, and the edits the spec applies whenever any of
 * its devices is used.  CDI spec versions 0.3.0 to 1.0.x are read (1.0.0
 * changed nothing in the file format after 0.8.0), as JSON or YAML (YAML
 * through the config's parser, config_tree.h: no anchors, aliases or tags).
 *
 * As the CDI specification asks, a spec is refused whole when any part is
 * wrong: an unknown field, a field newer than its cdiVersion (a mount's
 * type needs 0.4.0, a device node's hostPath or a device name starting
 * with a digit 0.5.0, annotations or a '.' in the class 0.6.0, intelRdt and
 * additionalGids 0.7.0), a malformed name, a device defined twice, a
 * relative path, a bad hook name or permission string.  Messages are
 * "<name>: <where in the file>: <what>", INVALID_ARGUMENT.
 */
#ifndef CLEAT_CORE_CDI_SPEC_H
#define CLEAT_CORE_CDI_SPEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cleat_error;

/* Spec files larger than this are refused unread (a large vendor spec is a few hundred KiB). */
#define CDI_SPEC_MAX_BYTES (4 << 20)

struct cdi_env {
    char *kv;        /* "NAME=value" */
    uint32_t origin; /* merged edits: index into cdi_edits.origins; 0 in a parsed spec */
};

struct cdi_device_node {
    char *path;      /* in the container, absolute */
    char *host_path; /* on the host, absolute; defaults to path */
    char type;       /* 'c', 'b', 'u', 'p', or 0 when not given (cdi_edits_append fills it from the host) */
    int64_t major, minor;
    int has_file_mode, has_uid, has_gid;
    uint32_t file_mode, uid, gid;
    char *permissions; /* cgroup access, a subset of "rwm"; "" for "none" (no access rule) */
    uint32_t origin;
};

struct cdi_mount {
    char *host_path, *container_path; /* both absolute */
    char *type;                       /* NULL when not given */
    char **options;                   /* NULL-terminated, never NULL */
    uint32_t origin;
};

/* The OCI hook points a CDI hook may name. */
enum cdi_hook_point {
    CDI_HOOK_PRESTART,
    CDI_HOOK_CREATE_RUNTIME,
    CDI_HOOK_CREATE_CONTAINER,
    CDI_HOOK_START_CONTAINER,
    CDI_HOOK_POSTSTART,
    CDI_HOOK_POSTSTOP,
    CDI_HOOK_POINTS
};
/* The OCI name of a hook point ("createContainer"). */
const char *cdi_hook_point_name(enum cdi_hook_point p);

struct cdi_hook {
    enum cdi_hook_point point;
    char *path;         /* absolute */
    char **args, **env; /* NULL-terminated, never NULL */
    int64_t timeout;    /* seconds, > 0; 0 when not given */
    uint32_t origin;
};

/* Container edits: a device's own, a spec's common ones, or (cdi_edits_append) all of a container's. */
struct cdi_edits {
    struct cdi_env *env;
    size_t n_env;
    struct cdi_device_node *nodes;
    size_t n_nodes;
    struct cdi_mount *mounts;
    size_t n_mounts;
    struct cdi_hook *hooks;
    size_t n_hooks;
    uint32_t *gids; /* additionalGids; 0 is left out, as the spec says */
    size_t n_gids;
    /* Present in the file but not applied by cleat (intelRdt, netDevices): requesting them is refused. */
    const char *unsupported;
    /* Merged edits only: the CDI device names the entries came from. */
    char **origins;
    size_t n_origins;
};

struct cdi_device {
    char *name; /* the device's own name, after '=' */
    struct cdi_edits edits;
};

struct cdi_spec {
    char *kind;    /* "vendor/class" */
    char *version; /* cdiVersion as written */
    struct cdi_device *devices;
    size_t n_devices;
    struct cdi_edits edits; /* applied once for any of its devices */
};

/*
 * Parse `len` bytes of spec text (JSON, or YAML when `yaml`) into a JSON
 * value; `name` (the file) prefixes messages.  INVALID_ARGUMENT for syntax.
 */
int cdi_spec_json(const char *name, const char *text, size_t len, int yaml, json_t **ret, struct cleat_error **reterr);

/*
 * Check and convert a parsed spec (see above); `root` is only read.  `yaml`:
 * it came from YAML, where a plain scalar such as `name: 0` is text to a
 * field that wants text.
 */
int cdi_spec_from_json(const char *name, const json_t *root, int yaml, struct cdi_spec **ret,
                       struct cleat_error **reterr);

/* Both of the above. */
int cdi_spec_parse(const char *name, const char *text, size_t len, int yaml, struct cdi_spec **ret,
                   struct cleat_error **reterr);

/* NULL-safe. */
void cdi_spec_free(struct cdi_spec *s);

/* The device of that name (after '='), or NULL. */
const struct cdi_device *cdi_spec_device(const struct cdi_spec *s, const char *name);

/*
 * Merge a device's edits (`src`, a spec's or a device's) into a container's
 * `dst`, attributed to the CDI device `origin` (named in messages):
 *  - device nodes get what they leave out from the host node at host_path
 *    (stat, following symlinks): type, major and minor unless the type and a
 *    major (or the type "p") are given, and the file mode; a host node that
 *    cannot be read, is not a device, or is of another type than the one
 *    given is INVALID_ARGUMENT naming `origin`;
 *  - the same container path twice, from different host nodes (another
 *    type, major or minor), the same mount point from another source, type
 *    or options, and the same environment variable with another value are
 *    conflicts: INVALID_ARGUMENT naming both devices.  The same entry twice
 *    (two devices of one spec sharing it) is kept once.
 * On failure dst may hold part of src; free it.
 */
int cdi_edits_append(struct cdi_edits *dst, const struct cdi_edits *src, const char *origin,
                     struct cleat_error **reterr);

/* Frees what the edits hold (not `e` itself) and empties them; NULL-safe, idempotent. */
void cdi_edits_clear(struct cdi_edits *e);

/* cdi_edits_clear and free(e). */
void cdi_edits_free(struct cdi_edits *e);

#endif
