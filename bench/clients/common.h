/* Shared bits of the benchmark clients (bench/clients/NAME.c): address
 * parsing, connecting, a monotonic clock, the process's own CPU time and a
 * hard time bound. Each client prints one JSON line on stdout and exits 0,
 * or prints why on stderr and exits 1. */
#ifndef TSIP_BENCH_COMMON_H
#define TSIP_BENCH_COMMON_H
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User + system CPU seconds of this process so far. */
static inline double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static inline void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char m[] = "hard time bound reached\n";
  if (write(2, m, sizeof m - 1) < 0) { /* nothing to do */ }
  _exit(3);
}

/* Kill the process after `secs` seconds whatever happens (a stuck peer). */
static inline void hard_bound(double secs) {
  signal(SIGALRM, on_alarm);
  unsigned s = (unsigned)secs + 1;
  alarm(s);
}

static inline struct sockaddr_in parse_addr(const char *host, const char *port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(port));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "bad IPv4 address %s\n", host);
    exit(1);
  }
  return a;
}

static inline int connect_to(const struct sockaddr_in *a, int nodelay) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) die("socket");
  if (nodelay) {
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (connect(s, (const struct sockaddr *)a, sizeof *a) < 0) die("connect");
  return s;
}

/* One transaction: send 1 byte, wait for the 1-byte echo (dies on error or EOF). */
static inline void echo_one_byte(int s) {
  char b = 'x';
  for (;;) {
    ssize_t n = send(s, &b, 1, 0);
    if (n == 1) break;
    if (n < 0 && errno == EINTR) continue;
    die("send");
  }
  for (;;) {
    ssize_t n = recv(s, &b, 1, 0);
    if (n == 1) break;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = ECONNRESET;
    die("recv");
  }
}

#endif
