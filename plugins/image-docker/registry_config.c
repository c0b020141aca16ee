/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-docker: the instance's `options:` and the endpoints of a registry.
 *
 *   options:
 *     max_concurrent_downloads: 3   # fetch() calls running at once, per instance
 *     stall_timeout_seconds: 30     # a download with no byte for this long is cancelled
 *     connect_timeout_seconds: 10
 *     retries: 3                    # extra attempts on transient errors, back-off 200 ms, 400 ms, ...
 *     registries:
 *       "127.0.0.1:5000": {insecure: true}  # plain http, only when said so
 *       "myreg.example": {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem,
 *                         mirrors: ["https://mirror.example"]}
 *
 * Settings are looked up by the host[:port] a request connects to, so a
 * mirror or a token server gets its TLS settings from its own entry.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "docker.h"

static const char *const top_keys[] = {
    "max_concurrent_downloads", "stall_timeout_seconds", "connect_timeout_seconds", "retries", "registries", NULL};
static const char *const registry_keys[] = {"insecure", "ca_file", "cert_file", "key_file", "mirrors", NULL};

static int at_error(const struct cleat_host *host, const struct cleat_config *node, struct cleat_error **reterr,
                    const char *what, const char *detail) {
    return cleat_config_error(host, node, reterr, "%s %s", what, detail);
}

char *dk_url_hostport(const char *url) {
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else
        return NULL;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || memchr(p, '@', n)) /* no user:password@ in configured URLs */
        return NULL;
    return strndup(p, n);
}

/* A path to a file that must be readable (checked at start-up and on reload, so a typo fails early); copied. */
static int read_file_option(const struct cleat_host *host, const struct cleat_config *node, const char *key, char **ret,
                            struct cleat_error **reterr) {
    const char *path = NULL;
    int r = host->config_get_string(node, key, NULL, &path, reterr);
    if (r < 0 || !path)
        return r;
    if (path[0] != '/')
        return at_error(host, host->config_get0(node, key), reterr, key, "must be an absolute path");
    if (access(path, R_OK) < 0) {
        char detail[512];
        snprintf(detail, sizeof(detail), "'%s' cannot be read: %s", path, strerror(errno));
        return at_error(host, host->config_get0(node, key), reterr, key, detail);
    }
    *ret = strdup(path);
    return *ret ? 0 : plugin_oom(host, reterr);
}

static int read_mirrors(const struct cleat_host *host, const struct cleat_config *node, struct dk_registry *reg,
                        struct cleat_error **reterr) {
    const struct cleat_config *seq = host->config_get0(node, "mirrors");
    uint32_t kind = host->config_kind(seq);
    if (kind == CLEAT_CONFIG_ABSENT || kind == CLEAT_CONFIG_NULL)
        return 0;
    if (kind != CLEAT_CONFIG_SEQ)
        return at_error(host, seq, reterr, "mirrors", "must be a list of http(s) URLs");
    uint64_t n = host->config_count(seq);
    reg->mirrors = calloc(n + 1, sizeof(char *));
    if (!reg->mirrors)
        return plugin_oom(host, reterr);
    for (uint64_t i = 0; i < n; i++) {
        const struct cleat_config *item = host->config_at0(seq, i);
        const char *url = host->config_scalar0(item);
        _cleanup_free_ char *hp = url ? dk_url_hostport(url) : NULL;
        if (!hp || strpbrk(url, "?# \t"))
            return at_error(host, item, reterr, "mirror",
                            "must be an http:// or https:// URL (scheme://host[:port][/path], no query)");
        if (!(reg->mirrors[i] = strdup(url)))
            return plugin_oom(host, reterr);
    }
    return 0;
}

static int read_registry(const struct cleat_host *host, const struct cleat_config *node, const char *key,
                         struct dk_registry *reg, struct cleat_error **reterr) {
    int r;
    if (!*key || strpbrk(key, "/@?# \t"))
        return at_error(host, node, reterr, "registry",
                        "keys must be host[:port], e.g. \"docker.io\" or \"127.0.0.1:5000\"");
    if (!(reg->host = strdup(key)))
        return plugin_oom(host, reterr);
    if ((r = host->config_check_keys(node, registry_keys, reterr)) < 0 ||
        (r = host->config_get_bool(node, "insecure", 0, &reg->insecure, reterr)) < 0 ||
        (r = read_file_option(host, node, "ca_file", &reg->ca_file, reterr)) < 0 ||
        (r = read_file_option(host, node, "cert_file", &reg->cert_file, reterr)) < 0 ||
        (r = read_file_option(host, node, "key_file", &reg->key_file, reterr)) < 0)
        return r;
    if (reg->key_file && !reg->cert_file)
        return at_error(host, host->config_get0(node, "key_file"), reterr, "key_file", "needs a cert_file");
    return read_mirrors(host, node, reg, reterr);
}

static int read_registries(const struct cleat_host *host, const struct cleat_config *map, struct dk_config *cfg,
                           struct cleat_error **reterr) {
    uint32_t kind = host->config_kind(map);
    if (kind == CLEAT_CONFIG_ABSENT || kind == CLEAT_CONFIG_NULL)
        return 0;
    if (kind != CLEAT_CONFIG_MAP)
        return at_error(host, map, reterr, "registries", "must be a map of host[:port] to settings");
    uint64_t n = host->config_count(map);
    cfg->registries = calloc(n ? n : 1, sizeof(*cfg->registries));
    if (!cfg->registries)
        return plugin_oom(host, reterr);
    for (uint64_t i = 0; i < n; i++) {
        int r = read_registry(host, host->config_at0(map, i), host->config_key0(map, i), &cfg->registries[i], reterr);
        cfg->n_registries = i + 1;
        if (r < 0)
            return r;
    }
    return 0;
}

int dk_config_parse(const struct cleat_host *host, const struct cleat_config *options, struct dk_config *cfg,
                    struct cleat_error **reterr) {
    int r;
    *cfg = (struct dk_config){0};
    if ((r = host->config_check_keys(options, top_keys, reterr)) < 0 ||
        (r = host->config_get_int(options, "max_concurrent_downloads", DK_DEFAULT_MAX_CONCURRENT, 1, 64,
                                  &cfg->max_concurrent_downloads, reterr)) < 0 ||
        (r = host->config_get_int(options, "stall_timeout_seconds", DK_DEFAULT_STALL_TIMEOUT, 1, 3600,
                                  &cfg->stall_timeout_seconds, reterr)) < 0 ||
        (r = host->config_get_int(options, "connect_timeout_seconds", DK_DEFAULT_CONNECT_TIMEOUT, 1, 300,
                                  &cfg->connect_timeout_seconds, reterr)) < 0 ||
        (r = host->config_get_int(options, "retries", DK_DEFAULT_RETRIES, 0, 10, &cfg->retries, reterr)) < 0 ||
        (r = read_registries(host, host->config_get0(options, "registries"), cfg, reterr)) < 0) {
        dk_config_done(cfg);
        return r;
    }
    return 0;
}

void dk_config_done(struct dk_config *cfg) {
    for (size_t i = 0; i < cfg->n_registries; i++) {
        struct dk_registry *reg = &cfg->registries[i];
        for (size_t m = 0; reg->mirrors && reg->mirrors[m]; m++)
            free(reg->mirrors[m]);
        free(reg->mirrors);
        free(reg->host);
        free(reg->ca_file);
        free(reg->cert_file);
        free(reg->key_file);
    }
    free(cfg->registries);
    *cfg = (struct dk_config){0};
}

const struct dk_registry *dk_config_find(const struct dk_config *cfg, const char *hostport) {
    for (size_t i = 0; hostport && i < cfg->n_registries; i++)
        if (strcasecmp(cfg->registries[i].host, hostport) == 0)
            return &cfg->registries[i];
    return NULL;
}

/* docker.io is served at registry-1.docker.io; its settings may be under either name. */
static int is_docker_hub(const char *domain) {
    return strcmp(domain, "docker.io") == 0 || strcmp(domain, "index.docker.io") == 0 ||
           strcmp(domain, "registry-1.docker.io") == 0;
}

static int endpoint_set(struct dk_endpoint *e, const struct dk_config *cfg, const char *url, int32_t mirror) {
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    e->base = strndup(url, n);
    e->host = e->base ? dk_url_hostport(e->base) : NULL;
    e->mirror = mirror;
    e->tls = e->host ? dk_config_find(cfg, e->host) : NULL;
    return e->base && e->host ? 0 : -ENOMEM;
}

int dk_endpoints(const struct cleat_host *host, const struct dk_config *cfg, const char *domain,
                 struct dk_endpoint **ret, size_t *ret_n, struct cleat_error **reterr) {
    int hub = is_docker_hub(domain);
    const struct dk_registry *reg = dk_config_find(cfg, domain);
    if (!reg && hub)
        reg = dk_config_find(cfg, "docker.io");
    if (!reg && hub)
        reg = dk_config_find(cfg, "registry-1.docker.io");
    size_t n_mirrors = 0;
    while (reg && reg->mirrors && reg->mirrors[n_mirrors])
        n_mirrors++;

    struct dk_endpoint *e = calloc(n_mirrors + 1, sizeof(*e));
    if (!e)
        return plugin_oom(host, reterr);
    int r = 0;
    for (size_t i = 0; i < n_mirrors && r == 0; i++)
        r = endpoint_set(&e[i], cfg, reg->mirrors[i], 1);
    _cleanup_free_ char *upstream = NULL;
    if (r == 0 && asprintf(&upstream, "%s://%s", reg && reg->insecure ? "http" : "https",
                           hub ? "registry-1.docker.io" : domain) < 0)
        upstream = NULL, r = -ENOMEM;
    if (r == 0)
        r = endpoint_set(&e[n_mirrors], cfg, upstream, 0);
    if (r == 0 && !e[n_mirrors].tls)
        e[n_mirrors].tls = reg;
    if (r < 0) {
        dk_endpoints_free(e, n_mirrors + 1);
        return plugin_oom(host, reterr);
    }
    *ret = e;
    *ret_n = n_mirrors + 1;
    return 0;
}

void dk_endpoints_free(struct dk_endpoint *e, size_t n) {
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].base);
        free(e[i].host);
    }
    free(e);
}
