/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay: a snapshot's metadata file, snapshots/<id>/meta.
 *
 * Line-oriented text, fields separated by single spaces, every value
 * %XX-escaped (bytes up to space, DEL and '%') so that keys and labels may
 * hold anything but NUL:
 *
 *   cleat-storage-overlay-snapshot 1
 *   id 12
 *   kind committed
 *   key sha256:3f0c...
 *   parent 11
 *   created 1732300000000000000
 *   updated 1732300000000000000
 *   label containerd.io/snapshot.ref sha256:3f0c...
 *   end
 *
 * The file is written once into a staging dir before a rename publishes the
 * dir, and afterwards only replaced whole (tmp + fsync + rename), so a reader
 * sees the old or the new version.  "end" guards against a truncated copy
 * from elsewhere, or one a power cut left of an unsynced new snapshot.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "overlay.h"
#include "plugin_fs.h"

#define META_MAGIC "cleat-storage-overlay-snapshot 1"
#define META_MAX_SIZE (1 << 20)

static void put_escaped(FILE *f, const char *s) {
    fputc(' ', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == 0x7f || c == '%')
            fprintf(f, "%%%02x", c);
        else
            fputc(c, f);
    }
}

static char *meta_format(const struct snap *s) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fprintf(f, META_MAGIC "\nid %" PRIu64 "\nkind %s\nkey", s->id, kind_name(s->kind));
    put_escaped(f, s->key);
    if (s->parent_id)
        fprintf(f, "\nparent %" PRIu64, s->parent_id);
    fprintf(f, "\ncreated %" PRId64 "\nupdated %" PRId64 "\n", s->created_ns, s->updated_ns);
    for (size_t i = 0; s->labels[i] && s->labels[i + 1]; i += 2) {
        fputs("label", f);
        put_escaped(f, s->labels[i]);
        put_escaped(f, s->labels[i + 1]);
        fputc('\n', f);
    }
    fputs("end\n", f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int meta_store(const struct ovl *o, const char *dir, const struct snap *s, enum meta_write how,
               struct cleat_error **reterr) {
    char tmp[64], final[64];
    snprintf(tmp, sizeof(tmp), "%s/meta.tmp", dir);
    snprintf(final, sizeof(final), "%s/meta", dir);
    _cleanup_free_ char *text = meta_format(s);
    if (!text)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r;
    if (how == META_STAGED)
        r = plugin_write_new_at(o->rootfd, final, text);
    else if ((r = plugin_write_atomic(o->rootfd, tmp, final, text, strlen(text))) == 0)
        r = plugin_fsync_dir(o->rootfd, dir);
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot write %s/%s: %s", o->root, final,
                               strerror(-r));
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Undo put_escaped in place. */
static int unescape(char *s) {
    char *out = s;
    for (; *s; s++) {
        if (*s != '%') {
            *out++ = *s;
            continue;
        }
        int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
        if (lo < 0 || (hi | lo) == 0)
            return -EINVAL;
        *out++ = (char)(hi << 4 | lo);
        s += 2;
    }
    *out = '\0';
    return 0;
}

static int parse_int(const char *s, int64_t *ret) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int parse_kind(const char *s, uint32_t *ret) {
    for (uint32_t k = CLEAT_SNAPSHOT_VIEW; k <= CLEAT_SNAPSHOT_COMMITTED; k++)
        if (strcmp(s, kind_name(k)) == 0) {
            *ret = k;
            return 0;
        }
    return -EINVAL;
}

/* Splits `line` at spaces into at most 3 unescaped fields; returns their number or <0. */
static int split(char *line, char *f[3]) {
    int n = 0;
    for (char *p = line; n < 3; n++) {
        f[n] = p;
        p = strchr(p, ' ');
        if (!p) {
            n++;
            break;
        }
        *p++ = '\0';
        if (n == 2)
            return -EINVAL;
    }
    for (int i = 1; i < n; i++)
        if (unescape(f[i]) < 0)
            return -EINVAL;
    return n;
}

static int add_label(char ***labels, size_t *n, const char *k, const char *v) {
    char **grown = realloc(*labels, (*n + 3) * sizeof(char *));
    if (!grown)
        return -ENOMEM;
    *labels = grown;
    grown[*n] = strdup(k);
    grown[*n + 1] = grown[*n] ? strdup(v) : NULL;
    if (!grown[*n + 1]) {
        free(grown[*n]);
        grown[*n] = NULL;
        return -ENOMEM;
    }
    *n += 2;
    grown[*n] = NULL;
    return 0;
}

/* One "name value..." line into s; *seen gets a bit per required field. */
static int parse_line(struct snap *s, char *line, unsigned *seen, size_t *nlabels) {
    char *f[3];
    int n = split(line, f);
    int64_t v;
    if (n == 2 && strcmp(f[0], "id") == 0 && parse_int(f[1], &v) == 0 && (uint64_t)v == s->id)
        *seen |= 1;
    else if (n == 2 && strcmp(f[0], "kind") == 0 && parse_kind(f[1], &s->kind) == 0)
        *seen |= 2;
    else if (n == 2 && strcmp(f[0], "key") == 0 && f[1][0] && !s->key && (s->key = strdup(f[1])))
        *seen |= 4;
    else if (n == 2 && strcmp(f[0], "parent") == 0 && parse_int(f[1], &v) == 0 && v > 0)
        s->parent_id = (uint64_t)v;
    else if (n == 2 && strcmp(f[0], "created") == 0 && parse_int(f[1], &s->created_ns) == 0)
        *seen |= 8;
    else if (n == 2 && strcmp(f[0], "updated") == 0 && parse_int(f[1], &s->updated_ns) == 0)
        *seen |= 16;
    else if (n == 3 && strcmp(f[0], "label") == 0)
        return add_label(&s->labels, nlabels, f[1], f[2]);
    else
        return -EINVAL;
    return 0;
}

static int parse(struct snap *s, char *text) {
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    if (!line || strcmp(line, META_MAGIC) != 0)
        return -EINVAL;
    unsigned seen = 0;
    size_t nlabels = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (strcmp(line, "end") == 0)
            return seen == 31 && !strtok_r(NULL, "\n", &save) ? 0 : -EINVAL;
        int r = parse_line(s, line, &seen, &nlabels);
        if (r < 0)
            return r;
    }
    return -EINVAL; /* no "end": truncated */
}

static int read_file(int rootfd, const char *path, char **ret) {
    int fd = openat(rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *buf = malloc(META_MAX_SIZE + 1);
    size_t len = 0;
    int r = buf ? 0 : -ENOMEM;
    while (r == 0 && len < META_MAX_SIZE) {
        ssize_t n = read(fd, buf + len, META_MAX_SIZE - len);
        if (n < 0 && errno != EINTR)
            r = -errno;
        else if (n == 0)
            break;
        else if (n > 0)
            len += (size_t)n;
    }
    close(fd);
    if (r == 0 && (len == META_MAX_SIZE || memchr(buf, '\0', len)))
        r = -EINVAL;
    if (r < 0) {
        free(buf);
        return r;
    }
    buf[len] = '\0';
    *ret = buf;
    return 0;
}

int meta_load(const struct ovl *o, uint64_t id, struct snap **ret, struct cleat_error **reterr) {
    char path[64];
    snprintf(path, sizeof(path), "snapshots/%" PRIu64 "/meta", id);
    _cleanup_free_ char *text = NULL;
    int r = read_file(o->rootfd, path, &text);
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot read %s/%s: %s", o->root, path,
                               r == -EINVAL ? "not a metadata file" : strerror(-r));
    struct snap *s = calloc(1, sizeof(*s));
    if (s && !(s->labels = calloc(1, sizeof(char *)))) {
        free(s);
        s = NULL;
    }
    if (!s)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    s->id = id;
    if ((r = parse(s, text)) < 0) {
        snap_free(s);
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "%s/%s: %s", o->root, path,
                               r == -ENOMEM ? "out of memory" : "malformed metadata");
    }
    *ret = s;
    return 0;
}
