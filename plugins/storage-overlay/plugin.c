/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay: the plugin descriptor, options, init and fini.
 *
 * Options (all optional):
 *   root: /var/lib/cleat-overlay   where snapshots live; default: the instance's root dir.
 *                                  A short root keeps overlay options within one page, so
 *                                  that they can be mounted with plain mount(2).
 *   mount_options: [index=off]     extra options for every overlay mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "overlay.h"
#include "plugin_config.h"
#include "plugin_fs.h"
#include "plugin_strv.h"

static const char *const ovl_keys[] = {"root", "mount_options", NULL};

/* One `mount_options` item: a single option, and none that the snapshotter itself sets. */
static int check_mount_option(const struct cleat_host *host, const struct cleat_config *item,
                              struct cleat_error **reterr) {
    static const char *const ours[] = {"lowerdir=", "upperdir=", "workdir=", "lowerdir+=", "datadir+=", NULL};
    const char *opt = host->config_scalar0(item);
    if (!opt || !opt[0] || strchr(opt, ','))
        return cleat_config_error(host, item, reterr,
                                  "a mount option must be one non-empty option without ',', not '%s'",
                                  opt ? opt : "(not a string)");
    for (size_t i = 0; ours[i]; i++)
        if (strncmp(opt, ours[i], strlen(ours[i])) == 0)
            return cleat_config_error(host, item, reterr, "mount option '%s' is set by the snapshotter itself", opt);
    return 0;
}

/* Check the options; on success *ret_root (borrowed, NULL if absent) and *ret_extra (owned) are set. */
static int read_options(const struct cleat_host *host, const struct cleat_config *options, const char **ret_root,
                        char ***ret_extra, struct cleat_error **reterr) {
    int r;
    const char *root = NULL;
    if ((r = host->config_check_keys(options, ovl_keys, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "root", NULL, &root, reterr)) < 0)
        return r;
    const struct cleat_config *list = host->config_get0(options, "mount_options");
    uint32_t kind = host->config_kind(list);
    if (kind != CLEAT_CONFIG_ABSENT && kind != CLEAT_CONFIG_NULL && kind != CLEAT_CONFIG_SEQ)
        return cleat_config_error(host, list, reterr, "'mount_options' must be a list of %s", "strings");
    uint64_t n = kind == CLEAT_CONFIG_SEQ ? host->config_count(list) : 0;
    char **extra = calloc(n + 1, sizeof(char *));
    if (!extra)
        return plugin_oom(host, reterr);
    for (uint64_t i = 0; i < n; i++) {
        const struct cleat_config *item = host->config_at0(list, i);
        if ((r = check_mount_option(host, item, reterr)) < 0 || !(extra[i] = strdup(host->config_scalar0(item)))) {
            plugin_strv_free(extra);
            return r < 0 ? r : plugin_oom(host, reterr);
        }
    }
    *ret_root = root;
    *ret_extra = extra;
    return 0;
}

static int ovl_validate(const struct cleat_host *host, const struct cleat_config *options,
                        struct cleat_error **reterr) {
    const char *root;
    char **extra = NULL;
    int r = read_options(host, options, &root, &extra, reterr);
    plugin_strv_free(extra);
    return r;
}

/* The cheap check: is overlay a filesystem type this kernel knows (built in, or its module loaded)? */
static int kernel_has_overlay(void) {
    FILE *f = fopen("/proc/filesystems", "re");
    if (!f)
        return 0;
    char line[256];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *name = strrchr(line, '\t');
        found = strcmp(name ? name + 1 : line, "overlay") == 0;
    }
    fclose(f);
    return found;
}

/* The root as overlay options will spell it: absolute, no trailing '/', nothing overlay would parse. */
static int set_root(struct ovl *o, const char *root, struct cleat_error **reterr) {
    if (!(o->root = strdup(root)))
        return plugin_oom(o->host, reterr);
    for (size_t len = strlen(o->root); len > 1 && o->root[len - 1] == '/';)
        o->root[--len] = '\0';
    if (strpbrk(o->root, ",:\\"))
        return cleat_error_set(
            o->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
            "snapshotter root '%s' contains ',', ':' or '\\', which overlay mount options cannot carry", o->root);
    return 0;
}

static void ovl_fini(void *instance) {
    struct ovl *o = instance;
    if (!o)
        return;
    reaper_stop(o);
    for (size_t i = 0; i < o->n; i++)
        snap_free(o->snaps[i]);
    free(o->snaps);
    for (size_t i = 0; i < o->ndeleting; i++)
        free(o->deleting[i]);
    free(o->deleting);
    plugin_strv_free(o->extra);
    free(o->root);
    if (o->rootfd >= 0)
        close(o->rootfd);
    if (o->lockfd >= 0)
        close(o->lockfd); /* releases the flock */
    pthread_mutex_destroy(&o->lock);
    free(o);
}

static int open_root(struct ovl *o, struct cleat_error **reterr) {
    int r = plugin_mkdir_p(o->root, 0700);
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot create snapshotter root %s: %s",
                               o->root, strerror(-r));
    if ((o->rootfd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot open snapshotter root %s: %s",
                               o->root, strerror(errno));
    /* Two instances on one root would each delete the other's snapshots as orphans. */
    if ((o->lockfd = openat(o->rootfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot open %s/lock: %s", o->root,
                               strerror(errno));
    if (flock(o->lockfd, LOCK_EX | LOCK_NB) < 0)
        return cleat_error_set(o->host, reterr,
                               errno == EWOULDBLOCK ? CLEAT_STATUS_FAILED_PRECONDITION : CLEAT_STATUS_INTERNAL, errno,
                               "snapshotter root %s is in use by another instance or process (%s/lock: %s)", o->root,
                               o->root, strerror(errno));
    return 0;
}

static int ovl_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                    struct cleat_error **reterr) {
    struct ovl *o = calloc(1, sizeof(*o));
    if (!o)
        return plugin_oom(host, reterr);
    o->host = host;
    o->rootfd = o->lockfd = -1;
    pthread_mutex_init(&o->lock, NULL);
    const char *root = NULL;
    int r = read_options(host, options, &root, &o->extra, reterr);
    if (r == 0)
        r = set_root(o, root ? root : host->root_dir(host), reterr);
    if (r == 0 && !kernel_has_overlay())
        r = cleat_error_set(o->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENODEV,
                            "this kernel has no overlay filesystem (not in /proc/filesystems; try 'modprobe overlay')");
    if (r == 0)
        r = open_root(o, reterr);
    if (r == 0)
        r = scan_rebuild(o, reterr);
    if (r == 0 && (r = reaper_start(o)) < 0)
        r = cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r,
                            "cannot start the thread that deletes removed "
                            "snapshots: %s",
                            strerror(-r));
    if (r < 0) {
        ovl_fini(o);
        return r;
    }
    *ret_instance = o;
    return 0;
}

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_SNAPSHOTTER, "storage-overlay", "1.0",
                    "overlayfs snapshots, layered like containerd's overlayfs snapshotter", ovl_validate, ovl_init,
                    ovl_fini, ovl_ops);
