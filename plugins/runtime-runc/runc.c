/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: invoking the OCI runtime's CLI (`BINARY --root R
 * [--systemd-cgroup] [runtime_args] SUBCOMMAND ...`) and turning its
 * failures into errors an operator can read.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "runc.h"

/*
 * runc (logrus) writes `time="..." level=error msg="the text"`; crun writes
 * plain lines.  Keep only the text: it is what the operator needs, and the
 * timestamps would make every message unique.
 */
static size_t copy_quoted(const char *s, char *out, size_t size, size_t len) {
    for (; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\' && s[1]) {
            c = *++s;
            c = c == 'n' ? ' ' : c == 't' ? ' ' : c;
        }
        if (len + 1 < size)
            out[len++] = c;
    }
    return len;
}

void rr_clean_message(const char *raw, char *out, size_t size) {
    size_t len = 0;
    if (size == 0)
        return;
    out[0] = '\0';
    const char *s = raw, *m;
    const char *first = strstr(raw, "time=\"");
    if (first && strstr(first, "msg=\"")) { /* the text before runc's log lines (the shim's own words) */
        for (; s < first && len + 1 < size; s++)
            out[len++] = *s == '\n' ? ' ' : *s;
        for (s = first; (m = strstr(s, "msg=\"")); s = m + 5) {
            if (s != first && len + 2 < size) {
                out[len++] = ';';
                out[len++] = ' ';
            }
            len = copy_quoted(m + 5, out, size, len);
        }
    } else {
        for (; *s && len + 1 < size; s++)
            out[len++] = *s == '\n' ? ' ' : *s;
    }
    while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\n'))
        len--;
    out[len] = '\0';
}

const char **rr_runc_argv(const struct rr *rr, const char *const *words) {
    size_t nwords = 0;
    while (words[nwords])
        nwords++;
    const char **argv = calloc(1 + rr->nglobal + nwords + 1, sizeof(char *));
    if (!argv)
        return NULL;
    size_t n = 0;
    argv[n++] = rr->binary;
    for (size_t i = 0; i < rr->nglobal; i++)
        argv[n++] = rr->global[i];
    for (size_t i = 0; i < nwords; i++)
        argv[n++] = words[i];
    return argv;
}

int rr_run(const char *const *argv, int want_stdout, struct plugin_output *ret) {
    struct plugin_run run = {.argv = argv,
                             .timeout_ms = RR_RUNTIME_TIMEOUT_MS,
                             .stdout_max = want_stdout ? RR_STDOUT_MAX : 0,
                             .stderr_max = RR_ERR_MAX - 1};
    return plugin_run(&run, -1, ret);
}

int rr_runc_raw(struct rr *rr, const char *const *words, int want_stdout, struct plugin_output *ret,
                struct cleat_error **reterr) {
    _cleanup_free_ const char **argv = rr_runc_argv(rr, words);
    if (!argv)
        return plugin_oom(rr->host, reterr);
    int r = rr_run(argv, want_stdout, ret);
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot run %s %s: %s", rr->binary,
                               words[0], strerror(-r));
    return 0;
}

/* The status an operator's retry logic needs: the container's state, not our failure. */
static int32_t status_of(const char *msg) {
    static const char *const precondition[] = {
        "not running",       "has stopped", "is stopped",      "is paused",    "not paused", "paused container",
        "stopped container", "not created", "already running", "cannot start", NULL};
    if (strstr(msg, "does not exist"))
        return CLEAT_STATUS_NOT_FOUND;
    for (size_t i = 0; precondition[i]; i++)
        if (strstr(msg, precondition[i]))
            return CLEAT_STATUS_FAILED_PRECONDITION;
    return CLEAT_STATUS_INTERNAL;
}

int rr_runc_error(struct rr *rr, const struct plugin_output *o, const char *what, const char *id,
                  struct cleat_error **reterr) {
    if (o->timed_out)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT,
                               "container '%s': %s %s did not finish within %d s (killed)", id, rr->binary, what,
                               RR_RUNTIME_TIMEOUT_MS / 1000);
    char msg[RR_ERR_MAX];
    rr_clean_message(o->err, msg, sizeof(msg));
    return cleat_error_set(rr->host, reterr, status_of(msg), EIO, "container '%s': %s %s exited with status %d: %s", id,
                           rr->binary, what, o->exit_status, msg[0] ? msg : "(no error output)");
}

int rr_runc(struct rr *rr, const char *const *words, const char *what, const char *id, struct cleat_error **reterr) {
    struct plugin_output o;
    int r = rr_runc_raw(rr, words, 0, &o, reterr);
    if (r == 0 && (o.timed_out || o.exit_status != 0))
        r = rr_runc_error(rr, &o, what, id, reterr);
    plugin_output_done(&o);
    return r;
}

int rr_runc_says_gone(const struct plugin_output *o) {
    /* runc: "container not running", "container does not exist", "process already finished";
     * crun: "container `ID` is not running", "... does not exist", "kill container: No such process". */
    static const char *const gone[] = {
        "not running", "does not exist", "has stopped", "process already finished", "No such process", NULL};
    for (size_t i = 0; !o->timed_out && gone[i]; i++)
        if (strstr(o->err, gone[i]))
            return 1;
    return 0;
}

int rr_runc_state(struct rr *rr, const char *id, char *status, size_t size, pid_t *ret_pid,
                  struct cleat_error **reterr) {
    const char *words[] = {"state", id, NULL};
    struct plugin_output o;
    int r = rr_runc_raw(rr, words, 1, &o, reterr);
    if (r < 0)
        return r;
    if (o.timed_out || o.exit_status != 0) {
        r = rr_runc_error(rr, &o, "state", id, reterr);
        plugin_output_done(&o);
        return r;
    }
    json_error_t jerr;
    json_t *root = json_loads(o.out, 0, &jerr);
    const char *st = json_string_value(json_object_get(root, "status"));
    json_int_t pid = json_integer_value(json_object_get(root, "pid"));
    if (!st)
        r = cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, EPROTO,
                            "container '%s': %s state printed no status: %.200s", id, rr->binary, o.out);
    else {
        snprintf(status, size, "%s", st);
        *ret_pid = pid > 0 && pid <= INT32_MAX ? (pid_t)pid : 0;
    }
    json_decref(root);
    plugin_output_done(&o);
    return r;
}
