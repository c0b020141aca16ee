/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CDI: names, spec files (JSON and YAML, versions 0.3.0 to 1.0, every
 * refusal), the registry over real directories (later directory wins, a
 * conflict in one directory, unknown and broken specs, files written,
 * changed and removed while it runs, untrusted files, symlinks), merged
 * edits (host nodes, conflicts), and the edits in a built config.json.
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "cdi_name.h"
#include "cdi_registry.h"
#include "cdi_spec.h"
#include "error.h"
#include "spec.h"

struct fx {
    char root[64], a[96], b[96];
    struct cdi_registry *reg;
};

static int setup(void **state) {
    struct fx *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    temp_dir(fx->root, sizeof(fx->root), "cleat-cdi");
    snprintf(fx->a, sizeof(fx->a), "%s/a", fx->root);
    snprintf(fx->b, sizeof(fx->b), "%s/b", fx->root);
    assert_int_equal(mkdir(fx->a, 0755), 0);
    assert_int_equal(mkdir(fx->b, 0755), 0);
    const char *dirs[] = {fx->a, fx->b, NULL};
    struct cleat_error *err = NULL;
    OK(cdi_registry_new(dirs, &fx->reg, &err));
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    struct fx *fx = *state;
    cdi_registry_free(fx->reg);
    rm_rf(fx->root);
    free(fx);
    return 0;
}

/* A one-device JSON spec of kind vendor.example/dev (0.8.0) whose device `name` sets `env`. */
static void write_spec(const char *dir, const char *file, const char *name, const char *env) {
    char text[512];
    snprintf(text, sizeof(text),
             "{\"cdiVersion\":\"0.8.0\",\"kind\":\"vendor.example/dev\",\"devices\":[{\"name\":\"%s\","
             "\"containerEdits\":{\"env\":[\"%s\"]}}]}",
             name, env);
    write_text(dir, file, text);
}

static struct cdi_edits *resolve_ok(struct fx *fx, const char *name) {
    const char *names[] = {name};
    struct cdi_edits *e = NULL;
    struct cleat_error *err = NULL;
    OK(cdi_registry_resolve(fx->reg, names, 1, &e, &err));
    return e;
}

static void resolve_fails(struct fx *fx, const char *name, int32_t status, const char *needle) {
    const char *names[] = {name};
    struct cdi_edits *e = NULL;
    struct cleat_error *err = NULL;
    expect_error(cdi_registry_resolve(fx->reg, names, 1, &e, &err), &err, status, needle);
    assert_null(e);
}

static void expect_env(struct fx *fx, const char *name, const char *kv) {
    struct cdi_edits *e = resolve_ok(fx, name);
    assert_int_equal(e->n_env, 1);
    assert_string_equal(e->env[0].kv, kv);
    cdi_edits_free(e);
}

static void test_names(void **state) {
    (void)state;
    char why[256];
    size_t klen = 0;
    assert_int_equal(cdi_name_check("vendor.example/gpu=0", &klen, why, sizeof(why)), 0);
    assert_int_equal(klen, strlen("vendor.example/gpu"));
    assert_int_equal(cdi_name_check("nvidia.com/gpu=GPU-1a:2_b.c", NULL, why, sizeof(why)), 0);
    const char *bad[] = {
        "gpu",     "vendor/gpu", "vendor.example=0", "/dev/null",   "vendor.example/gpu=", "v/c=-x",  "1vendor/c=0",
        "v/c/d=0", "v./c=0",     "v/c=a b",          "vendor/c.=0", "=vendor/gpu=0",       "v/c=0/1", "vendor/gpu=0,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cdi_name_check(bad[i], NULL, why, sizeof(why)) == 0)
            fail_msg("%s accepted", bad[i]);
    assert_int_equal(cdi_name_check("gpu", NULL, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "vendor/class=device"));
    int dotted = 0;
    assert_int_equal(cdi_kind_check("a.b/c.d", &dotted, why, sizeof(why)), 0);
    assert_int_equal(dotted, 1);
}

static const char yaml_spec[] = "cdiVersion: 0.8.0\n"
                                "kind: vendor.example/gpu\n"
                                "annotations: {a: b}\n"
                                "devices:\n"
                                "  - name: 0\n"
                                "    containerEdits:\n"
                                "      deviceNodes:\n"
                                "        - path: /dev/gpu0\n"
                                "          hostPath: /dev/null\n"
                                "          type: c\n"
                                "          major: 1\n"
                                "          minor: 3\n"
                                "          fileMode: 0640\n"
                                "          permissions: rw\n"
                                "          uid: 1000\n"
                                "          gid: 44\n"
                                "      additionalGids: [0, 44]\n"
                                "  - name: ctl\n"
                                "    containerEdits: {}\n"
                                "containerEdits:\n"
                                "  env: [GPU=1]\n"
                                "  mounts:\n"
                                "    - {hostPath: /usr/lib, containerPath: /usr/lib/gpu, type: bind, options: [ro, "
                                "rbind]}\n"
                                "  hooks:\n"
                                "    - {hookName: createContainer, path: /bin/true, args: [true, x], env: [A=1], "
                                "timeout: 5}\n";

static void test_parse_yaml(void **state) {
    (void)state;
    struct cdi_spec *s = NULL;
    struct cleat_error *err = NULL;
    OK(cdi_spec_parse("gpu.yaml", yaml_spec, strlen(yaml_spec), 1, &s, &err));
    assert_string_equal(s->kind, "vendor.example/gpu");
    assert_int_equal(s->n_devices, 2);
    const struct cdi_device *d = cdi_spec_device(s, "0");
    assert_non_null(d);
    assert_null(cdi_spec_device(s, "1"));
    const struct cdi_device_node *n = &d->edits.nodes[0];
    assert_string_equal(n->path, "/dev/gpu0");
    assert_string_equal(n->host_path, "/dev/null");
    assert_int_equal(n->type, 'c');
    assert_int_equal(n->major, 1);
    assert_int_equal(n->minor, 3);
    assert_true(n->has_file_mode);
    assert_int_equal(n->file_mode, 0640); /* a YAML 1.1 octal */
    assert_string_equal(n->permissions, "rw");
    assert_int_equal(n->uid, 1000);
    assert_int_equal(n->gid, 44);
    assert_int_equal(d->edits.n_gids, 1); /* 0 is left out */
    assert_int_equal(d->edits.gids[0], 44);
    assert_string_equal(s->edits.env[0].kv, "GPU=1");
    assert_string_equal(s->edits.mounts[0].type, "bind");
    assert_string_equal(s->edits.mounts[0].options[1], "rbind");
    assert_null(s->edits.mounts[0].options[2]);
    assert_int_equal(s->edits.hooks[0].point, CDI_HOOK_CREATE_CONTAINER);
    assert_string_equal(s->edits.hooks[0].args[1], "x");
    assert_int_equal(s->edits.hooks[0].timeout, 5);
    cdi_spec_free(s);
}

static void test_parse_json_030(void **state) {
    (void)state;
    const char *text = "{\"cdiVersion\":\"0.3.0\",\"kind\":\"vendor.example/dev\",\"devices\":[{\"name\":\"a\","
                       "\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/null\"}],"
                       "\"mounts\":[{\"hostPath\":\"/tmp\",\"containerPath\":\"/t\",\"options\":[\"bind\"]}],"
                       "\"hooks\":[{\"hookName\":\"prestart\",\"path\":\"/bin/true\"}]}}]}";
    struct cdi_spec *s = NULL;
    struct cleat_error *err = NULL;
    OK(cdi_spec_parse("a.json", text, strlen(text), 0, &s, &err));
    const struct cdi_edits *e = &s->devices[0].edits;
    assert_string_equal(e->nodes[0].host_path, "/dev/null"); /* defaults to the path */
    assert_int_equal(e->nodes[0].type, 0);
    assert_null(e->nodes[0].permissions);
    assert_null(e->mounts[0].type);
    assert_int_equal(e->hooks[0].point, CDI_HOOK_PRESTART);
    assert_int_equal(e->hooks[0].timeout, 0);
    cdi_spec_free(s);
}

static void refused_spec(const char *edits_or_top, int top, const char *version, const char *needle) {
    char text[1024];
    if (top)
        snprintf(text, sizeof(text), "%s", edits_or_top);
    else
        snprintf(text, sizeof(text),
                 "{\"cdiVersion\":\"%s\",\"kind\":\"vendor.example/dev\",\"devices\":[{\"name\":\"a\","
                 "\"containerEdits\":%s}]}",
                 version, edits_or_top);
    struct cdi_spec *s = NULL;
    struct cleat_error *err = NULL;
    expect_error(cdi_spec_parse("bad.json", text, strlen(text), 0, &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 needle);
    assert_null(s);
}

static void test_parse_refusals(void **state) {
    (void)state;
    refused_spec("{}", 0, "0.2.0", "0.2.0 is not supported");
    refused_spec("{}", 0, "1.1.0", "1.1.0 is not supported");
    refused_spec("{}", 0, "0.8", "is not a version X.Y.Z");
    refused_spec("{\"envs\":[]}", 0, "0.8.0", "unknown field \"envs\"");
    refused_spec("{\"deviceNodes\":[{\"path\":\"/dev/x\",\"hostPath\":\"/dev/null\"}]}", 0, "0.3.0",
                 "need 0.5.0 (a device node's hostPath)");
    refused_spec("{\"additionalGids\":[1]}", 0, "0.6.0", "need 0.7.0 (additionalGids)");
    refused_spec("{\"mounts\":[{\"hostPath\":\"/a\",\"containerPath\":\"/b\",\"type\":\"bind\"}]}", 0, "0.3.0",
                 "need 0.4.0");
    refused_spec("{\"netDevices\":[]}", 0, "1.0.0", "need 1.1.0 (netDevices)");
    refused_spec("{\"hooks\":[{\"hookName\":\"onBoot\",\"path\":\"/bin/true\"}]}", 0, "0.8.0",
                 "hookName \"onBoot\" is not an OCI hook");
    refused_spec("{\"hooks\":[{\"hookName\":\"poststop\",\"path\":\"true\"}]}", 0, "0.8.0", "is not absolute");
    refused_spec("{\"hooks\":[{\"hookName\":\"poststop\",\"path\":\"/t\",\"timeout\":0}]}", 0, "0.8.0", "outside [1,");
    refused_spec("{\"deviceNodes\":[{\"path\":\"dev/x\"}]}", 0, "0.8.0", "path \"dev/x\" is not absolute");
    refused_spec("{\"deviceNodes\":[{\"path\":\"/dev/x\",\"permissions\":\"rwx\"}]}", 0, "0.8.0",
                 "permissions \"rwx\"");
    refused_spec("{\"deviceNodes\":[{\"path\":\"/dev/x\",\"type\":\"char\"}]}", 0, "0.8.0", "type \"char\"");
    refused_spec("{\"env\":[\"NOVALUE\"]}", 0, "0.8.0", "env entries must be NAME=value");
    refused_spec("{\"env\":\"A=1\"}", 0, "0.8.0", "\"env\" must be a list of strings");
    refused_spec("{\"cdiVersion\":\"0.5.0\",\"kind\":\"vendor\",\"devices\":[{\"name\":\"a\",\"containerEdits\":{}}]}",
                 1, NULL, "has no vendor");
    refused_spec("{\"cdiVersion\":\"0.5.0\",\"kind\":\"v/c\",\"devices\":[]}", 1, NULL, "at least one device");
    refused_spec("{\"cdiVersion\":\"0.5.0\",\"kind\":\"v/c\",\"devices\":[{\"name\":\"a\",\"containerEdits\":{}},"
                 "{\"name\":\"a\",\"containerEdits\":{}}]}",
                 1, NULL, "device \"a\" is defined twice");
    refused_spec("{\"cdiVersion\":\"0.4.0\",\"kind\":\"v/c\",\"devices\":[{\"name\":\"0\",\"containerEdits\":{}}]}", 1,
                 NULL, "need 0.5.0 (a device name starting with a digit)");
    refused_spec("{\"cdiVersion\":\"0.5.0\",\"kind\":\"v/c\",\"devices\":[{\"name\":\"a\"}]}", 1, NULL,
                 "devices[0].containerEdits: is missing");
    refused_spec("[1]", 1, NULL, "top level: must be a map");
    /* YAML syntax, and what the config parser refuses in it. */
    struct cdi_spec *s = NULL;
    struct cleat_error *err = NULL;
    const char *yaml = "cdiVersion: 0.5.0\nkind: &k v/c\n";
    expect_error(cdi_spec_parse("x.yaml", yaml, strlen(yaml), 1, &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "x.yaml:2:");
}

static void test_later_dir_wins(void **state) {
    struct fx *fx = *state;
    write_spec(fx->a, "dev.json", "x", "WHO=a");
    expect_env(fx, "vendor.example/dev=x", "WHO=a");
    write_spec(fx->b, "dev.json", "x", "WHO=b");
    expect_env(fx, "vendor.example/dev=x", "WHO=b");
    /* Two files of one directory: neither is used. */
    write_spec(fx->b, "dev2.json", "x", "WHO=b2");
    resolve_fails(fx, "vendor.example/dev=x", CLEAT_STATUS_INVALID_ARGUMENT, "is defined by both");
    /* Listing b twice counts it at its last place only, not as a conflict with itself. */
    unlink(strcat(strcpy((char[200]){0}, fx->b), "/dev2.json"));
    const char *dirs[] = {fx->b, fx->a, fx->b, NULL};
    struct cleat_error *err = NULL;
    OK(cdi_registry_set_dirs(fx->reg, dirs, &err));
    expect_env(fx, "vendor.example/dev=x", "WHO=b");
    const char *rel[] = {"etc/cdi", NULL};
    expect_error(cdi_registry_set_dirs(fx->reg, rel, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "not an absolute");
    expect_env(fx, "vendor.example/dev=x", "WHO=b"); /* the old list stays */
    const char *a_only[] = {fx->a, NULL};
    OK(cdi_registry_set_dirs(fx->reg, a_only, &err));
    expect_env(fx, "vendor.example/dev=x", "WHO=a");
}

static void test_unknown_and_broken(void **state) {
    struct fx *fx = *state;
    resolve_fails(fx, "vendor.example/dev=x", CLEAT_STATUS_INVALID_ARGUMENT, "\"vendor.example/dev=x\" is unknown");
    resolve_fails(fx, "dev=x", CLEAT_STATUS_INVALID_ARGUMENT, "CDI device \"dev=x\"");
    write_spec(fx->a, "good.json", "x", "GOOD=1");
    /* Broken but readable: its devices are named, and asking for one says why it cannot be used. */
    write_text(fx->a, "broken.json",
               "{\"cdiVersion\":\"0.8.0\",\"kind\":\"vendor.example/other\",\"devices\":[{\"name\":\"y\","
               "\"containerEdits\":{\"deviceNodes\":[{\"path\":\"relative\"}]}}]}");
    write_text(fx->a, "syntax.yaml", "cdiVersion: [\n");
    write_text(fx->a, "notes.txt", "not a spec, not read");
    expect_env(fx, "vendor.example/dev=x", "GOOD=1");
    resolve_fails(fx, "vendor.example/other=y", CLEAT_STATUS_INVALID_ARGUMENT, "its spec file");
    resolve_fails(fx, "vendor.example/other=y", CLEAT_STATUS_INVALID_ARGUMENT, "\"relative\" is not absolute");
    resolve_fails(fx, "vendor.example/dev=z", CLEAT_STATUS_INVALID_ARGUMENT, "syntax.yaml");
    /* A broken file in the later directory hides nothing silently: it wins, and says why it cannot be used. */
    write_text(fx->b, "dev.json",
               "{\"cdiVersion\":\"0.3.0\",\"kind\":\"vendor.example/dev\",\"devices\":[{\"name\":\"x\","
               "\"annotations\":{},\"containerEdits\":{}}]}");
    resolve_fails(fx, "vendor.example/dev=x", CLEAT_STATUS_INVALID_ARGUMENT, "need 0.6.0");
}

static void test_files_change_at_run_time(void **state) {
    struct fx *fx = *state;
    resolve_fails(fx, "vendor.example/dev=x", CLEAT_STATUS_INVALID_ARGUMENT, "is unknown");
    write_spec(fx->a, "dev.yaml", "x", "V=1");
    expect_env(fx, "vendor.example/dev=x", "V=1");
    expect_env(fx, "vendor.example/dev=x", "V=1"); /* from the cache */
    write_spec(fx->a, "dev.yaml", "x", "V=22");    /* rewritten in place */
    expect_env(fx, "vendor.example/dev=x", "V=22");
    char path[200];
    snprintf(path, sizeof(path), "%s/dev.yaml", fx->a);
    assert_int_equal(unlink(path), 0);
    resolve_fails(fx, "vendor.example/dev=x", CLEAT_STATUS_INVALID_ARGUMENT, "is unknown");
}

static void test_untrusted_files(void **state) {
    struct fx *fx = *state;
    char path[200], target[200];
    write_spec(fx->a, "dev.json", "x", "V=1");
    snprintf(path, sizeof(path), "%s/dev.json", fx->a);
    assert_int_equal(chmod(path, 0666), 0);
    resolve_fails(fx, "vendor.example/dev=x", CLEAT_STATUS_INVALID_ARGUMENT, "group or others may write it");
    assert_int_equal(chmod(path, 0644), 0);
    expect_env(fx, "vendor.example/dev=x", "V=1");
    /* A symlink leaving the directory resolves below it instead: /<root>/outside.json is not read. */
    write_spec(fx->root, "outside.json", "o", "O=1");
    snprintf(target, sizeof(target), "%s/outside.json", fx->root);
    snprintf(path, sizeof(path), "%s/out.json", fx->b);
    assert_int_equal(symlink(target, path), 0);
    resolve_fails(fx, "vendor.example/dev=o", CLEAT_STATUS_INVALID_ARGUMENT, "out.json (No such file");
    /* One inside the directory is followed. */
    snprintf(path, sizeof(path), "%s/in.json", fx->b);
    assert_int_equal(symlink("../b/real.data", path), 0);
    write_spec(fx->b, "real.data", "i", "I=1");
    resolve_fails(fx, "vendor.example/dev=i", CLEAT_STATUS_INVALID_ARGUMENT, "unknown"); /* ".." leaves b */
    unlink(path);
    assert_int_equal(symlink("real.data", path), 0);
    expect_env(fx, "vendor.example/dev=i", "I=1");
    /* A directory named like a spec is not one. */
    snprintf(path, sizeof(path), "%s/dir.json", fx->b);
    assert_int_equal(mkdir(path, 0755), 0);
    resolve_fails(fx, "vendor.example/dev=q", CLEAT_STATUS_INVALID_ARGUMENT, "not a regular file but a directory");
}

static void test_merge(void **state) {
    struct fx *fx = *state;
    write_text(fx->a, "multi.json",
               "{\"cdiVersion\":\"0.7.0\",\"kind\":\"vendor.example/m\","
               "\"containerEdits\":{\"env\":[\"SHARED=1\"],\"deviceNodes\":[{\"path\":\"/dev/ctl\","
               "\"hostPath\":\"/dev/zero\"}]},"
               "\"devices\":["
               "{\"name\":\"null\",\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/x\",\"hostPath\":"
               "\"/dev/null\"}],\"additionalGids\":[5]}},"
               "{\"name\":\"zero\",\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/x\",\"hostPath\":"
               "\"/dev/zero\"}]}},"
               "{\"name\":\"other\",\"containerEdits\":{\"env\":[\"SHARED=2\"],\"additionalGids\":[5,6]}},"
               "{\"name\":\"missing\",\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/nothere-cdi\"}]}},"
               "{\"name\":\"given\",\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/nothere-cdi\","
               "\"type\":\"c\",\"major\":10,\"minor\":200}]}},"
               "{\"name\":\"rdt\",\"containerEdits\":{\"intelRdt\":{\"closID\":\"x\"}}}]}");
    struct stat st;
    assert_int_equal(stat("/dev/null", &st), 0);
    const char *two[] = {"vendor.example/m=null", "vendor.example/m=given", "vendor.example/m=null"};
    struct cdi_edits *e = NULL;
    struct cleat_error *err = NULL;
    OK(cdi_registry_resolve(fx->reg, two, 3, &e, &err));
    assert_int_equal(e->n_env, 1); /* the spec's edits once */
    assert_int_equal(e->n_nodes, 3);
    assert_string_equal(e->nodes[1].path, "/dev/x");
    assert_int_equal(e->nodes[1].type, 'c');
    assert_int_equal(e->nodes[1].major, major(st.st_rdev));
    assert_int_equal(e->nodes[1].minor, minor(st.st_rdev));
    assert_int_equal(e->nodes[1].file_mode, st.st_mode & 07777);
    assert_int_equal(e->nodes[2].major, 10); /* given whole: no host node needed */
    assert_int_equal(e->n_gids, 1);
    cdi_edits_free(e);

    const char *clash[] = {"vendor.example/m=null", "vendor.example/m=zero"};
    expect_error(cdi_registry_resolve(fx->reg, clash, 2, &e, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "CDI devices \"vendor.example/m=null\" and \"vendor.example/m=zero\" conflict: both set the device "
                 "node /dev/x (to different host devices)");
    const char *env[] = {"vendor.example/m=null", "vendor.example/m=other"};
    expect_error(cdi_registry_resolve(fx->reg, env, 2, &e, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "both set the environment variable SHARED");
    resolve_fails(fx, "vendor.example/m=missing", CLEAT_STATUS_INVALID_ARGUMENT,
                  "CDI device \"vendor.example/m=missing\": host device /dev/nothere-cdi: No such file");
    resolve_fails(fx, "vendor.example/m=rdt", CLEAT_STATUS_FAILED_PRECONDITION, "intelRdt");
}

/* spec_cdi_names and the edits in a built config.json. */
static void test_in_config_json(void **state) {
    struct fx *fx = *state;
    Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    Runtime__V1__PodSandboxConfig p = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__CDIDevice d = RUNTIME__V1__CDIDEVICE__INIT, *ds[] = {&d};
    Runtime__V1__ContainerConfig__AnnotationsEntry a = RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT,
                                                   b = RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT,
                                                   *as[] = {&a, &b};
    Runtime__V1__KeyValue kv = RUNTIME__V1__KEY_VALUE__INIT, *kvs[] = {&kv};
    static char *cmd[] = {"/bin/true"};
    c.command = cmd;
    c.n_command = 1;
    c.envs = kvs;
    c.n_envs = 1;
    kv.key = "GPU";
    kv.value = (ProtobufCBinaryData){.len = 1, .data = (uint8_t *)"0"};
    d.name = "vendor.example/gpu=0";
    c.cdi_devices = ds;
    c.n_cdi_devices = 1;
    a.key = "cdi.k8s.io/plugin";
    a.value = "vendor.example/gpu=ctl,vendor.example/gpu=0";
    b.key = "other/x";
    b.value = "y";
    c.annotations = as;
    c.n_annotations = 2;
    char **names = NULL;
    size_t n = 0;
    struct cleat_error *err = NULL;
    OK(spec_cdi_names(&c, &names, &n, &err));
    assert_int_equal(n, 3);
    assert_string_equal(names[1], "vendor.example/gpu=ctl");
    write_text(fx->b, "gpu.yaml", yaml_spec);
    struct cdi_edits *e = NULL;
    OK(cdi_registry_resolve(fx->reg, (const char *const *)names, n, &e, &err));
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);

    struct spec_input in = {
        .container = &c, .sandbox = &p, .container_id = "c1", .sandbox_id = "s1", .rootfs = fx->root, .cdi = e};
    json_t *j = spec_built(&in);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(s, "\"GPU=1\""));
    assert_null(strstr(s, "\"GPU=0\"")); /* CDI replaces the container's own */
    assert_non_null(strstr(s, "{\"path\":\"/dev/gpu0\",\"type\":\"c\",\"major\":1,\"minor\":3,\"fileMode\":416,"
                              "\"uid\":1000,\"gid\":44}"));
    assert_non_null(strstr(s, "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}"));
    assert_non_null(strstr(s, "{\"destination\":\"/usr/lib/gpu\",\"type\":\"bind\",\"source\":\"/usr/lib\","
                              "\"options\":[\"ro\",\"rbind\"]}"));
    assert_non_null(strstr(s, "\"hooks\":{\"createContainer\":[{\"path\":\"/bin/true\",\"args\":[\"true\",\"x\"],"
                              "\"env\":[\"A=1\"],\"timeout\":5}]}"));
    assert_non_null(strstr(s, "\"additionalGids\":[0,44]"));
    free(s);
    json_decref(j);
    in.cdi = NULL;
    spec_refused(&in, CLEAT_STATUS_FAILED_PRECONDITION, "not resolved");
    cdi_edits_free(e);

    a.value = "vendor.example/gpu=0,gpu1";
    expect_error(spec_cdi_names(&c, &names, &n, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "annotation \"cdi.k8s.io/plugin\": \"gpu1\" is not a fully-qualified");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse_yaml),
        cmocka_unit_test(test_parse_json_030),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test_setup_teardown(test_later_dir_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_broken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_change_at_run_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_config_json, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
