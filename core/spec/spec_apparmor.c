/* SPDX-License-Identifier: Apache-2.0 */
/*
 * process.apparmorProfile.  On a host without AppArmor, RuntimeDefault and
 * Unconfined mean "nothing to apply" and are accepted; a named (Localhost)
 * profile cannot be honoured and is refused, as containerd does.  On a host
 * with AppArmor, RuntimeDefault (or no profile: kubernetes#51746) is
 * cleat's own profile, generated from the template below and loaded with
 * apparmor_parser the first time a container needs it in this cleatd;
 * Localhost must name a profile the kernel has loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "spec_internal.h"

extern char **environ;

#define FIELD "linux.security_context.apparmor"

/*
 * The profile's text.  Everything a container does inside its own
 * namespaces is allowed (files as its mounts and capabilities permit,
 * sockets, capabilities its bounding set holds); what reaches the host's
 * kernel state is denied on top of the read-only mounts the spec already
 * makes, so that a container given CAP_SYS_ADMIN still cannot remount them.
 * abi 3.0 when the parser knows it: from abi 4.0 on, "network" no longer
 * covers unix sockets.
 */
static const char profile_template[] =
    "# cleat's default AppArmor profile for containers, written by cleatd (core/spec/spec_apparmor.c).\n"
    "%s"
    "profile %s flags=(attach_disconnected,mediate_deleted) {\n"
    "  file,\n"
    "  network,\n"
    "  capability,\n"
    "  umount,\n"
    "  # The kernel's crypto API and the hypervisor's sockets, as the seccomp profile.\n"
    "  deny network alg,\n"
    "  deny network vsock,\n"
    "  # No new mounts, whatever the capabilities.\n"
    "  deny mount,\n"
    "  deny pivot_root,\n"
    "  # Signals from the host (runc, cleat-shim, cleatd) and among the container's processes; ptrace only among "
    "them.\n"
    "  signal (receive) peer=unconfined,\n"
    "  signal (send, receive) peer=%s,\n"
    "  ptrace (trace, read, tracedby, readby) peer=%s,\n"
    "  # /proc: a process's own entries stay writable; the top-level files and every directory\n"
    "  # that is not a process's (sys, irq, bus, fs, ...: they start with a letter) do not.\n"
    "  deny /proc/* w,\n"
    "  deny /proc/[^1-9]*/** w,\n"
    "  deny /proc/sysrq-trigger rwklx,\n"
    "  deny /proc/kcore rwklx,\n"
    "  # /sys is the host's: never written; firmware, power capping and LSM state not even read.\n"
    "  deny /sys/** wklx,\n"
    "  deny /sys/firmware/** rwklx,\n"
    "  deny /sys/devices/virtual/powercap/** rwklx,\n"
    "  deny /sys/kernel/security/** rwklx,\n"
    "}\n";

char *spec_apparmor_text(const struct spec_host *host) {
    char abi[4200];
    snprintf(abi, sizeof(abi), "%s/abi/3.0", spec_host_path(host, SPEC_HOST_APPARMOR_ETC));
    const char *abi_line = access(abi, R_OK) == 0 ? "abi <abi/3.0>,\n" : "";
    char *text = NULL;
    if (asprintf(&text, profile_template, abi_line, SPEC_APPARMOR_DEFAULT, SPEC_APPARMOR_DEFAULT,
                 SPEC_APPARMOR_DEFAULT) < 0)
        return NULL;
    return text;
}

int spec_apparmor_loaded(const struct spec_host *host, const char *name) {
    char path[4200], line[4096];
    snprintf(path, sizeof(path), "%s/profiles", spec_host_path(host, SPEC_HOST_APPARMOR_FS));
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    size_t len = strlen(name);
    int found = 0;
    /* One "name (mode)" per line. */
    while (!found && fgets(line, sizeof(line), f))
        found = strncmp(line, name, len) == 0 && strncmp(line + len, " (", 2) == 0;
    fclose(f);
    return found;
}

/* Read what fd gives until EOF, keeping the start in buf (NUL-terminated): the writer never blocks on a full pipe. */
static void read_all(int fd, char *buf, size_t size) {
    size_t n = 0;
    char sink[512];
    for (;;) {
        ssize_t r = n + 1 < size ? read(fd, buf + n, size - 1 - n) : read(fd, sink, sizeof(sink));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (n + 1 < size)
            n += (size_t)r;
    }
    buf[n] = '\0';
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
}

/* apparmor_parser -Kr (replace, no cache write) with the text on its stdin; its stderr is the error. */
static int run_parser(const char *parser, const char *text, struct cleat_error **reterr) {
    int in[2], err[2], r = -1;
    if (pipe2(in, O_CLOEXEC) < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "pipe: %s", strerror(errno));
    if (pipe2(err, O_CLOEXEC) < 0) {
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return r;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    /* cleatd blocks SIGTERM/SIGINT/SIGHUP in every thread and ignores SIGPIPE: the parser starts with neither. */
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {(char *)parser, "-Kr", NULL};
    pid_t pid;
    int e = posix_spawnp(&pid, parser, &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(err[1]);
    if (e == 0) {
        /* The text is far below a pipe's capacity: the write cannot wait on the parser's stderr. */
        size_t len = strlen(text);
        int wrote = write(in[1], text, len) == (ssize_t)len;
        close(in[1]);
        in[1] = -1;
        char msg[1024];
        read_all(err[0], msg, sizeof(msg));
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        r = wrote && WIFEXITED(status) && WEXITSTATUS(status) == 0
                ? 0
                : error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO, "%s -Kr failed (status %d): %s", parser,
                            status, *msg ? msg : "no message");
    } else {
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, e, "cannot run %s: %s", parser, strerror(e));
    }
    if (in[1] >= 0)
        close(in[1]);
    close(err[0]);
    return r;
}

/* Load cleat's profile, once per cleatd (replacing what an older cleatd loaded); retried after a failure. */
static int load_default(const struct spec_host *host, struct cleat_error **reterr) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int done;
    pthread_mutex_lock(&lock);
    int r = 0;
    if (!done) {
        char *text = spec_apparmor_text(host);
        r = text ? run_parser(spec_host_path(host, SPEC_HOST_APPARMOR_PARSER), text, reterr) : spec_oom(reterr);
        free(text);
        done = r >= 0;
    }
    pthread_mutex_unlock(&lock);
    return r < 0 ? error_prefix(r, reterr, "loading AppArmor profile %s", SPEC_APPARMOR_DEFAULT) : 0;
}

/* The deprecated apparmor_profile string ("runtime/default", "unconfined", "localhost/<name>") as a SecurityProfile. */
static int legacy_profile(const char *s, Runtime__V1__SecurityProfile *ret, struct cleat_error **reterr) {
    runtime__v1__security_profile__init(ret);
    if (strcmp(s, "runtime/default") == 0)
        ret->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
    else if (strcmp(s, "unconfined") == 0)
        ret->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
    else if (strncmp(s, "localhost/", 10) == 0)
        ret->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, ret->localhost_ref = (char *)s;
    else
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "linux.security_context.apparmor_profile \"%s\": use runtime/default, unconfined or "
                         "localhost/<profile>",
                         s);
    return 0;
}

/* A Localhost profile's name (kubelet may still prefix "localhost/"), which must be loaded. */
static int localhost_name(const struct spec_host *host, const char *ref, const char **ret,
                          struct cleat_error **reterr) {
    const char *name = ref && strncmp(ref, "localhost/", 10) == 0 ? ref + 10 : ref;
    if (!name || !*name)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, FIELD ": a Localhost profile needs a name");
    if (!spec_host_has(host, SPEC_HOST_APPARMOR_FS))
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         FIELD ": AppArmor profile \"%s\" cannot be applied: this host has no AppArmor", name);
    int r = spec_apparmor_loaded(host, name);
    if (r < 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, -r, FIELD ": cannot list the loaded profiles: %s",
                         strerror(-r));
    if (!r)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                         FIELD ": AppArmor profile \"%s\" is not loaded", name);
    *ret = name;
    return 0;
}

int spec_apparmor_profile(const Runtime__V1__SecurityProfile *p, const char *legacy, int privileged,
                          const struct spec_host *host, const char **ret_name, struct cleat_error **reterr) {
    Runtime__V1__SecurityProfile from_legacy;
    *ret_name = NULL;
    if (!p && legacy && *legacy) {
        int r = legacy_profile(legacy, &from_legacy, reterr);
        if (r < 0)
            return r;
        p = &from_legacy;
    }
    if (p && p->profile_type != RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost && p->localhost_ref &&
        *p->localhost_ref)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         FIELD ": localhost_ref is set but the profile type is not Localhost");
    if (p && p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
        return localhost_name(host, p->localhost_ref, ret_name, reterr);
    /* Unconfined, or nothing to confine with: no profile.  Privileged containers run unconfined, as in containerd. */
    if ((p && p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined) || privileged ||
        !spec_host_has(host, SPEC_HOST_APPARMOR_FS))
        return 0;
    *ret_name = SPEC_APPARMOR_DEFAULT;
    return 0;
}

int spec_add_apparmor(const struct spec_input *in, json_t *process, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const char *legacy = sc ? sc->apparmor_profile : NULL;
#pragma GCC diagnostic pop
    const char *name;
    int r = spec_apparmor_profile(sc ? sc->apparmor : NULL, legacy, sc && sc->privileged, in->host, &name, reterr);
    if (r >= 0 && name && strcmp(name, SPEC_APPARMOR_DEFAULT) == 0)
        r = load_default(in->host, reterr);
    if (r >= 0 && name)
        SPEC_SET(process, "apparmorProfile", json_string(name), reterr);
    return r;
}
