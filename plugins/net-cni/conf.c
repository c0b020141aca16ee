/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: the network config, chosen as kubelet's runtimes do.
 *
 * The files of conf_dir ending in .conflist, .conf or .json are read in
 * lexical order; the first one that is valid wins (or, with network_name,
 * the first valid one of that name).  A .conf / .json without "plugins" is
 * a single plugin and is wrapped into a list.  Broken files are skipped,
 * and said so: in the log when another file wins, in status() when none does.
 *
 * A CNI daemonset installs its config after the node started, so the dir is
 * looked at again on every status() and setup(): a fingerprint of the
 * candidate files (names, inodes, sizes, mtimes) costs one readdir and a few
 * fstatat()s; the files are parsed again only when it changed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni.h"
#include "plugin_fs.h"
#include "plugin_strv.h"

#define NC_CONF_MAX (1024 * 1024)

int nc_valid_name(const char *s) {
    if (!s || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(s);
}

static int conf_file_name(const char *name) {
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0;
    const char *exts[] = {".conflist", ".conf", ".json"};
    for (size_t i = 0; i < 3; i++) {
        size_t e = strlen(exts[i]);
        if (n > e && strcmp(name + n - e, exts[i]) == 0)
            return 1;
    }
    return 0;
}

static int is_conflist(const char *name) {
    size_t n = strlen(name);
    return n > 9 && strcmp(name + n - 9, ".conflist") == 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fnv(uint64_t *h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        *h = (*h ^ p[i]) * 0x100000001b3ull;
}

/* The candidate file names, sorted, and the fingerprint of the dir; NULL names (and stamp 1) if it cannot be read. */
static char **scan_dir(const char *dir, uint64_t *ret_stamp) {
    uint64_t h = 0xcbf29ce484222325ull;
    DIR *d = opendir(dir);
    if (!d) {
        *ret_stamp = 1;
        return NULL;
    }
    size_t n = 0, cap = 8;
    char **names = calloc(cap + 1, sizeof(char *));
    struct dirent *de;
    while (names && (de = readdir(d))) {
        struct stat st;
        if (!conf_file_name(de->d_name) || fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
            continue;
        fnv(&h, de->d_name, strlen(de->d_name) + 1);
        int64_t f[5] = {(int64_t)st.st_ino, (int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                        (int64_t)st.st_mtim.tv_nsec, (int64_t)st.st_ctim.tv_nsec};
        fnv(&h, f, sizeof(f));
        if (n == cap) {
            char **nn = realloc(names, (cap * 2 + 1) * sizeof(char *));
            if (!nn)
                break;
            names = nn;
            cap *= 2;
        }
        names[n] = strdup(de->d_name);
        if (names[n])
            names[++n] = NULL;
    }
    closedir(d);
    if (names)
        qsort(names, n, sizeof(char *), cmp_names);
    *ret_stamp = h | 2; /* never 0 (never scanned) nor 1 (no dir) */
    return names;
}

/* --- parsing -------------------------------------------------------------------- */

static int fail_msg(char **ret_msg, const char *fmt, ...) CLEAT_PRINTF(2, 3);
static int fail_msg(char **ret_msg, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(ret_msg, fmt, ap) < 0)
        *ret_msg = NULL;
    va_end(ap);
    return -EINVAL;
}

static int check_plugins(const json_t *plugins, char **ret_msg) {
    if (!json_is_array(plugins) || json_array_size(plugins) == 0)
        return fail_msg(ret_msg, "\"plugins\" must be a non-empty list");
    size_t i;
    const json_t *p;
    json_array_foreach(plugins, i, p) {
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!json_is_object(p))
            return fail_msg(ret_msg, "plugin %zu is not an object", i);
        if (!type || !type[0] || strchr(type, '/') || type[0] == '.')
            return fail_msg(ret_msg, "plugin %zu has no valid \"type\"", i);
        const json_t *caps = json_object_get(p, "capabilities");
        if (caps && !json_is_object(caps))
            return fail_msg(ret_msg, "plugin %zu (%s): \"capabilities\" must be an object", i, type);
    }
    return 0;
}

static int check_list(const json_t *list, char **ret_msg) {
    const char *name = json_string_value(json_object_get(list, "name"));
    const char *version = json_string_value(json_object_get(list, "cniVersion"));
    const json_t *versions = json_object_get(list, "cniVersions");
    const json_t *dc = json_object_get(list, "disableCheck");
    if (!name)
        return fail_msg(ret_msg, "no \"name\"");
    if (!nc_valid_name(name))
        return fail_msg(ret_msg, "\"name\" '%s' is not a valid network name", name);
    if (!version)
        return fail_msg(ret_msg, "no \"cniVersion\"");
    if (nc_version_num(version) < 0)
        return fail_msg(ret_msg, "\"cniVersion\" '%s' is not a version", version);
    if (versions && !json_is_array(versions))
        return fail_msg(ret_msg, "\"cniVersions\" must be a list of versions");
    if (dc && !json_is_boolean(dc))
        return fail_msg(ret_msg, "\"disableCheck\" must be true or false");
    char v[32];
    if (nc_conf_max_version(list, v, sizeof(v)) < 0)
        return fail_msg(ret_msg, "cniVersion '%s' is not supported (cleat speaks 0.1.0 to 1.1.0)", version);
    return check_plugins(json_object_get(list, "plugins"), ret_msg);
}

/* A single plugin's conf as a list of one: the list takes its name and version. */
static json_t *wrap_single(json_t *conf) {
    json_t *list = json_object();
    json_t *plugins = json_array();
    if (!list || !plugins || json_array_append(plugins, conf) < 0) {
        json_decref(list);
        json_decref(plugins);
        return NULL;
    }
    const char *keys[] = {"name", "cniVersion", "disableCheck"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(conf, keys[i]))
            json_object_set(list, keys[i], json_object_get(conf, keys[i]));
    json_object_set_new(list, "plugins", plugins);
    return list;
}

int nc_conf_parse(const char *data, size_t len, int single_ok, json_t **ret_list, char **ret_msg) {
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root)
        return fail_msg(ret_msg, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail_msg(ret_msg, "not a JSON object");
    }
    json_t *list = root;
    if (!json_object_get(root, "plugins")) {
        if (!single_ok) {
            json_decref(root);
            return fail_msg(ret_msg, "no \"plugins\" list");
        }
        list = wrap_single(root);
        json_decref(root);
        if (!list)
            return fail_msg(ret_msg, "out of memory");
    }
    int r = check_list(list, ret_msg);
    if (r < 0) {
        json_decref(list);
        return r;
    }
    *ret_list = list;
    return 0;
}

/* --- choosing ------------------------------------------------------------------- */

static struct nc_conf *conf_new(const char *file, json_t *list) {
    struct nc_conf *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->refs = 1;
    c->file = strdup(file);
    c->name = strdup(json_string_value(json_object_get(list, "name")));
    c->list = json_incref(list);
    nc_conf_max_version(list, c->version, sizeof(c->version));
    if (!c->file || !c->name) {
        free(c->file);
        free(c->name);
        json_decref(c->list);
        free(c);
        return NULL;
    }
    return c;
}

static void conf_free(struct nc_conf *c) {
    free(c->file);
    free(c->name);
    json_decref(c->list);
    free(c);
}

void nc_conf_unref(struct nc *nc, struct nc_conf *conf) {
    if (!conf)
        return;
    pthread_mutex_lock(&nc->lock);
    int last = --conf->refs == 0;
    pthread_mutex_unlock(&nc->lock);
    if (last)
        conf_free(conf);
}

/* Append "; <path>: <msg>" to *skipped. */
static void note_skip(char **skipped, const char *path, const char *msg) {
    char *s = NULL;
    if (asprintf(&s, "%s%s%s: %s", *skipped ? *skipped : "", *skipped ? "; " : "", path, msg ? msg : "?") < 0)
        return;
    free(*skipped);
    *skipped = s;
}

/* Try one file: 1 and *ret when it is the one, 0 to go on (with a note in *skipped when it is broken). */
static int try_file(struct nc *nc, const char *name, struct nc_conf **ret, char **skipped) {
    _cleanup_free_ char *path = NULL, *data = NULL, *msg = NULL;
    size_t len = 0;
    if (asprintf(&path, "%s/%s", nc->conf_dir, name) < 0)
        return 0;
    int r = plugin_read_file(path, NC_CONF_MAX, &data, &len);
    if (r < 0) {
        note_skip(skipped, path, strerror(-r));
        return 0;
    }
    json_t *list = NULL;
    if (nc_conf_parse(data, len, !is_conflist(name), &list, &msg) < 0) {
        note_skip(skipped, path, msg);
        return 0;
    }
    const char *net = json_string_value(json_object_get(list, "name"));
    if (nc->network_name && strcmp(net, nc->network_name) != 0) {
        json_decref(list);
        return 0;
    }
    *ret = conf_new(path, list);
    json_decref(list);
    return *ret != NULL;
}

static void load(struct nc *nc, char **names, struct nc_conf **ret_conf, char **ret_error) {
    char *skipped = NULL;
    *ret_conf = NULL;
    for (size_t i = 0; names && names[i] && !*ret_conf; i++)
        try_file(nc, names[i], ret_conf, &skipped);
    if (*ret_conf) {
        if (skipped)
            cleat_log(nc->host, CLEAT_LOG_WARNING, "network config %s chosen; skipped: %s", (*ret_conf)->file, skipped);
        else
            cleat_log(nc->host, CLEAT_LOG_INFO, "network config %s (network '%s')", (*ret_conf)->file,
                      (*ret_conf)->name);
        free(skipped);
        *ret_error = NULL;
        return;
    }
    const char *named = nc->network_name ? " named " : "";
    if (asprintf(ret_error, "no valid network config%s%s%s%s found in %s%s%s", named, nc->network_name ? "'" : "",
                 nc->network_name ? nc->network_name : "", nc->network_name ? "'" : "", nc->conf_dir,
                 skipped ? ": " : "", skipped ? skipped : "") < 0)
        *ret_error = NULL;
    free(skipped);
}

int nc_conf_get(struct nc *nc, struct nc_conf **ret, struct cleat_error **reterr) {
    uint64_t stamp;
    char **names = scan_dir(nc->conf_dir, &stamp);
    pthread_mutex_lock(&nc->lock);
    int fresh = stamp == nc->stamp;
    pthread_mutex_unlock(&nc->lock);
    if (!fresh) {
        struct nc_conf *conf, *old;
        char *error;
        load(nc, names, &conf, &error);
        pthread_mutex_lock(&nc->lock);
        old = nc->conf;
        nc->conf = conf;
        free(nc->conf_error);
        nc->conf_error = error;
        nc->stamp = stamp;
        pthread_mutex_unlock(&nc->lock);
        nc_conf_unref(nc, old);
    }
    plugin_strv_free(names);
    pthread_mutex_lock(&nc->lock);
    struct nc_conf *c = nc->conf;
    if (c)
        c->refs++;
    int r = c ? 0
              : cleat_error_set(nc->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT, "%s",
                                nc->conf_error ? nc->conf_error : "no valid network config found");
    pthread_mutex_unlock(&nc->lock);
    *ret = c;
    return r;
}
