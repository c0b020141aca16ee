/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer unpacking: compressions, diff_id, the on-disk result (owners, modes,
 * times, xattrs, devices, links, whiteouts), tar replace semantics, and
 * hostile layers that must stay inside the target directory.
 *
 * Every test runs twice: with whiteouts for an overlay upper directory
 * (UNPACK_WHITEOUTS_OVERLAY, storage-overlay's fast path) and applied onto
 * the whole tree (UNPACK_WHITEOUTS_APPLY, how a layer goes onto a mounted
 * snapshot): the same extractor with the same hardening either way.  The
 * stacking tests (test_stack_*) check that APPLY leaves the tree overlayfs
 * shows of the OVERLAY result, also onto a detached mount.
 *
 * Fixtures are written by unpack/gen_fixtures.py (tarfile writes hostile
 * names as given) into a temporary directory; the zstd ones are made here
 * with libzstd.  Runs as root (mknod, chown, trusted.* xattrs).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <openssl/evp.h>
#include <zstd.h>

#include "error.h"
#include "unpack.h"
#include "mount_util.h"
#include "unpack_decompress.h"

#define MTIME 1600000000
#define GEN CLEAT_TEST_DATA_DIR "/unpack/gen_fixtures.py"
#define OCI_TAR "application/vnd.oci.image.layer.v1.tar"
#define OCI_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

static int32_t mode;      /* UNPACK_WHITEOUTS_*: the run */
static char base_dir[64]; /* the mkdtemp directory: fixtures/ and one directory per case */
static char fixtures[PATH_MAX];
static struct stat passwd_before;

/* One test's directories: <base>/<name>/{target,outside/file} and the state of everything outside target. */
struct tcase {
    char dir[PATH_MAX];
    char target[PATH_MAX];
    char outside[PATH_MAX];
    char *before;
};

/* ---- helpers ---- */

static char *path_join(char *buf, const char *a, const char *b) {
    if (snprintf(buf, PATH_MAX, "%s/%s", a, b) >= PATH_MAX)
        fail_msg("path too long: %s/%s", a, b);
    return buf;
}

static char *fixture(const char *name) {
    static char buf[PATH_MAX];
    return path_join(buf, fixtures, name);
}

static void *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_all_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void sha256_file(const char *path, char out[UNPACK_DIFF_ID_SIZE]) {
    size_t len;
    unsigned char md[32];
    unsigned int mdlen = 0;
    void *data = read_all(path, &len);
    assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
    free(data);
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++)
        sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

static off_t file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void zstd_file(const char *in, const char *out, int frames) {
    size_t len, off = 0, total = 0;
    char *src = read_all(in, &len);
    size_t cap = ZSTD_compressBound(len) + 64 * (size_t)frames;
    char *dst = malloc(cap);
    assert_non_null(dst);
    for (int i = 0; i < frames; i++) {
        size_t part = i == frames - 1 ? len - off : len / (size_t)frames;
        size_t n = ZSTD_compress(dst + total, cap - total, src + off, part, 3);
        assert_false(ZSTD_isError(n));
        total += n;
        off += part;
    }
    write_all_file(out, dst, total);
    free(src);
    free(dst);
}

/* The state of <base> except every case's target/: appended "path mode uid gid nlink size mtime opaque" lines. */
static char *snap_buf;
static size_t snap_len, snap_cap;

static int snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    const char *tail = path + ftw->base;
    char opaque[8] = "";
    char line[PATH_MAX + 200];
    if (strcmp(tail, "target") == 0 && ftw->level == 2)
        return FTW_SKIP_SUBTREE;
    if (lgetxattr(path, "trusted.overlay.opaque", opaque, sizeof(opaque) - 1) < 0)
        opaque[0] = '\0';
    int n = snprintf(line, sizeof(line), "%s %o %u %u %lu %lld %lld.%09ld %s\n", path, st->st_mode, st->st_uid,
                     st->st_gid, (unsigned long)st->st_nlink, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
                     st->st_mtim.tv_nsec, opaque);
    if (snap_len + (size_t)n + 1 > snap_cap) {
        snap_cap = (snap_cap + (size_t)n + 1) * 2;
        snap_buf = realloc(snap_buf, snap_cap);
        assert_non_null(snap_buf);
    }
    memcpy(snap_buf + snap_len, line, (size_t)n + 1);
    snap_len += (size_t)n;
    return FTW_CONTINUE;
}

static char *snapshot(void) {
    snap_buf = NULL;
    snap_len = snap_cap = 0;
    assert_int_equal(nftw(base_dir, snap_one, 16, FTW_PHYS | FTW_ACTIONRETVAL), 0);
    return snap_buf;
}

static void case_init(struct tcase *c, const char *name) {
    char file[PATH_MAX];
    path_join(c->dir, base_dir, name);
    path_join(c->target, c->dir, "target");
    path_join(c->outside, c->dir, "outside");
    assert_int_equal(mkdir(c->dir, 0755), 0);
    assert_int_equal(mkdir(c->target, 0755), 0);
    assert_int_equal(mkdir(c->outside, 0755), 0);
    write_all_file(path_join(file, c->outside, "file"), "host\n", 5);
    c->before = snapshot();
}

/* Nothing outside target changed, and nothing appeared at the host paths an escape would hit. */
static void case_check_contained(struct tcase *c) {
    char *after = snapshot();
    struct stat st;
    if (strcmp(c->before, after) != 0)
        fail_msg("something outside %s changed:\nbefore:\n%s\nafter:\n%s", c->target, c->before, after);
    free(after);
    const char *host[] = {"/escape", "/escape2", "/abs", "/x", "/h", "/evil", "/newfile"};
    for (size_t i = 0; i < sizeof(host) / sizeof(host[0]); i++)
        if (lstat(host[i], &st) == 0)
            fail_msg("%s appeared on the host", host[i]);
    assert_int_equal(stat("/etc/passwd", &st), 0);
    assert_int_equal(st.st_nlink, passwd_before.st_nlink);
    assert_int_equal(st.st_size, passwd_before.st_size);
    assert_int_equal(st.st_ino, passwd_before.st_ino);
    assert_true(st.st_mtim.tv_sec == passwd_before.st_mtim.tv_sec &&
                st.st_mtim.tv_nsec == passwd_before.st_mtim.tv_nsec);
}

static void case_done(struct tcase *c) {
    case_check_contained(c);
    free(c->before);
    rm_rf(c->dir);
}

/* unpack_layer in this run's mode (unpack_layer itself in OVERLAY mode). */
static int unpack_fd(int fd, const char *media, const char *expect, const char *target, struct unpack_result *res,
                     struct cleat_error **err) {
    if (mode == UNPACK_WHITEOUTS_OVERLAY)
        return unpack_layer(fd, media, expect, target, NULL, res, err);
    struct unpack_target t = {.dir = target, .dirfd = -1, .whiteouts = mode};
    return unpack_layer_into(fd, media, expect, &t, NULL, res, err);
}

static int unpack_path(const char *path, const char *media, const char *expect, const char *target,
                       struct unpack_result *res, struct cleat_error **err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    int r = unpack_fd(fd, media, expect, target, res, err);
    close(fd);
    return r;
}

static void unpack_ok(const char *name, const char *media, const char *expect, const char *target,
                      struct unpack_result *res) {
    struct cleat_error *err = NULL;
    int r = unpack_path(fixture(name), media, expect, target, res, &err);
    if (r != 0)
        fail_msg("unpack %s: %s", name, error_message(err));
    assert_null(err);
}

static void unpack_fails(const char *name, const char *media, const char *target, int32_t status, const char *needle) {
    struct cleat_error *err = NULL;
    struct unpack_result res;
    int r = unpack_path(fixture(name), media, NULL, target, &res, &err);
    expect_error(r, &err, status, needle);
}

static struct stat lstat_at(const char *dir, const char *rel) {
    char p[PATH_MAX];
    struct stat st;
    if (lstat(path_join(p, dir, rel), &st) < 0)
        fail_msg("%s: %s", p, strerror(errno));
    return st;
}

static int exists_at(const char *dir, const char *rel) {
    char p[PATH_MAX];
    struct stat st;
    return lstat(path_join(p, dir, rel), &st) == 0;
}

static char *content_at(const char *dir, const char *rel) {
    char p[PATH_MAX];
    size_t len;
    char *s = read_all(path_join(p, dir, rel), &len);
    s[len] = '\0';
    return s;
}

static void assert_content(const char *dir, const char *rel, const char *want) {
    char *got = content_at(dir, rel);
    assert_string_equal(got, want);
    free(got);
}

/* The value of xattr name on dir/rel (not following), or "" if absent. */
static ssize_t xattr_at(const char *dir, const char *rel, const char *name, char *buf, size_t size) {
    char p[PATH_MAX];
    ssize_t n = lgetxattr(path_join(p, dir, rel), name, buf, size);
    if (n < 0) {
        assert_int_equal(errno, ENODATA);
        return -1;
    }
    return n;
}

static void assert_meta(const char *dir, const char *rel, mode_t type, mode_t perm, uid_t uid, gid_t gid) {
    struct stat st = lstat_at(dir, rel);
    if ((st.st_mode & S_IFMT) != type || (st.st_mode & 07777) != perm || st.st_uid != uid || st.st_gid != gid)
        fail_msg("%s: mode %o %u:%u, want %o %u:%u", rel, st.st_mode, st.st_uid, st.st_gid, type | perm, uid, gid);
}

/* ---- setup ---- */

static int group_setup(void **state) {
    char cmd[PATH_MAX * 2];
    strcpy(base_dir, "/tmp/cleat-test-unpack-XXXXXX");
    assert_non_null(mkdtemp(base_dir));
    path_join(fixtures, base_dir, "fixtures");
    assert_int_equal(mkdir(fixtures, 0755), 0);
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s all %s", GEN, fixtures);
    if (system(cmd) != 0)
        fail_msg("fixture generator failed: %s", cmd);
    char in[PATH_MAX];
    zstd_file(path_join(in, fixtures, "basic.tar"), fixture("basic.tar.zst"), 1);
    zstd_file(path_join(in, fixtures, "basic.tar"), fixture("basic-multi.tar.zst"), 3);
    zstd_file(path_join(in, fixtures, "small.tar"), fixture("small.tar.zst"), 2);
    size_t len;
    char *z = read_all(fixture("basic.tar.zst"), &len);
    write_all_file(fixture("truncated.tar.zst"), z, len / 2);
    free(z);
    assert_int_equal(stat("/etc/passwd", &passwd_before), 0);
    return 0;
}

static int group_teardown(void **state) {
    rm_rf(base_dir);
    return 0;
}

static int need_root(void **state) {
    if (geteuid() != 0) {
        print_message("not root: skipping\n");
        skip();
    }
    return 0;
}

/* ---- the basic layer ---- */

static void check_basic(const char *t, int pax) {
    struct stat st;
    char buf[64];

    assert_meta(t, "etc", S_IFDIR, 0755, 0, 0);
    assert_int_equal(lstat_at(t, "etc").st_mtim.tv_sec, MTIME + 100); /* after its contents */
    assert_meta(t, "etc/hostname", S_IFREG, 0644, 0, 0);
    assert_content(t, "etc/hostname", "cleat\n");
    assert_int_equal(lstat_at(t, "etc/hostname").st_mtim.tv_sec, MTIME + 1);
    if (mode == UNPACK_WHITEOUTS_OVERLAY) {
        st = lstat_at(t, "etc/motd"); /* .wh.motd */
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(0, 0));
    } else {
        assert_false(exists_at(t, "etc/motd")); /* nothing below to delete, and no trace */
    }
    assert_false(exists_at(t, "etc/.wh.motd"));

    assert_meta(t, "home/user", S_IFDIR, 0700, 1000, 1000);
    assert_int_equal(lstat_at(t, "home/user").st_mtim.tv_sec, MTIME + 2);
    assert_meta(t, "home/user/notes.txt", S_IFREG, 0600, 1000, 1000);
    st = lstat_at(t, "home/user/notes.txt");
    assert_int_equal(st.st_size, 300 * 1024 + 13 * 20000);
    assert_int_equal(st.st_mtim.tv_sec, MTIME + 3);
    char *notes = content_at(t, "home/user/notes.txt");
    assert_memory_equal(notes + st.st_size - 26, "compressible compressible ", 26);
    free(notes);

    assert_meta(t, "usr/bin/su", S_IFREG, 04755, 0, 0);
    assert_meta(t, "usr/bin/wall", S_IFREG, 02755, 0, 5);
    st = lstat_at(t, "usr/bin/su2");
    assert_int_equal(st.st_ino, lstat_at(t, "usr/bin/su").st_ino);
    assert_int_equal(st.st_nlink, 2);
    char link[PATH_MAX];
    ssize_t n = readlink(path_join(link, t, "usr/bin/sh"), buf, sizeof(buf));
    assert_int_equal(n, strlen("/bin/busybox"));
    assert_memory_equal(buf, "/bin/busybox", n);
    assert_int_equal(lstat_at(t, "usr/bin/sh").st_mtim.tv_sec, MTIME + 5);

    if (pax) {
        const uint32_t caps[5] = {0x02000001, 1 << 13, 0, 0, 0};
        n = xattr_at(t, "usr/bin/ping", "security.capability", buf, sizeof(buf));
        assert_int_equal(n, sizeof(caps));
        assert_memory_equal(buf, caps, sizeof(caps));
        n = xattr_at(t, "usr/bin/ping", "user.comment", buf, sizeof(buf));
        assert_int_equal(n, 5);
        assert_memory_equal(buf, "hello", 5);
        n = xattr_at(t, "usr/bin/sh", "trusted.cleat", buf, sizeof(buf));
        assert_int_equal(n, strlen("on a symlink"));
        assert_memory_equal(buf, "on a symlink", n);
        assert_int_equal(xattr_at(t, "usr/bin/sh", "user.denied", buf, sizeof(buf)), -1); /* EPERM on symlinks */
    }
    assert_meta(t, "usr/bin/ping", S_IFREG, 0755, 0, 0);

    assert_meta(t, "tmp", S_IFDIR, 01777, 0, 0);
    assert_meta(t, "dev/null", S_IFCHR, 0666, 0, 0);
    assert_int_equal(lstat_at(t, "dev/null").st_rdev, makedev(1, 3));
    assert_meta(t, "dev/loop0", S_IFBLK, 0660, 0, 6);
    assert_int_equal(lstat_at(t, "dev/loop0").st_rdev, makedev(7, 0));
    assert_meta(t, "run/fifo", S_IFIFO, 0600, 0, 0);
    assert_meta(t, "run", S_IFDIR, 0755, 0, 0); /* implicit parent */

    n = xattr_at(t, "var/lib", "trusted.overlay.opaque", buf, sizeof(buf));
    if (mode == UNPACK_WHITEOUTS_OVERLAY) {
        assert_int_equal(n, 1);
        assert_int_equal(buf[0], 'y');
    } else {
        assert_int_equal(n, -1);
    }
    assert_false(exists_at(t, "var/lib/.wh..wh..opq"));
    assert_content(t, "var/lib/fresh", "fresh\n");
    assert_false(exists_at(t, ".wh..wh.plnk"));
    assert_int_equal(xattr_at(t, "sneaky", "trusted.overlay.opaque", buf, sizeof(buf)), -1);

    assert_content(t, "names/bin\xff\xfename", "raw\n");
    assert_content(t, "names/caf\xc3\xa9", "utf8\n");
    assert_content(t, "implicit/deep/file", "implicit\n");
    assert_meta(t, "implicit/deep", S_IFDIR, 0755, 0, 0);
    assert_meta(t, ".", S_IFDIR, 0755, 0, 0); /* "./" is the snapshot's, not the layer's */
}

static void unpack_basic(const char *name, const char *media, int32_t compression, int pax) {
    struct tcase c;
    struct unpack_result res;
    char tar_digest[UNPACK_DIFF_ID_SIZE];
    const char *tar = pax ? "basic.tar" : "basic-gnu.tar";

    sha256_file(fixture(tar), tar_digest);
    case_init(&c, "basic");
    unpack_ok(name, media, tar_digest, c.target, &res);
    assert_string_equal(res.diff_id, tar_digest);
    assert_int_equal(res.uncompressed_bytes, file_size(fixture(tar)));
    assert_int_equal(res.compressed_bytes, file_size(fixture(name)));
    assert_int_equal(res.compression, compression);
    assert_int_equal(res.entries, 28);
    assert_int_equal(res.whiteouts, 2);
    assert_int_equal(res.file_bytes, 300 * 1024 + 13 * 20000 + 6 + 10 + 5 + 5 + 6 + 4 + 5 + 9);
    check_basic(c.target, pax);
    case_done(&c);
}

static void test_basic_plain(void **state) {
    unpack_basic("basic.tar", NULL, UNPACK_COMPRESSION_NONE, 1);
    unpack_basic("basic.tar", OCI_TAR, UNPACK_COMPRESSION_NONE, 1);
}

static void test_basic_gnu_format(void **state) {
    unpack_basic("basic-gnu.tar", NULL, UNPACK_COMPRESSION_NONE, 0);
}

static void test_basic_gzip(void **state) {
    unpack_basic("basic.tar.gz", NULL, UNPACK_COMPRESSION_GZIP, 1);
    unpack_basic("basic.tar.gz", OCI_GZIP, UNPACK_COMPRESSION_GZIP, 1);
    unpack_basic("basic.tar.gz", DOCKER_GZIP, UNPACK_COMPRESSION_GZIP, 1);
}

static void test_basic_gzip_multi_member(void **state) {
    unpack_basic("basic-multi.tar.gz", OCI_GZIP, UNPACK_COMPRESSION_GZIP, 1);
}

static void test_basic_zstd(void **state) {
    unpack_basic("basic.tar.zst", NULL, UNPACK_COMPRESSION_ZSTD, 1);
    unpack_basic("basic-multi.tar.zst", OCI_ZSTD, UNPACK_COMPRESSION_ZSTD, 1);
}

/* ---- diff_id ---- */

static void test_trailing_bytes_hashed(void **state) {
    const char *names[] = {"trailing.tar", "trailing.tar.gz"};
    char want[UNPACK_DIFF_ID_SIZE];
    sha256_file(fixture("trailing.tar"), want);
    for (size_t i = 0; i < 2; i++) {
        struct tcase c;
        struct unpack_result res;
        case_init(&c, "trailing");
        unpack_ok(names[i], NULL, want, c.target, &res);
        assert_string_equal(res.diff_id, want);
        assert_int_equal(res.uncompressed_bytes, file_size(fixture("trailing.tar")));
        assert_content(c.target, "etc/hostname", "cleat\n");
        case_done(&c);
    }
}

static void test_diff_id_mismatch(void **state) {
    struct tcase c;
    struct unpack_result res;
    struct cleat_error *err = NULL;
    char real[UNPACK_DIFF_ID_SIZE], want[200];
    const char *bogus = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    sha256_file(fixture("basic.tar"), real);
    snprintf(want, sizeof(want), "diff_id mismatch: config says %s, content is %s", bogus, real);
    case_init(&c, "mismatch");
    int r = unpack_path(fixture("basic.tar.gz"), OCI_GZIP, bogus, c.target, &res, &err);
    expect_error(r, &err, CLEAT_STATUS_FAILED_PRECONDITION, want);
    case_done(&c);
}

static void test_bad_arguments(void **state) {
    struct tcase c;
    struct unpack_result res;
    struct cleat_error *err = NULL;
    int32_t comp = -1;

    case_init(&c, "args");
    int r = unpack_path(fixture("basic.tar"), NULL, "sha256:ABC", c.target, &res, &err);
    expect_error(r, &err, CLEAT_STATUS_INVALID_ARGUMENT, "layer diff_id: invalid digest 'sha256:ABC'");
    r = unpack_path(fixture("basic.tar"), NULL, "md5:d41d8cd98f00b204e9800998ecf8427e", c.target, &res, &err);
    expect_error(r, &err, CLEAT_STATUS_INVALID_ARGUMENT, "invalid digest 'md5:");
    char sha512[200] = "sha512:";
    memset(sha512 + 7, 'a', 128);
    r = unpack_path(fixture("basic.tar"), NULL, sha512, c.target, &res, &err);
    expect_error(r, &err, CLEAT_STATUS_UNIMPLEMENTED, "only sha256");
    unpack_fails("basic.tar", "application/vnd.oci.image.layer.v1.tar+gzip+encrypted", c.target,
                 CLEAT_STATUS_INVALID_ARGUMENT, "unsupported layer media type");
    unpack_fails("basic.tar", "application/vnd.oci.image.config.v1+json", c.target, CLEAT_STATUS_INVALID_ARGUMENT,
                 "unsupported layer media type");
    r = unpack_path(fixture("basic.tar"), NULL, NULL, "/nonexistent/cleat", &res, &err);
    expect_error(r, &err, CLEAT_STATUS_NOT_FOUND, "cannot open target directory /nonexistent/cleat");

    assert_int_equal(unpack_media_type_compression(NULL, &comp, &err), 0);
    assert_int_equal(comp, UNPACK_COMPRESSION_AUTO);
    assert_int_equal(
        unpack_media_type_compression("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", &comp, &err), 0);
    assert_int_equal(comp, UNPACK_COMPRESSION_GZIP);
    assert_string_equal(unpack_compression_name(UNPACK_COMPRESSION_ZSTD), "zstd");
    assert_false(exists_at(c.target, "etc"));
    case_done(&c);
}

static void test_media_type_mismatch(void **state) {
    struct tcase c;
    case_init(&c, "media");
    unpack_fails("basic.tar.gz", OCI_TAR, c.target, CLEAT_STATUS_INVALID_ARGUMENT,
                 "media type " OCI_TAR " says none, but the content is gzip");
    unpack_fails("basic.tar.gz", OCI_ZSTD, c.target, CLEAT_STATUS_INVALID_ARGUMENT,
                 "says zstd, but the content is gzip");
    unpack_fails("basic.tar", OCI_GZIP, c.target, CLEAT_STATUS_INVALID_ARGUMENT, "says gzip, but the content is not");
    unpack_fails("basic.tar.zst", DOCKER_GZIP, c.target, CLEAT_STATUS_INVALID_ARGUMENT,
                 "says gzip, but the content is zstd");
    assert_false(exists_at(c.target, "etc"));
    case_done(&c);
}

/* ---- broken streams ---- */

static void test_corrupt_streams(void **state) {
    struct tcase c;
    case_init(&c, "corrupt");
    unpack_fails("truncated.tar.gz", NULL, c.target, CLEAT_STATUS_INVALID_ARGUMENT, "truncated gzip layer");
    unpack_fails("trailing-junk.tar.gz", NULL, c.target, CLEAT_STATUS_INVALID_ARGUMENT,
                 "trailing garbage after the gzip stream");
    unpack_fails("bad-crc.tar.gz", NULL, c.target, CLEAT_STATUS_INVALID_ARGUMENT, "gzip checksum mismatch");
    unpack_fails("gzip-garbage.gz", NULL, c.target, CLEAT_STATUS_INVALID_ARGUMENT, "corrupt gzip layer");
    unpack_fails("garbage.bin", NULL, c.target, CLEAT_STATUS_INVALID_ARGUMENT, "cannot read the layer's tar");
    unpack_fails("truncated.tar", NULL, c.target, CLEAT_STATUS_INVALID_ARGUMENT, "runcated");
    unpack_fails("truncated.tar.zst", NULL, c.target, CLEAT_STATUS_INVALID_ARGUMENT, "zstd layer");
    case_done(&c);
}

static void test_empty_blob(void **state) {
    struct tcase c;
    struct unpack_result res;
    struct cleat_error *err = NULL;
    write_all_file(fixture("empty"), "", 0);
    case_init(&c, "empty");
    unpack_ok("empty", NULL, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", c.target, &res);
    assert_int_equal(res.entries, 0);
    int r = unpack_path(fixture("empty"), OCI_GZIP, NULL, c.target, &res, &err);
    expect_error(r, &err, CLEAT_STATUS_INVALID_ARGUMENT, "says gzip, but the layer is empty");
    case_done(&c);
}

/* The blob through a pipe in tiny writes: every boundary (magic, gzip header and trailer, zstd frame) is split. */
static void unpack_trickled(const char *name, size_t max_chunk, const char *tar) {
    struct tcase c;
    struct unpack_result res;
    struct cleat_error *err = NULL;
    char want[UNPACK_DIFF_ID_SIZE];
    int p[2];
    size_t len;
    char *data = read_all(fixture(name), &len);

    sha256_file(fixture(tar), want);
    case_init(&c, "trickle");
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        for (size_t off = 0, i = 0; off < len; i++) {
            size_t n = i % max_chunk + 1;
            if (n > len - off)
                n = len - off;
            if (write(p[1], data + off, n) != (ssize_t)n)
                _exit(1);
            off += n;
        }
        _exit(0);
    }
    close(p[1]);
    int r = unpack_fd(p[0], NULL, want, c.target, &res, &err);
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (r != 0)
        fail_msg("unpack %s from a pipe: %s", name, error_message(err));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_equal(res.diff_id, want);
    assert_int_equal(res.compressed_bytes, len);
    free(data);
    if (strcmp(tar, "small.tar") == 0) {
        assert_int_equal(res.entries, 41);
        char *f = content_at(c.target, "s/f39");
        assert_int_equal(strlen(f), 8 * (39 * 37 % 500));
        free(f);
    } else {
        check_basic(c.target, 1);
    }
    case_done(&c);
}

static void test_pipe_trickle(void **state) {
    unpack_trickled("small-multi.tar.gz", 3, "small.tar");
    unpack_trickled("small.tar.zst", 2, "small.tar");
    unpack_trickled("small.tar", 5, "small.tar");
    unpack_trickled("basic-multi.tar.gz", 97, "basic.tar");
}

/*
 * A refused entry while the writer of the pipe stalls (never sends EOF): the
 * reading thread must be cancelled, not waited for.
 */
static void test_refusal_with_stalled_writer(void **state) {
    struct tcase c;
    struct unpack_result res;
    struct cleat_error *err = NULL;
    struct timespec t0, t1;
    size_t len;
    int p[2];
    char *data = read_all(fixture("loop.tar"), &len);

    case_init(&c, "stalled");
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (write(p[1], data, len) != (ssize_t)len)
            _exit(1);
        alarm(60); /* never outlive a hung test by long */
        pause();   /* keep the pipe open */
        _exit(0);
    }
    close(p[1]);
    free(data);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = unpack_fd(p[0], OCI_TAR, NULL, c.target, &res, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(p[0]);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    expect_error(r, &err, CLEAT_STATUS_INVALID_ARGUMENT, "layer entry 'a/x'");
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    case_done(&c);
}

/* ---- tar semantics ---- */

static void test_replace_semantics(void **state) {
    struct tcase c;
    struct unpack_result res;
    char buf[64], p[PATH_MAX];

    case_init(&c, "replace");
    unpack_ok("replace.tar", NULL, NULL, c.target, &res);
    ssize_t n = readlink(path_join(p, c.target, "r/f"), buf, sizeof(buf));
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "target", 6);
    assert_meta(c.target, "r/s", S_IFREG, 0600, 0, 0);
    assert_content(c.target, "r/s", "not through the link\n");
    assert_meta(c.target, "r/d", S_IFDIR, 0700, 7, 7);
    assert_content(c.target, "r/d/inner", "inner\n");
    assert_meta(c.target, "r/t", S_IFREG, 0644, 0, 0);
    assert_content(c.target, "r/t", "now a file\n");
    assert_content(c.target, "r/h", "h\n");
    assert_int_equal(lstat_at(c.target, "r/h").st_nlink, 1);
    assert_true(S_ISLNK(lstat_at(c.target, "r/alias").st_mode));
    assert_meta(c.target, "r/real/sub", S_IFDIR, 0750, 0, 0);
    assert_int_equal(lstat_at(c.target, "r/real/sub").st_mtim.tv_sec, MTIME + 30);
    assert_int_equal(lstat_at(c.target, "r/real").st_mtim.tv_sec, MTIME + 10);
    assert_meta(c.target, "r/t2", S_IFDIR, 0711, 0, 0);
    assert_int_equal(lstat_at(c.target, "r/t2").st_mtim.tv_sec, MTIME + 50);
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof(name), "r/new/d%02d", i);
        assert_int_equal(lstat_at(c.target, name).st_mtim.tv_sec, MTIME + 60);
    }
    case_done(&c);
}

/* ---- hostile layers ---- */

static void hostile_ok(const char *name, struct tcase *c) {
    struct unpack_result res;
    char tar[PATH_MAX];
    snprintf(tar, sizeof(tar), "%s.tar", name);
    case_init(c, name);
    unpack_ok(tar, NULL, NULL, c->target, &res);
}

static void hostile_refused(const char *name, const char *needle) {
    struct tcase c;
    char tar[PATH_MAX];
    snprintf(tar, sizeof(tar), "%s.tar", name);
    case_init(&c, name);
    unpack_fails(tar, NULL, c.target, CLEAT_STATUS_INVALID_ARGUMENT, needle);
    case_done(&c);
}

static void test_hostile_dotdot(void **state) {
    struct tcase c;
    hostile_ok("dotdot", &c);
    assert_content(c.target, "escape", "x");
    assert_content(c.target, "escape2", "x");
    case_done(&c);
    hostile_ok("midotdot", &c);
    assert_content(c.target, "x", "x");
    case_done(&c);
}

static void test_hostile_absolute(void **state) {
    struct tcase c;
    hostile_ok("abs", &c);
    assert_content(c.target, "abs/escape", "x");
    case_done(&c);
}

static void test_hostile_symlink_escape(void **state) {
    struct tcase c;
    hostile_ok("symlink_root", &c);
    /* Written through the symlinks, but resolved inside the target. */
    assert_content(c.target, "escape", "x");
    assert_content(c.target, "escape2", "x");
    assert_content(c.target, "outside/newfile", "x");
    assert_false(exists_at(c.outside, "newfile"));
    assert_content(c.target, "etc/passwd", "pwned\n"); /* a -> /etc, then a/passwd */
    assert_true(S_ISLNK(lstat_at(c.target, "evil").st_mode));
    case_done(&c);

    /* A file entry over a symlink replaces the symlink and never writes through it. */
    hostile_ok("symlink_file_over", &c);
    assert_meta(c.target, "lnk", S_IFREG, 0644, 0, 0);
    assert_content(c.target, "lnk", "pwned\n");
    case_done(&c);
}

static void test_hostile_symlink_parent(void **state) {
    /* d -> /etc, then d/passwd: the parent resolves to <target>/etc, which does not exist, and is never /etc. */
    hostile_refused("symlink_parent_etc", "layer entry 'd/passwd': cannot create parent directory 'd'");
    hostile_refused("symlink_opaque", "layer entry 'lnk/.wh..wh..opq'");
    hostile_refused("symlink_whiteout", "layer entry 'lnk/.wh.file'");
}

static void test_hostile_hardlinks(void **state) {
    struct tcase c;
    hostile_refused("symlink_hardlink", "layer entry 'h': hardlink target 'out/file' is not in the layer");
    hostile_refused("hardlink_dotdot", "layer entry 'h': hardlink target 'outside/file' is not in the layer");
    hostile_refused("hardlink_etc", "layer entry 'h': hardlink target 'etc/passwd' is not in the layer");
    hostile_refused("hardlink_dir", "layer entry 'h': hardlink to a directory");

    /* /etc/passwd of the layer itself: linked inside the target. */
    hostile_ok("hardlink_etc_in_layer", &c);
    struct stat st = lstat_at(c.target, "h");
    assert_int_equal(st.st_ino, lstat_at(c.target, "etc/passwd").st_ino);
    assert_int_equal(st.st_nlink, 2);
    assert_content(c.target, "h", "fake\n");
    case_done(&c);
}

static void test_hostile_symlink_loop(void **state) {
    hostile_refused("loop", "layer entry 'a/x': cannot resolve parent directory: Too many levels of symbolic links");
}

static void test_hostile_devices(void **state) {
    struct tcase c;
    hostile_ok("device", &c);
    assert_meta(c.target, "sda", S_IFBLK, 0666, 0, 0);
    assert_int_equal(lstat_at(c.target, "sda").st_rdev, makedev(8, 0));
    assert_meta(c.target, "kmem", S_IFCHR, 0666, 0, 0);
    case_done(&c);
}

static void test_hostile_names(void **state) {
    hostile_refused("giant", "the path is longer than");
    hostile_refused("long_component", "a path component is longer than 255 bytes");
    hostile_refused("whiteout_dotdot", "layer entry '.wh...': whiteout of nothing");
}

/* ---- scale ---- */

/*
 * A directory missing at the bottom of a deep chain used to be found by
 * resolving every prefix from the root, quadratic in the depth: ~135 ms of
 * kernel time per entry at depth 2000, so a layer of such entries (they
 * compress to almost nothing) held a pull for hours.  A hang check with a
 * wide margin (it takes well under a second now), not a benchmark.
 */
static void test_deep_paths_are_not_quadratic(void **state) {
    struct tcase c;
    struct unpack_result res;
    struct timespec t0, t1;
    char name[64];

    case_init(&c, "deep");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unpack_ok("deep.tar", NULL, NULL, c.target, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(res.entries, 400);
    /* The path is longer than the target's own prefix leaves room for: walk it. */
    int fd = open(c.target, O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < 2000 && fd >= 0; i++) {
        int sub = openat(fd, "a", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = sub;
    }
    assert_true(fd >= 0);
    for (int i = 0; i < 400; i += 399) {
        struct stat st;
        snprintf(name, sizeof(name), "b%03d/f", i);
        assert_int_equal(fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISREG(st.st_mode) && st.st_size == 1);
    }
    close(fd);
    print_message("400 entries 2000 deep: %.2f s\n",
                  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    assert_true(t1.tv_sec - t0.tv_sec < 20);
    case_done(&c);
}

/* The resident set now (VmRSS), in KiB. */
static long rss_kib(void) {
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    assert_true(kib > 0);
    return kib;
}

static void test_many_entries_from_pipe(void **state) {
    struct tcase c;
    struct unpack_result res;
    struct cleat_error *err = NULL;
    char cmd[PATH_MAX];
    const int n = 100000;

    case_init(&c, "many");
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s many %d", GEN, n);
    FILE *gen = popen(cmd, "r");
    assert_non_null(gen);
    long rss = rss_kib();
    int r = unpack_fd(fileno(gen), OCI_GZIP, NULL, c.target, &res, &err);
    assert_int_equal(pclose(gen), 0);
    if (r != 0)
        fail_msg("unpack: %s", error_message(err));
    assert_int_equal(res.entries, n);
    /* The generator's last block of 50 entries for d42 starts at i: file, symlink, whiteout, 27 listings of d42. */
    int i = 50 * 1942;
    char name[64];
    snprintf(name, sizeof(name), "d42/f%06d", i);
    assert_meta(c.target, name, S_IFREG, 0644, (uid_t)(i % 7), (gid_t)(i % 5));
    assert_true(S_ISLNK(lstat_at(c.target, "d42/link").st_mode));
    if (mode == UNPACK_WHITEOUTS_OVERLAY)
        assert_true(S_ISCHR(lstat_at(c.target, "d42/gone").st_mode));
    else
        assert_false(exists_at(c.target, "d42/gone"));
    assert_int_equal(lstat_at(c.target, "d42").st_mtim.tv_sec, MTIME + i + 29); /* the last listing wins */
    assert_false(exists_at(c.target, "d42/.wh..wh.plnk"));
    long grown = rss_kib() - rss;
    print_message("%d entries: RSS grew by %ld KiB\n", n, grown);
#if !defined(__SANITIZE_ADDRESS__)
    assert_true(grown < 16 * 1024); /* buffers come and go; only APPLY keeps a path per name (2,000 here) */
#endif
    case_done(&c);
}

/* ---- stacking: APPLY onto a tree gives what overlayfs shows of OVERLAY layers ---- */

/* One line per entry below root: "path type perm uid:gid ..." with a file's content and mtime, a link's target. */
static char **list_lines;
static size_t list_n, list_cap, list_root_len;

static int list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    const char *rel = path + list_root_len;
    while (*rel == '/')
        rel++;
    /*
     * FTW_NS: listed but not there.  overlayfs lists a whiteout in a
     * directory no lower layer has (opt/.wh.nothing) and then answers ENOENT
     * for it, as for any whiteout: it does not exist.
     */
    if (!*rel || flag == FTW_NS)
        return FTW_CONTINUE;
    char extra[PATH_MAX + 64] = "";
    if (S_ISREG(st->st_mode)) {
        size_t len;
        char *data = read_all(path, &len);
        uint64_t h = 1469598103934665603ULL; /* FNV-1a: a fingerprint of small files */
        for (size_t i = 0; i < len; i++)
            h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
        free(data);
        snprintf(extra, sizeof(extra), "size=%lld fnv=%016llx mtime=%lld", (long long)st->st_size,
                 (unsigned long long)h, (long long)st->st_mtim.tv_sec);
    } else if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        assert_true(n >= 0);
        target[n] = '\0';
        snprintf(extra, sizeof(extra), "-> %s mtime=%lld", target, (long long)st->st_mtim.tv_sec);
    } else if (!S_ISDIR(st->st_mode)) {
        snprintf(extra, sizeof(extra), "rdev=%llx", (unsigned long long)st->st_rdev);
    }
    if (list_n == list_cap) {
        list_cap = list_cap ? list_cap * 2 : 64;
        list_lines = realloc(list_lines, list_cap * sizeof(char *));
        assert_non_null(list_lines);
    }
    assert_true(asprintf(&list_lines[list_n++], "%s %o %o %u:%u %s", rel, st->st_mode & S_IFMT, st->st_mode & 07777,
                         st->st_uid, st->st_gid, extra) > 0);
    return FTW_CONTINUE;
}

static int cmp_lines(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The tree below root as sorted lines joined by '\n' (directories' times are left out: see test_stack_*). */
static char *tree_listing(const char *root) {
    list_lines = NULL;
    list_n = list_cap = 0;
    list_root_len = strlen(root);
    assert_int_equal(nftw(root, list_one, 16, FTW_PHYS | FTW_ACTIONRETVAL), 0);
    qsort(list_lines, list_n, sizeof(char *), cmp_lines);
    size_t total = 1;
    for (size_t i = 0; i < list_n; i++)
        total += strlen(list_lines[i]) + 1;
    char *out = calloc(1, total);
    assert_non_null(out);
    for (size_t i = 0; i < list_n; i++) {
        strcat(out, list_lines[i]);
        strcat(out, "\n");
        free(list_lines[i]);
    }
    free(list_lines);
    return out;
}

/* Unpack fixture `name` into t (a directory or a descriptor). */
static void unpack_into(const char *name, const struct unpack_target *t) {
    struct unpack_result res;
    struct cleat_error *err = NULL;
    int fd = open(fixture(name), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    int r = unpack_layer_into(fd, NULL, NULL, t, NULL, &res, &err);
    close(fd);
    if (r != 0)
        fail_msg("unpack %s into %s: %s", name, unpack_target_name(t), error_message(err));
}

static void unpack_stack(const char *dir, int32_t wmode) {
    struct unpack_target t = {.dir = dir, .dirfd = -1, .whiteouts = wmode};
    unpack_into("stack-lower.tar", &t);
    unpack_into("stack-upper.tar", &t);
}

/* The merged tree both ways must show. */
static void check_stack(const char *t) {
    assert_false(exists_at(t, "etc/motd"));
    assert_content(t, "etc/keep", "keep\n");
    assert_meta(t, "etc/keep", S_IFREG, 0600, 7, 8);
    assert_content(t, "etc/hostname", "upper\n");
    assert_int_equal(lstat_at(t, "etc").st_mtim.tv_sec, MTIME + 200);
    assert_false(exists_at(t, "var/lib/old"));
    assert_content(t, "var/lib/new", "new\n");
    assert_false(exists_at(t, "var/lib/sub/deep")); /* the lower's sub, merged below the opaque var/lib: hidden */
    assert_content(t, "var/lib/sub/added", "added\n");
    assert_meta(t, "var/lib/sub", S_IFDIR, 0755, 0, 0);
    assert_int_equal(lstat_at(t, "var/lib").st_mtim.tv_sec, MTIME + 202);
    assert_false(exists_at(t, "opq2/a")); /* the marker came after the layer's own opq2/c */
    assert_content(t, "opq2/c", "upper c\n");
    assert_false(exists_at(t, "gone-dir"));
    assert_false(exists_at(t, "link"));
    assert_meta(t, "etc", S_IFDIR, 0755, 0, 0); /* what the whited-out symlink pointed to stays */
    assert_content(t, "dir2file", "now a file\n");
    assert_meta(t, "file2dir", S_IFDIR, 0711, 0, 0);
    assert_content(t, "file2dir/inside", "in\n");
    assert_false(exists_at(t, "hl-a"));
    assert_content(t, "hl-b", "hard\n");
    assert_meta(t, "hl-b", S_IFREG, 0640, 3, 4);
    assert_meta(t, "opt", S_IFDIR, 0755, 0, 0);
    assert_false(exists_at(t, "opt/nothing"));
    assert_meta(t, "usr/bin/tool", S_IFREG, 04755, 1000, 1000);
    assert_true(S_ISLNK(lstat_at(t, "usr/bin/new").st_mode));
}

/*
 * The same two layers, OVERLAY into two directories mounted as one
 * overlayfs, and APPLY into one directory: every file, link, device, mode,
 * owner, content and time the same (directories' times aside: an overlay
 * upper directory the layer did not list is made when unpacked, while APPLY
 * keeps the lower one; nlink aside: overlayfs reports the lower inode's).
 */
static void test_stack_matches_overlay(void **state) {
    struct tcase c;
    char lower[PATH_MAX], upper[PATH_MAX], merged[PATH_MAX], applied[PATH_MAX], opts[3 * PATH_MAX];
    case_init(&c, "stack");
    const char *dirs[] = {path_join(lower, c.target, "lower"), path_join(upper, c.target, "upper"),
                          path_join(merged, c.target, "merged"), path_join(applied, c.target, "applied")};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(mkdir(dirs[i], 0755), 0);
    struct unpack_target t = {.dir = lower, .dirfd = -1, .whiteouts = UNPACK_WHITEOUTS_OVERLAY};
    unpack_into("stack-lower.tar", &t);
    t.dir = upper;
    unpack_into("stack-upper.tar", &t);
    unpack_stack(applied, UNPACK_WHITEOUTS_APPLY);
    snprintf(opts, sizeof(opts), "lowerdir=%s:%s", upper, lower);
    if (mount("overlay", merged, "overlay", MS_RDONLY, opts) < 0)
        fail_msg("mount overlay %s: %s", opts, strerror(errno));
    check_stack(merged);
    char *want = tree_listing(merged);
    assert_int_equal(umount2(merged, MNT_DETACH), 0);
    check_stack(applied);
    char *got = tree_listing(applied);
    if (strcmp(want, got) != 0)
        fail_msg("APPLY differs from the overlay view:\noverlay:\n%s\napplied:\n%s", want, got);
    free(want);
    free(got);
    case_done(&c);
}

/* APPLY through a descriptor of a detached mount (a tmpfs here), as the pull does for a snapshot on a block device. */
static void test_stack_onto_detached_mount(void **state) {
    struct tcase c;
    struct cleat_error *err = NULL;
    char applied[PATH_MAX], proc[64];
    case_init(&c, "detached");
    assert_int_equal(mkdir(path_join(applied, c.target, "applied"), 0755), 0);
    unpack_stack(applied, UNPACK_WHITEOUTS_APPLY);
    const char *const opts[] = {"mode=0755", "nodev", NULL};
    struct cleat_mount m = {.type = "tmpfs", .source = "cleat-test", .options = opts};
    int mfd = -1;
    check(mount_detached(&m, &mfd, &err), err);
    struct unpack_target t = {.dirfd = mfd, .name = "a detached tmpfs", .whiteouts = UNPACK_WHITEOUTS_APPLY};
    unpack_into("stack-lower.tar", &t);
    unpack_into("stack-upper.tar", &t);
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d/.", mfd); /* "/." : nftw drops a trailing "/" */
    check_stack(proc);
    char *want = tree_listing(applied), *got = tree_listing(proc);
    assert_string_equal(got, want);
    free(want);
    free(got);
    close(mfd);
    case_done(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_basic_plain, need_root),
        cmocka_unit_test_setup(test_basic_gnu_format, need_root),
        cmocka_unit_test_setup(test_basic_gzip, need_root),
        cmocka_unit_test_setup(test_basic_gzip_multi_member, need_root),
        cmocka_unit_test_setup(test_basic_zstd, need_root),
        cmocka_unit_test_setup(test_trailing_bytes_hashed, need_root),
        cmocka_unit_test_setup(test_diff_id_mismatch, need_root),
        cmocka_unit_test_setup(test_bad_arguments, need_root),
        cmocka_unit_test_setup(test_media_type_mismatch, need_root),
        cmocka_unit_test_setup(test_corrupt_streams, need_root),
        cmocka_unit_test_setup(test_empty_blob, need_root),
        cmocka_unit_test_setup(test_pipe_trickle, need_root),
        cmocka_unit_test_setup(test_refusal_with_stalled_writer, need_root),
        cmocka_unit_test_setup(test_replace_semantics, need_root),
        cmocka_unit_test_setup(test_hostile_dotdot, need_root),
        cmocka_unit_test_setup(test_hostile_absolute, need_root),
        cmocka_unit_test_setup(test_hostile_symlink_escape, need_root),
        cmocka_unit_test_setup(test_hostile_symlink_parent, need_root),
        cmocka_unit_test_setup(test_hostile_hardlinks, need_root),
        cmocka_unit_test_setup(test_hostile_symlink_loop, need_root),
        cmocka_unit_test_setup(test_hostile_devices, need_root),
        cmocka_unit_test_setup(test_hostile_names, need_root),
        cmocka_unit_test_setup(test_deep_paths_are_not_quadratic, need_root),
        cmocka_unit_test_setup(test_many_entries_from_pipe, need_root),
    };
    const struct CMUnitTest stacking[] = {
        cmocka_unit_test_setup(test_stack_matches_overlay, need_root),
        cmocka_unit_test_setup(test_stack_onto_detached_mount, need_root),
    };
    int failed = 0;
    for (mode = UNPACK_WHITEOUTS_OVERLAY; mode <= UNPACK_WHITEOUTS_APPLY; mode++) {
        print_message("whiteouts: %s\n", mode == UNPACK_WHITEOUTS_OVERLAY ? "overlay" : "applied");
        failed += cmocka_run_group_tests(tests, group_setup, group_teardown);
    }
    return failed + cmocka_run_group_tests(stacking, group_setup, group_teardown);
}
