/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A layer's tar, as the hardened extractor applies it (core/image/unpack_extract.c
 * through unpack_tar_memory: libarchive reading from memory, no thread, no
 * decompression, which unpack_layer adds around the same extractor).
 *
 * Two passes per input:
 *   1. every entry name and hardlink target through the name cleaning alone
 *      (extract_clean_path): what comes out is clean (no "", "." or ".."
 *      component, no leading or trailing '/', components of at most
 *      NAME_MAX, shorter than PATH_MAX), has no more components than the raw
 *      name, and cleans to itself;
 *   2. the whole tar extracted into a scratch root: a failure has a message
 *      and a status a layer may cause, and nothing appears or changes next
 *      to the root (a canary file and the scratch directory's listing);
 *   3. the same tar applied again on top of what pass 2 left, with whiteouts
 *      applied (UNPACK_WHITEOUTS_APPLY, the unpack onto a mounted snapshot):
 *      its deletions (whiteouts, opaque directories) then meet a tree, and
 *      must stay inside the root too.
 *
 * Speed: the scratch directory is made once per process, on tmpfs
 * (/dev/shm) when there is one, and the root is emptied in place after each
 * input; a naive target (unpack_layer on a memfd into a new directory each
 * time) ran at ~26 inputs/s under ASan, most of it page faults and ext4's
 * mkdir/unlink.  Run as root for full coverage (chown, mknod, trusted.*
 * xattrs); as another user those steps fail and are reported, which is
 * covered too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "error.h"
#include "fuzz.h"
#include "unpack.h"
#include "unpack_extract.h"

static char scratch[PATH_MAX], root[PATH_MAX + 8], canary[PATH_MAX + 8];
static struct stat canary_st;

/* ---- the scratch directory ---- */

/* Remove everything under dirfd (closed here); depth-first, without following symlinks. */
static void empty_dir(int dirfd) {
    DIR *d = fdopendir(dirfd);
    struct dirent *de;
    if (!d) {
        close(dirfd);
        return;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd, de->d_name, 0) == 0 || errno != EISDIR)
            continue;
        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0)
            empty_dir(sub);
        unlinkat(dirfd, de->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

static void remove_scratch(void) {
    int fd = open(scratch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        empty_dir(fd);
    rmdir(scratch);
}

static void make_scratch(void) {
    struct stat st;
    const char *tmp = getenv("TMPDIR");
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        tmp = "/dev/shm"; /* tmpfs: no journal, no block lookups */
    snprintf(scratch, sizeof(scratch), "%s/cleat-fuzz-unpack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(scratch) != NULL);
    snprintf(root, sizeof(root), "%s/root", scratch);
    snprintf(canary, sizeof(canary), "%s/canary", scratch);
    FUZZ_CHECK(mkdir(root, 0755) == 0);
    int fd = open(canary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FUZZ_CHECK(fd >= 0 && write(fd, "host\n", 5) == 5 && close(fd) == 0);
    FUZZ_CHECK(lstat(canary, &canary_st) == 0);
    atexit(remove_scratch);
}

/* Nothing but root/ and the unchanged canary next to the root. */
static void check_contained(void) {
    struct stat st;
    FUZZ_CHECK(lstat(canary, &st) == 0);
    FUZZ_CHECK(st.st_ino == canary_st.st_ino && st.st_size == canary_st.st_size && st.st_nlink == canary_st.st_nlink &&
               st.st_mode == canary_st.st_mode && st.st_mtim.tv_sec == canary_st.st_mtim.tv_sec &&
               st.st_mtim.tv_nsec == canary_st.st_mtim.tv_nsec);
    FUZZ_CHECK(lstat(root, &st) == 0 && S_ISDIR(st.st_mode));
    DIR *d = opendir(scratch);
    FUZZ_CHECK(d != NULL);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            FUZZ_CHECK(strcmp(de->d_name, "root") == 0 || strcmp(de->d_name, "canary") == 0);
            n++;
        }
    closedir(d);
    FUZZ_CHECK(n == 2);
}

/* ---- pass 1: the names ---- */

static size_t components(const char *p) {
    size_t n = 0;
    for (const char *c = p; *c;) {
        size_t len = strcspn(c, "/");
        n += len > 0;
        c += len + (c[len] == '/');
    }
    return n;
}

static void check_name(const char *raw) {
    char out[PATH_MAX], again[PATH_MAX];
    struct cleat_error *err = NULL;
    if (extract_clean_path(raw, out, &err) < 0) {
        FUZZ_CHECK(error_status(err) == CLEAT_STATUS_INVALID_ARGUMENT && error_errno(err) == ENAMETOOLONG);
        error_free(err);
        return;
    }
    size_t len = strlen(out);
    FUZZ_CHECK(len < PATH_MAX && out[0] != '/' && (len == 0 || out[len - 1] != '/'));
    for (const char *c = out; *c;) {
        size_t clen = strcspn(c, "/");
        FUZZ_CHECK(clen > 0 && clen <= NAME_MAX);
        FUZZ_CHECK(!(clen == 1 && c[0] == '.') && !(clen == 2 && c[0] == '.' && c[1] == '.'));
        c += clen + (c[clen] == '/');
    }
    FUZZ_CHECK(components(out) <= components(raw));
    FUZZ_CHECK(extract_clean_path(out, again, &err) == 0 && strcmp(out, again) == 0);
}

static void check_names(const uint8_t *data, size_t size) {
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    FUZZ_CHECK(a != NULL);
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
    if (archive_read_open_memory(a, data, size) == ARCHIVE_OK)
        for (int r; (r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN;) {
            const char *name = archive_entry_pathname(e), *link = archive_entry_hardlink(e);
            if (name)
                check_name(name);
            if (link)
                check_name(link);
        }
    archive_read_free(a);
}

/* ---- pass 2: the extraction ---- */

/* One extraction of the input into the root: its answer is one a layer may cause. */
static void extract(const uint8_t *data, size_t size, int32_t whiteouts) {
    struct cleat_error *err = NULL;
    struct unpack_result res;
    struct unpack_target t = {.dir = root, .dirfd = -1, .whiteouts = whiteouts};
    if (unpack_tar_memory_into(data, size, &t, &res, &err) < 0) {
        int32_t st = error_status(err);
        FUZZ_CHECK(error_message(err) && *error_message(err));
        /* A layer is bad input; the host running out of something is the only other excuse. */
        FUZZ_CHECK(st == CLEAT_STATUS_INVALID_ARGUMENT || st == CLEAT_STATUS_RESOURCE_EXHAUSTED ||
                   st == CLEAT_STATUS_INTERNAL);
        error_free(err);
    } else {
        FUZZ_CHECK(res.file_bytes <= size && res.whiteouts <= res.entries);
    }
    check_contained();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!scratch[0])
        make_scratch();
    check_names(data, size);
    extract(data, size, UNPACK_WHITEOUTS_OVERLAY);
    extract(data, size, UNPACK_WHITEOUTS_APPLY);
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    fremovexattr(fd, "trusted.overlay.opaque"); /* ".wh..wh..opq" at the top marks the root itself */
    empty_dir(fd);
    return 0;
}
