/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = CLEAT_LOG_INFO;
/* -1: not decided yet, 0: plain stderr, 1: journald stream. */
static atomic_int log_to_journal = -1;

static const char *const level_names[] = {
    [CLEAT_LOG_ERROR] = "error", [CLEAT_LOG_WARNING] = "warning", [CLEAT_LOG_NOTICE] = "notice",
    [CLEAT_LOG_INFO] = "info",   [CLEAT_LOG_DEBUG] = "debug",
};

void log_set_level(int32_t level) {
    atomic_store(&log_level, level);
}

int32_t log_get_level(void) {
    return atomic_load(&log_level);
}

int log_enabled(int32_t level) {
    return level <= atomic_load(&log_level);
}

int32_t log_level_from_name(const char *name) {
    for (int32_t l = CLEAT_LOG_ERROR; l <= CLEAT_LOG_DEBUG; l++)
        if (name && strcmp(name, level_names[l]) == 0)
            return l;
    return -1;
}

const char *log_level_name(int32_t level) {
    if (level < CLEAT_LOG_ERROR || level > CLEAT_LOG_DEBUG)
        return "unknown";
    return level_names[level];
}

/* systemd sets JOURNAL_STREAM=<dev>:<ino> for the stream it connected. */
static int stderr_is_journal(void) {
    int v = atomic_load(&log_to_journal);
    if (v >= 0)
        return v;
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev = 0, ino = 0;
    struct stat st;
    v = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
        (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
    atomic_store(&log_to_journal, v);
    return v;
}

void log_vmsg(int32_t level, const char *prefix, const char *fmt, va_list ap) {
    char line[4096];
    int n;
    if (!log_enabled(level))
        return;
    int saved_errno = errno;
    if (stderr_is_journal()) {
        n = snprintf(line, sizeof(line), "<%d>", level);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %-7s ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, log_level_name(level));
    }
    if (prefix && n < (int)sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ", prefix);
    if (n < (int)sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (n >= (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 2; /* truncated: keep the newline */
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w; /* nowhere to report a failed log write */
    errno = saved_errno;
}

void log_msg(int32_t level, const char *prefix, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, prefix, fmt, ap);
    va_end(ap);
}
