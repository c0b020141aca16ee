/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI security fields cleat refuses rather than drops (SELinux labels,
 * user namespaces, idmapped mounts; CDI devices that were not resolved), and AppArmor: the
 * decision on a host without it (this one) and on a host with it, played
 * by a securityfs directory of the test's own; cleat's profile text,
 * compiled by the real apparmor_parser where it is installed; and the
 * load, which needs a kernel with AppArmor, done by a stand-in parser that
 * records what cleatd hands it.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "error.h"
#include "spec.h"
#include "spec_internal.h"

struct fx {
    char root[64], aa_fs[128], aa_etc[128], selinux[128], absent[128], parser[128];
    Runtime__V1__ContainerConfig c;
    Runtime__V1__PodSandboxConfig p;
    Runtime__V1__LinuxPodSandboxConfig pl;
    Runtime__V1__LinuxSandboxSecurityContext psc;
    Runtime__V1__LinuxContainerConfig lc;
    Runtime__V1__LinuxContainerSecurityContext sc;
    Runtime__V1__SELinuxOption se;
    Runtime__V1__NamespaceOption ns;
    Runtime__V1__UserNamespace userns;
    Runtime__V1__SecurityProfile aa;
    struct spec_host host;
    struct spec_input in;
};

static int setup(void **state) {
    struct fx *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    temp_dir(fx->root, sizeof(fx->root), "cleat-secctx");
    snprintf(fx->aa_fs, sizeof(fx->aa_fs), "%s/apparmor", fx->root);
    snprintf(fx->aa_etc, sizeof(fx->aa_etc), "%s/apparmor.d", fx->root);
    snprintf(fx->selinux, sizeof(fx->selinux), "%s/selinux", fx->root);
    snprintf(fx->absent, sizeof(fx->absent), "%s/absent", fx->root);
    snprintf(fx->parser, sizeof(fx->parser), "%s/parser", fx->root);
    static char *cmd[] = {"/bin/true"};
    fx->c = (Runtime__V1__ContainerConfig)RUNTIME__V1__CONTAINER_CONFIG__INIT;
    fx->p = (Runtime__V1__PodSandboxConfig)RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    fx->pl = (Runtime__V1__LinuxPodSandboxConfig)RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
    fx->lc = (Runtime__V1__LinuxContainerConfig)RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    runtime__v1__linux_sandbox_security_context__init(&fx->psc);
    runtime__v1__linux_container_security_context__init(&fx->sc);
    runtime__v1__selinux_option__init(&fx->se);
    runtime__v1__namespace_option__init(&fx->ns);
    runtime__v1__user_namespace__init(&fx->userns);
    runtime__v1__security_profile__init(&fx->aa);
    fx->c.command = cmd;
    fx->c.n_command = 1;
    fx->lc.security_context = &fx->sc;
    fx->c.linux = &fx->lc;
    fx->pl.security_context = &fx->psc;
    fx->p.linux = &fx->pl;
    /* This host, as the machine has it: neither AppArmor nor SELinux. */
    fx->host = (struct spec_host){
        .apparmor_fs = fx->absent, .apparmor_etc = fx->aa_etc, .apparmor_parser = fx->parser, .selinux_fs = fx->absent};
    fx->in = (struct spec_input){.container = &fx->c,
                                 .sandbox = &fx->p,
                                 .container_id = "c1",
                                 .sandbox_id = "s1",
                                 .rootfs = fx->root,
                                 .host = &fx->host};
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    struct fx *fx = *state;
    rm_rf(fx->root);
    free(fx);
    return 0;
}

static void container_refused(struct fx *fx, int32_t status, const char *needle) {
    struct cleat_error *err = NULL;
    expect_error(spec_check_container(&fx->c, &fx->host, &err), &err, status, needle);
    spec_refused(&fx->in, status, needle); /* the spec builder never drops it either */
}

static void pod_refused(struct fx *fx, int32_t status, const char *needle) {
    struct cleat_error *err = NULL;
    expect_error(spec_check_pod(&fx->p, &fx->host, &err), &err, status, needle);
}

static void pod_ok(struct fx *fx) {
    struct cleat_error *err = NULL;
    int r = spec_check_pod(&fx->p, &fx->host, &err);
    check(r, err);
}

/* The built spec's process.apparmorProfile, or "" for none. */
static char *apparmor_of(struct fx *fx) {
    static char buf[128];
    json_t *j = spec_built(&fx->in);
    const char *name = json_string_value(json_object_get(json_object_get(j, "process"), "apparmorProfile"));
    snprintf(buf, sizeof(buf), "%s", name ? name : "");
    json_decref(j);
    return buf;
}

static void test_selinux(void **state) {
    struct fx *fx = *state;
    fx->sc.selinux_options = &fx->se; /* kubelet's empty options: accepted */
    fx->psc.selinux_options = &fx->se;
    assert_string_equal(apparmor_of(fx), "");
    pod_ok(fx);
    fx->se.type = "spc_t";
    container_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION,
                      "linux.security_context.selinux_options: SELinux label \"::spc_t:\"");
    container_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION, "this host has no SELinux");
    pod_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION, "selinux_options");
    assert_int_equal(mkdir(fx->selinux, 0755), 0);
    fx->host.selinux_fs = fx->selinux;
    container_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION, "cleat does not set SELinux labels yet");
}

static void test_selinux_relabel(void **state) {
    struct fx *fx = *state;
    Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT, *mounts[] = {&m};
    m.container_path = "/data";
    m.host_path = fx->root;
    m.selinux_relabel = 1;
    fx->c.mounts = mounts;
    fx->c.n_mounts = 1;
    assert_string_equal(apparmor_of(fx), ""); /* no SELinux: nothing to relabel, accepted as containerd does */
    assert_int_equal(mkdir(fx->selinux, 0755), 0);
    fx->host.selinux_fs = fx->selinux;
    container_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION, "mounts[0] (/data): selinux_relabel");
}

static void container_ok(struct fx *fx) {
    struct cleat_error *err = NULL;
    int r = spec_check_container(&fx->c, &fx->host, &err);
    check(r, err);
}

static void test_userns(void **state) {
    struct fx *fx = *state;
    fx->ns.userns_options = &fx->userns;
    fx->userns.mode = RUNTIME__V1__NAMESPACE_MODE__NODE; /* as kubelet sends it (an empty message is mode POD) */
    fx->sc.namespace_options = &fx->ns;
    fx->psc.namespace_options = &fx->ns;
    assert_string_equal(apparmor_of(fx), "");
    pod_ok(fx);
    /* Mode POD needs maps, and sound ones: the reason is in the message. */
    fx->userns.mode = RUNTIME__V1__NAMESPACE_MODE__POD;
    container_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT,
                      "linux.security_context.namespace_options.userns_options.uids: no mapping given");
    pod_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "userns_options.uids: no mapping given");
    Runtime__V1__IDMapping map = RUNTIME__V1__IDMAPPING__INIT, *maps[] = {&map};
    map.container_id = 0;
    map.host_id = 100000;
    map.length = 65536;
    fx->userns.uids = fx->userns.gids = maps;
    fx->userns.n_uids = fx->userns.n_gids = 1;
    pod_ok(fx);
    container_ok(fx);
    map.container_id = 1;
    pod_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "userns_options.uids: container id 0 is not mapped");
    map.container_id = 0;
    /* The pod's own user namespace with the node's network, pid or ipc namespace. */
    fx->ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
    pod_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "cannot use the node's network namespace");
    fx->ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
    fx->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
    pod_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "node's ipc namespace");
    fx->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
    /* A user namespace is never a container's own. */
    fx->userns.mode = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    container_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "mode CONTAINER");
    pod_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "mode CONTAINER");
    fx->userns.mode = RUNTIME__V1__NAMESPACE_MODE__TARGET;
    pod_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "mode TARGET");
    fx->userns.mode = RUNTIME__V1__NAMESPACE_MODE__NODE;
    container_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "mappings need mode POD");
}

static void test_cdi_and_idmapped_mounts(void **state) {
    struct fx *fx = *state;
    Runtime__V1__CDIDevice dev = RUNTIME__V1__CDIDEVICE__INIT, *devs[] = {&dev};
    dev.name = "vendor.example/gpu=0";
    fx->c.cdi_devices = devs;
    fx->c.n_cdi_devices = 1;
    /* CDI is built (test_cdi.c): spec_check_container lets it through, spec_build wants it resolved. */
    struct cleat_error *err = NULL;
    OK(spec_check_container(&fx->c, &fx->host, &err));
    spec_refused(&fx->in, CLEAT_STATUS_FAILED_PRECONDITION, "CDI devices but they were not resolved");
    fx->c.n_cdi_devices = 0;
    Runtime__V1__ContainerConfig__AnnotationsEntry a = RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT;
    Runtime__V1__ContainerConfig__AnnotationsEntry *as[] = {&a};
    a.key = "cdi.k8s.io/gpu";
    a.value = "vendor.example/gpu=1";
    fx->c.annotations = as;
    fx->c.n_annotations = 1;
    OK(spec_check_container(&fx->c, &fx->host, &err));
    spec_refused(&fx->in, CLEAT_STATUS_FAILED_PRECONDITION, "CDI devices but they were not resolved");
    a.key = "example.com/other";
    assert_string_equal(apparmor_of(fx), "");

    Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT, *mounts[] = {&m};
    Runtime__V1__IDMapping map = RUNTIME__V1__IDMAPPING__INIT, *maps[] = {&map};
    m.container_path = "/data";
    m.host_path = fx->root;
    m.gidmappings = maps;
    m.n_gidmappings = 1;
    fx->c.mounts = mounts;
    fx->c.n_mounts = 1;
    container_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION, "mounts[0] (/data): uidMappings/gidMappings");
}

/* This host: RuntimeDefault and Unconfined mean nothing to apply; a named profile cannot be honoured. */
static void test_apparmor_absent(void **state) {
    struct fx *fx = *state;
    assert_string_equal(apparmor_of(fx), "");
    fx->sc.apparmor = &fx->aa;
    assert_string_equal(apparmor_of(fx), "");
    fx->aa.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
    assert_string_equal(apparmor_of(fx), "");
    fx->aa.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
    fx->aa.localhost_ref = "my-profile";
    container_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION,
                      "linux.security_context.apparmor: AppArmor profile \"my-profile\" cannot be applied: this host "
                      "has no AppArmor");
    fx->psc.apparmor = &fx->aa;
    pod_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION, "this host has no AppArmor");
    fx->aa.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
    container_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "localhost_ref is set but the profile type is not Localhost");
    fx->sc.apparmor = NULL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    fx->sc.apparmor_profile = "localhost/old-style";
    container_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION, "AppArmor profile \"old-style\"");
    fx->sc.apparmor_profile = "runtime/default";
    assert_string_equal(apparmor_of(fx), "");
    fx->sc.apparmor_profile = "docker-default";
    container_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "apparmor_profile \"docker-default\"");
    fx->sc.apparmor_profile = "";
#pragma GCC diagnostic pop
}

/* A host with AppArmor: a securityfs directory whose "profiles" lists what the kernel has loaded. */
static void play_apparmor_host(struct fx *fx, const char *profiles) {
    assert_int_equal(mkdir(fx->aa_fs, 0755), 0);
    write_text(fx->aa_fs, "profiles", profiles);
    fx->host.apparmor_fs = fx->aa_fs;
}

static void test_apparmor_localhost(void **state) {
    struct fx *fx = *state;
    play_apparmor_host(fx, "cleat-default (enforce)\nmy-profile (enforce)\nmy-profile-2 (complain)\n");
    fx->sc.apparmor = &fx->aa;
    fx->aa.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
    fx->aa.localhost_ref = "localhost/my-profile";
    assert_string_equal(apparmor_of(fx), "my-profile");
    fx->aa.localhost_ref = "my-profile-2";
    assert_string_equal(apparmor_of(fx), "my-profile-2");
    fx->aa.localhost_ref = "my-prof"; /* a prefix of a loaded one is not loaded */
    container_refused(fx, CLEAT_STATUS_FAILED_PRECONDITION, "AppArmor profile \"my-prof\" is not loaded");
    fx->aa.localhost_ref = "";
    container_refused(fx, CLEAT_STATUS_INVALID_ARGUMENT, "a Localhost profile needs a name");
    fx->aa.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
    assert_string_equal(apparmor_of(fx), "");
}

static void test_apparmor_profile_text(void **state) {
    struct fx *fx = *state;
    char *text = spec_apparmor_text(&fx->host);
    assert_non_null(text);
    assert_null(strstr(text, "abi <")); /* this parser has no abi 3.0 */
    assert_non_null(strstr(text, "profile cleat-default flags=(attach_disconnected,mediate_deleted) {"));
    const char *rules[] = {
        "deny network alg,",  "deny network vsock,",      "deny mount,",
        "deny /sys/** wklx,", "deny /proc/[^1-9]*/** w,", "signal (send, receive) peer=cleat-default,"};
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (!strstr(text, rules[i]))
            fail_msg("the profile lacks \"%s\"", rules[i]);
    free(text);
    char abi[160];
    snprintf(abi, sizeof(abi), "%s/abi", fx->aa_etc);
    assert_int_equal(mkdir(fx->aa_etc, 0755), 0);
    assert_int_equal(mkdir(abi, 0755), 0);
    write_text(abi, "3.0", "");
    text = spec_apparmor_text(&fx->host);
    assert_non_null(strstr(text, "\nabi <abi/3.0>,\nprofile cleat-default"));
    free(text);
}

/* The real apparmor_parser compiles the text (without loading it: this kernel has no AppArmor). */
static void test_apparmor_profile_compiles(void **state) {
    (void)state;
    if (access("/usr/sbin/apparmor_parser", X_OK) != 0 && access("/sbin/apparmor_parser", X_OK) != 0)
        skip(); /* scripts/deps.sh --test installs it */
    struct spec_host real = {0};
    char *text = spec_apparmor_text(&real);
    assert_non_null(text);
    FILE *p = popen("PATH=/usr/sbin:/sbin apparmor_parser -Q -K 2>&1 | grep -v '^Cache read/write disabled'", "w");
    assert_non_null(p);
    fputs(text, p);
    free(text);
    int status = pclose(p);
    /* grep exits 1 when the parser said nothing else: success */
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    FILE *bad = popen("PATH=/usr/sbin:/sbin apparmor_parser -Q -K >/dev/null 2>&1", "w");
    fputs("profile broken {\n  bogus rule,\n}\n", bad);
    status = pclose(bad);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0); /* the check can fail */
}

/*
 * RuntimeDefault on a host with AppArmor: cleat-default, loaded once per
 * process.  A parser that cannot run fails the container (and is tried
 * again); then a stand-in that records its arguments and input takes the
 * place of the real one, whose kernel load this machine cannot do.
 */
static void test_apparmor_default_loaded_once(void **state) {
    struct fx *fx = *state;
    play_apparmor_host(fx, "");
    struct cleat_error *err = NULL;
    OK(spec_check_container(&fx->c, &fx->host, &err)); /* the check alone runs nothing */
    spec_refused(&fx->in, CLEAT_STATUS_FAILED_PRECONDITION, "parser: No such file or directory");
    char script[512];
    snprintf(script, sizeof(script), "#!/bin/sh\necho \"$@\" > %s/args\ncat > %s/input\n", fx->root, fx->root);
    write_text(fx->root, "parser", script);
    assert_int_equal(chmod(fx->parser, 0755), 0);
    fx->sc.privileged = 1;
    assert_string_equal(apparmor_of(fx), ""); /* privileged: unconfined, nothing loaded */
    assert_int_not_equal(access(fx->aa_fs, F_OK), -1);
    char args[160];
    snprintf(args, sizeof(args), "%s/args", fx->root);
    assert_int_equal(access(args, F_OK), -1);
    fx->sc.privileged = 0;
    assert_string_equal(apparmor_of(fx), SPEC_APPARMOR_DEFAULT);
    expect_text(fx->root, "args", "-Kr\n");
    char *text = spec_apparmor_text(&fx->host);
    char input[160];
    snprintf(input, sizeof(input), "%s/input", fx->root);
    FILE *f = fopen(input, "re");
    char got[8192] = {0};
    assert_int_equal(fread(got, 1, sizeof(got) - 1, f), strlen(text));
    fclose(f);
    assert_string_equal(got, text);
    free(text);
    /* Loaded: the next container does not run the parser again. */
    assert_int_equal(unlink(fx->parser), 0);
    assert_string_equal(apparmor_of(fx), SPEC_APPARMOR_DEFAULT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_selinux, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selinux_relabel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_userns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cdi_and_idmapped_mounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apparmor_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apparmor_localhost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apparmor_profile_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apparmor_profile_compiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apparmor_default_loaded_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
