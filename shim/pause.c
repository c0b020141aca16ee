/* SPDX-License-Identifier: Apache-2.0 */
/* cleat-pause: the init (PID 1) of a pod that shares one PID namespace.
 * It reaps every process orphaned in the pod, exits 0 on SIGTERM or SIGINT,
 * and otherwise sleeps in sigwaitinfo.  Static, no files: it runs alone in an
 * otherwise empty root filesystem. */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>

/* Never runs: the signals stay blocked and are taken by sigwaitinfo.  The
 * kernel discards a signal sent to a PID namespace's init while it is
 * unblocked and left at SIG_DFL; a handler keeps delivery from depending on
 * the mask alone. */
static void no_op(int sig)
{
  (void)sig;
}

int main(void)
{
  static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT };
  struct sigaction sa = { .sa_handler = no_op };
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaddset(&set, sigs[i]);
  /* Blocked before the handlers exist, so that none is consumed by no_op. */
  sigprocmask(SIG_BLOCK, &set, NULL);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction(sigs[i], &sa, NULL);
  for (;;) {
    int sig = sigwaitinfo(&set, NULL);
    if (sig == SIGTERM || sig == SIGINT)
      return 0;
    /* SIGCHLD (several exits may have merged into one): reap all that ended. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
      ;
  }
}
