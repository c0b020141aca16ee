/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a pod has on disk besides its namespaces: the files its containers
 * bind-mount (hostname, /etc/hosts, resolv.conf), its /dev/shm, and, when
 * the pod shares one PID namespace, the pause process's spec and rootfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "pod_ns.h"
#include "runtime_internal.h"
#include "spec.h"
#include "strbuf.h"

/* What a pod on its own network sees as /etc/hosts (kubelet mounts its own file over it in most pods). */
static const char default_hosts[] = "127.0.0.1\tlocalhost\n"
                                    "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                    "fe00::0\tip6-localnet\n"
                                    "ff00::0\tip6-mcastprefix\n"
                                    "ff02::1\tip6-allnodes\n"
                                    "ff02::2\tip6-allrouters\n";

static int write_in(const char *dir, const char *name, const char *text, size_t len, struct cleat_error **reterr) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return write_state_file(path, text, len, 0644, reterr);
}

/* Give the pod's files to its root (a pod with its own user namespace): root inside may write them, as elsewhere. */
static int give_to_root(const char *dir, const struct pod_files_owner *owner, struct cleat_error **reterr) {
    static const char *const names[] = {"hostname", "hosts", "resolv.conf"};
    for (size_t i = 0; owner && owner->set && i < sizeof(names) / sizeof(names[0]); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (lchown(path, owner->uid, owner->gid) < 0)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot give %s to %u:%u: %s", path, owner->uid,
                             owner->gid, strerror(errno));
    }
    return 0;
}

/* A copy of a host file, or "" when the host has none. */
static int copy_host_file(const char *dir, const char *name, const char *host_path, struct cleat_error **reterr) {
    char *text = NULL;
    size_t len = 0;
    struct cleat_error *err = NULL;
    if (read_file(host_path, 1 << 20, &text, &len, &err) < 0) {
        error_free(err);
        return write_in(dir, name, "", 0, reterr);
    }
    int r = write_in(dir, name, text, len, reterr);
    free(text);
    return r;
}

static int resolv_conf(const char *dir, const Runtime__V1__DNSConfig *dns, struct cleat_error **reterr) {
    if (!dns)
        return copy_host_file(dir, "resolv.conf", "/etc/resolv.conf", reterr);
    struct strbuf sb = {0};
    for (size_t i = 0; i < dns->n_servers; i++)
        strbuf_printf(&sb, "nameserver %s\n", dns->servers[i]);
    if (dns->n_searches) {
        strbuf_puts(&sb, "search");
        for (size_t i = 0; i < dns->n_searches; i++)
            strbuf_printf(&sb, " %s", dns->searches[i]);
        strbuf_puts(&sb, "\n");
    }
    if (dns->n_options) {
        strbuf_puts(&sb, "options");
        for (size_t i = 0; i < dns->n_options; i++)
            strbuf_printf(&sb, " %s", dns->options[i]);
        strbuf_puts(&sb, "\n");
    }
    int r = sb.failed ? error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory")
                      : write_in(dir, "resolv.conf", sb.s ? sb.s : "", sb.len, reterr);
    strbuf_free(&sb);
    return r;
}

int pod_files_create(const char *dir, const Runtime__V1__PodSandboxConfig *config, const char *hostname,
                     int host_network, int host_ipc, const struct pod_files_owner *owner, struct cleat_error **reterr) {
    char line[300];
    int n = snprintf(line, sizeof(line), "%s\n", hostname);
    int r = write_in(dir, "hostname", line, (size_t)n, reterr);
    if (r >= 0)
        r = host_network ? copy_host_file(dir, "hosts", "/etc/hosts", reterr)
                         : write_in(dir, "hosts", default_hosts, sizeof(default_hosts) - 1, reterr);
    if (r >= 0)
        r = resolv_conf(dir, config->dns_config, reterr);
    if (r >= 0)
        r = give_to_root(dir, owner, reterr);
    if (r < 0 || host_ipc)
        return r;
    char shm[4096];
    snprintf(shm, sizeof(shm), "%s/shm", dir);
    if (mkdir(shm, 0755) < 0 && errno != EEXIST)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", shm, strerror(errno));
    /* 64 MiB, as docker and containerd give a pod; owned by the pod's root, as /dev/shm is by root elsewhere. */
    char opts[128];
    if (owner && owner->set)
        snprintf(opts, sizeof(opts), "mode=1777,size=65536k,uid=%u,gid=%u", owner->uid, owner->gid);
    else
        snprintf(opts, sizeof(opts), "mode=1777,size=65536k");
    if (mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot mount the pod's /dev/shm at %s: %s", shm,
                         strerror(errno));
    return 0;
}

static json_t *ns_entry(const char *type, const char *dir, const char *name) {
    if (!dir)
        return json_pack("{s:s}", "type", type);
    char path[4096];
    snprintf(path, sizeof(path), "%s/ns/%s", dir, name);
    return json_pack("{s:s,s:s}", "type", type, "path", path);
}

/*
 * The pause's rootfs: under the pod's dir, or, for a pod with its own user
 * namespace, under <state>/userns/<id>/, which the pause reaches from inside.
 */
static int pause_rootfs(struct runtime_service *rs, const char *id, const char *dir, uint32_t pinned, uint32_t root_gid,
                        char *rootfs, size_t size, struct cleat_error **reterr) {
    if (!(pinned & POD_NS_USER)) {
        snprintf(rootfs, size, "%s/pause/rootfs", dir);
        return mkdir_p(rootfs, 0755, reterr);
    }
    char *udir = NULL, bundle[4200];
    snprintf(bundle, sizeof(bundle), "%s/pause", dir); /* the runtime's bundle (config.json) stays cleatd's */
    int r = mkdir_p(bundle, 0700, reterr);
    if (r >= 0)
        r = userns_dir_create(rs, id, root_gid, &udir, reterr);
    if (r < 0)
        return r;
    snprintf(rootfs, size, "%s/pause", udir);
    free(udir);
    return mkdir_p(rootfs, 0755, reterr);
}

/* The pause joins the pod's user namespace, with its maps (as the pod's containers do: spec_add_userns). */
static int pause_userns(const char *dir, const Runtime__V1__PodSandboxConfig *config, json_t *ns, json_t *linux) {
    const Runtime__V1__UserNamespace *u = spec_pod_userns(config);
    json_t *maps[2] = {json_array(), json_array()};
    Runtime__V1__IDMapping **v[2] = {u->uids, u->gids};
    size_t n[2] = {u->n_uids, u->n_gids};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; maps[k] && i < n[k]; i++)
            json_array_append_new(maps[k],
                                  json_pack("{s:I,s:I,s:I}", "containerID", (json_int_t)v[k][i]->container_id, "hostID",
                                            (json_int_t)v[k][i]->host_id, "size", (json_int_t)v[k][i]->length));
    int r = json_array_append_new(ns, ns_entry("user", dir, "user"));
    r |= json_object_set_new(linux, "uidMappings", maps[0]);
    r |= json_object_set_new(linux, "gidMappings", maps[1]);
    return r ? -ENOMEM : 0;
}

int pod_pause_spec(struct runtime_service *rs, const char *id, const char *dir,
                   const Runtime__V1__PodSandboxConfig *config, uint32_t pinned, uint32_t root_gid, char **ret_json,
                   struct cleat_error **reterr) {
    char rootfs[4096], file[4200];
    int r = pause_rootfs(rs, id, dir, pinned, root_gid, rootfs, sizeof(rootfs), reterr);
    if (r < 0)
        return r;
    for (const char *const *sub = (const char *const[]){"proc", "dev", NULL}; *sub; sub++) {
        snprintf(file, sizeof(file), "%s/%s", rootfs, *sub);
        if (mkdir(file, 0755) < 0 && errno != EEXIST)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", file, strerror(errno));
    }
    snprintf(file, sizeof(file), "%s/pause", rootfs);
    int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    if (fd < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", file, strerror(errno));
    close(fd);

    const char *parent = config->linux && config->linux->cgroup_parent ? config->linux->cgroup_parent : "";
    char *cgpath = NULL;
    r = runtime_cgroups_path(rs, parent, id, &cgpath, reterr);
    if (r < 0)
        return r;
    json_t *ns = json_array();
    json_array_append_new(ns, json_pack("{s:s}", "type", "pid"));
    json_array_append_new(ns, json_pack("{s:s}", "type", "mount"));
    if (pinned & POD_NS_NET)
        json_array_append_new(ns, ns_entry("network", dir, "net"));
    if (pinned & POD_NS_IPC)
        json_array_append_new(ns, ns_entry("ipc", dir, "ipc"));
    if (pinned & POD_NS_UTS)
        json_array_append_new(ns, ns_entry("uts", dir, "uts"));
    /* PID 1 of the pod: no capabilities, nothing writable, only its own binary. */
    json_t *spec = json_pack(
        "{s:s, s:{s:b, s:{s:i,s:i}, s:[s], s:[s], s:s, s:{s:[],s:[],s:[],s:[],s:[]}, s:b},"
        " s:{s:s,s:b}, s:[{s:s,s:s,s:s},{s:s,s:s,s:s,s:[sss]},{s:s,s:s,s:s,s:[sss]}],"
        " s:{s:o, s:s, s:{s:[{s:b,s:s}]}}}",
        "ociVersion", "1.0.2", "process", "terminal", 0, "user", "uid", 0, "gid", 0, "args", "/pause", "env", "PATH=/",
        "cwd", "/", "capabilities", "bounding", "effective", "permitted", "inheritable", "ambient", "noNewPrivileges",
        1, "root", "path", rootfs, "readonly", 1, "mounts", "destination", "/proc", "type", "proc", "source", "proc",
        "destination", "/dev", "type", "tmpfs", "source", "tmpfs", "options", "nosuid", "mode=755", "size=64k",
        "destination", "/pause", "type", "bind", "source", rs->pause_binary, "options", "rbind", "ro", "nosuid",
        "linux", "namespaces", ns, "cgroupsPath", cgpath, "resources", "devices", "allow", 0, "access", "rwm");
    free(cgpath);
    if (spec && (pinned & POD_NS_USER) && pause_userns(dir, config, ns, json_object_get(spec, "linux")) < 0) {
        json_decref(spec);
        spec = NULL;
    }
    char *text = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
    json_decref(spec);
    if (!text)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory building the pause spec");
    *ret_json = text;
    return 0;
}

int runtime_cgroups_path(struct runtime_service *rs, const char *parent, const char *id, char **ret,
                         struct cleat_error **reterr) {
    /* "cri-cleat" names the systemd scope as containerd's "cri-containerd" does. */
    return rs->systemd_cgroup ? cgroup_path_systemd(parent, "cri-cleat", id, ret, reterr)
                              : cgroup_path_cgroupfs(parent, id, ret, reterr);
}
