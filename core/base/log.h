/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr with levels (CLEAT_LOG_*, the syslog priorities).
 *
 * When stderr is connected to journald (JOURNAL_STREAM names our stderr),
 * each line starts with "<N>" so that journald records the priority and
 * adds its own timestamp; otherwise each line carries an RFC 3339 UTC
 * timestamp and the level name.  One write(2) per line, so lines from
 * different threads never interleave.
 */
#ifndef CLEAT_CORE_LOG_H
#define CLEAT_CORE_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include <cleat/plugin.h>

/* Set the most verbose level that is written (default CLEAT_LOG_INFO). */
void log_set_level(int32_t level);
int32_t log_get_level(void);
/* Non-zero if a message at `level` would be written. */
int log_enabled(int32_t level);
/* Parse "error", "warning", "notice", "info", "debug"; -1 if unknown. */
int32_t log_level_from_name(const char *name);
const char *log_level_name(int32_t level);

/* Write one line; `prefix` (may be NULL) names the subsystem, e.g. a plugin instance. */
void log_msg(int32_t level, const char *prefix, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_vmsg(int32_t level, const char *prefix, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#define log_error(...) log_msg(CLEAT_LOG_ERROR, NULL, __VA_ARGS__)
#define log_warning(...) log_msg(CLEAT_LOG_WARNING, NULL, __VA_ARGS__)
#define log_notice(...) log_msg(CLEAT_LOG_NOTICE, NULL, __VA_ARGS__)
#define log_info(...) log_msg(CLEAT_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(CLEAT_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
