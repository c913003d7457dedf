/*
 * pause: the process that holds a pod sandbox's namespaces open. It sleeps until SIGINT or SIGTERM
 * and then exits 0; as PID 1 of the sandbox it also reaps any child that is re-parented to it.
 *
 * Built by scripts/images/build.sh with `gcc -static -Os` into registry.k8s.io/pause:3.10
 * (FROM scratch, ENTRYPOINT ["/pause"], user 65535). `pause -v` prints its version.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "3.10-flint"

static void on_stop(int sig) {
  /* async-signal-safe: no stdio here. */
  static const char msg[] = "pause: shutting down on signal\n";
  (void)sig;
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
  _exit(0);
}

static void on_child(int sig) {
  int saved = errno;
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static void handle(int sig, void (*handler)(int)) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = sig == SIGCHLD ? SA_NOCLDSTOP | SA_RESTART : 0;
  if (sigaction(sig, &action, NULL) < 0) {
    perror("pause: sigaction");
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("pause %s\n", VERSION);
    return 0;
  }
  if (getpid() != 1) fprintf(stderr, "pause: warning: not running as PID 1\n");
  handle(SIGINT, on_stop);
  handle(SIGTERM, on_stop);
  handle(SIGCHLD, on_child);
  for (;;) pause();
  return 42; /* not reached */
}
