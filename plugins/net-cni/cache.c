/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: the result cache.
 *
 * After a successful ADD, <cache_dir>/results/<network>-<sandbox id>-<ifname>.json
 * keeps what DEL and CHECK need to undo or probe exactly what ADD did: the
 * conflist as used, the cniVersion, the capability arguments, CNI_ARGS, the
 * netns and the final result.  It is written atomically (temp file, fsync,
 * rename, fsync of the dir) before setup() returns, so that a cleatd killed
 * at any point either has it or has not told the core the pod is networked.
 * The network's name is in the file name for humans; lookups go by the
 * "-<id>-<ifname>.json" suffix, since the conf (and its name) may have
 * changed by the time DEL comes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cni.h"
#include "plugin_fs.h"

#define NC_CACHE_KIND "cleat-cni-result/1"
#define NC_CACHE_MAX (16 * 1024 * 1024)

static int results_dir(const struct nc *nc, char *buf, size_t size) {
    return snprintf(buf, size, "%s/results", nc->cache_dir) >= (int)size ? -ENAMETOOLONG : 0;
}

/* The file name of the (id, ifname) entry in `dir`, malloc'd, or NULL (errno ENOENT if there is none). */
static char *find_entry(const char *dir, const char *id, const char *ifname) {
    char suffix[512];
    snprintf(suffix, sizeof(suffix), "-%s-%s.json", id, ifname);
    size_t sl = strlen(suffix);
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *found = NULL;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] != '.' && n > sl && strcmp(de->d_name + n - sl, suffix) == 0)
            found = strdup(de->d_name);
    }
    closedir(d);
    if (!found)
        errno = ENOENT;
    return found;
}

/* dir/name replaced whole (see plugin_write_atomic), and the rename made durable. */
static int write_atomic(const char *dir, const char *name, const char *data) {
    char tmp[4400], path[4400];
    /* A name that does not fit is refused rather than written under a cut name. */
    int nt = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    int np = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (nt < 0 || np < 0 || (size_t)nt >= sizeof(tmp) || (size_t)np >= sizeof(path))
        return -ENAMETOOLONG;
    int r = plugin_write_atomic(AT_FDCWD, tmp, path, data, strlen(data));
    if (r == 0)
        (void)plugin_fsync_dir(AT_FDCWD, dir); /* best effort: the file itself is complete and synced */
    return r;
}

int nc_cache_write(struct nc *nc, const char *id, const char *ifname, const char *netns, const char *cni_args,
                   const struct nc_conf *conf, const char *version, const json_t *caps, const json_t *result,
                   struct cleat_error **reterr) {
    char dir[4200], name[1024];
    if (results_dir(nc, dir, sizeof(dir)) < 0 ||
        snprintf(name, sizeof(name), "%s-%s-%s.json", conf->name, id, ifname) >= (int)sizeof(name))
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, ENAMETOOLONG,
                               "cache file name too long");
    _cleanup_json_ json_t *root = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:O}", "kind", NC_CACHE_KIND, "containerId", id, "ifName",
        ifname, "networkName", conf->name, "netns", netns ? netns : "", "cniArgs", cni_args ? cni_args : "", "file",
        conf->file, "cniVersion", version, "config", conf->list, "capabilityArgs", caps, "result", result);
    _cleanup_free_ char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (!text)
        return plugin_oom(nc->host, reterr);
    int r = plugin_mkdir_p(dir, 0700);
    if (r == 0)
        r = write_atomic(dir, name, text);
    if (r < 0)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INTERNAL, -r,
                               "cannot write the CNI result cache %s/%s: %s", dir, name, strerror(-r));
    return 0;
}

static int parse_entry(struct nc *nc, const char *path, json_t *root, struct nc_cached *ret,
                       struct cleat_error **reterr) {
    const char *kind = json_string_value(json_object_get(root, "kind"));
    _cleanup_free_ char *msg = NULL;
    json_t *list = NULL;
    const char *conf_text = NULL;
    _cleanup_free_ char *dumped = json_dumps(json_object_get(root, "config"), JSON_COMPACT);
    conf_text = dumped;
    if (!kind || strcmp(kind, NC_CACHE_KIND) != 0 || !conf_text ||
        nc_conf_parse(conf_text, strlen(conf_text), 0, &list, &msg) < 0)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INTERNAL, EINVAL, "CNI result cache %s is not valid%s%s",
                               path, msg ? ": " : "", msg ? msg : "");
    *ret = (struct nc_cached){
        .root = root,
        .list = list,
        .version = json_string_value(json_object_get(root, "cniVersion")),
        .result = json_object_get(root, "result"),
        .caps = json_object_get(root, "capabilityArgs"),
        .ifname = json_string_value(json_object_get(root, "ifName")),
    };
    if (nc_version_num(ret->version) < 0 || !json_is_object(ret->result) || !ret->ifname) {
        json_decref(list);
        *ret = (struct nc_cached){0};
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INTERNAL, EINVAL, "CNI result cache %s is not valid",
                               path);
    }
    json_incref(root);
    return 0;
}

int nc_cache_read(struct nc *nc, const char *id, const char *ifname, struct nc_cached *ret,
                  struct cleat_error **reterr) {
    char dir[4200];
    *ret = (struct nc_cached){0};
    if (results_dir(nc, dir, sizeof(dir)) < 0)
        return -ENOENT;
    _cleanup_free_ char *name = find_entry(dir, id, ifname);
    if (!name)
        return -ENOENT;
    _cleanup_free_ char *path = NULL, *data = NULL;
    size_t len;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return plugin_oom(nc->host, reterr);
    int r = plugin_read_file(path, NC_CACHE_MAX, &data, &len);
    if (r == -ENOENT)
        return r;
    if (r < 0)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot read %s: %s", path, strerror(-r));
    _cleanup_json_ json_t *root = json_loadb(data, len, 0, NULL);
    return parse_entry(nc, path, root, ret, reterr);
}

int nc_cache_remove(struct nc *nc, const char *id, const char *ifname, struct cleat_error **reterr) {
    char dir[4200];
    if (results_dir(nc, dir, sizeof(dir)) < 0)
        return 0;
    char *name;
    while ((name = find_entry(dir, id, ifname))) {
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        free(name);
        if (unlink(path) < 0 && errno != ENOENT)
            return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot remove %s: %s", path,
                                   strerror(errno));
    }
    return 0;
}

void nc_cached_clear(struct nc_cached *c) {
    json_decref(c->list);
    json_decref(c->root);
    *c = (struct nc_cached){0};
}
