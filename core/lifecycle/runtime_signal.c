/* SPDX-License-Identifier: Apache-2.0 */
/* Signal names as images (StopSignal) and the CRI (Signal enum names) spell them. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime_internal.h"

static const struct {
    const char *name;
    int num;
} signals[] = {
    {"ABRT", SIGABRT},     {"ALRM", SIGALRM},   {"BUS", SIGBUS},   {"CHLD", SIGCHLD}, {"CLD", SIGCHLD},
    {"CONT", SIGCONT},     {"FPE", SIGFPE},     {"HUP", SIGHUP},   {"ILL", SIGILL},   {"INT", SIGINT},
    {"IO", SIGIO},         {"IOT", SIGIOT},     {"KILL", SIGKILL}, {"PIPE", SIGPIPE}, {"POLL", SIGPOLL},
    {"PROF", SIGPROF},     {"PWR", SIGPWR},     {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV}, {"STKFLT", SIGSTKFLT},
    {"STOP", SIGSTOP},     {"SYS", SIGSYS},     {"TERM", SIGTERM}, {"TRAP", SIGTRAP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
    {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
};

int signal_parse(const char *s) {
    if (!s || !*s)
        return -1;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end == '\0')
        return n > 0 && n <= SIGRTMAX ? (int)n : -1;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (strcasecmp(s, signals[i].name) == 0)
            return signals[i].num;
    /* RTMIN+n, RTMAX-n */
    if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
        int max = strncasecmp(s, "RTMAX", 5) == 0;
        long off = s[5] ? strtol(s + 5, &end, 10) : 0;
        if (s[5] && *end)
            return -1;
        long v = (max ? SIGRTMAX : SIGRTMIN) + off;
        return v >= SIGRTMIN && v <= SIGRTMAX ? (int)v : -1;
    }
    return -1;
}
