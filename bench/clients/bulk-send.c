/* bulk-send HOST PORT BYTES MAX_SECONDS
 * Connects, writes BYTES (1 MiB writes), shuts down its sending side and
 * waits for the peer's close (a discard server closes on EOF): payload
 * Gbit/s over connect → EOF, and its own CPU. Stops early at MAX_SECONDS
 * (then "bytes" says how much went). */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: bulk-send HOST PORT BYTES MAX_SECONDS\n");
    return 2;
  }
  struct sockaddr_in a = parse_addr(argv[1], argv[2]);
  long long want = atoll(argv[3]);
  double max_s = atof(argv[4]);
  hard_bound(max_s + 10);
  static char buf[1 << 20];
  memset(buf, 'x', sizeof buf);
  double c0 = cpu_s(), t0 = now_s(), deadline = t0 + max_s;
  int s = connect_to(&a, 0);
  long long sent = 0;
  while (sent < want) {
    size_t k = (size_t)(want - sent < (long long)sizeof buf ? want - sent : (long long)sizeof buf);
    ssize_t n = send(s, buf, k, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("send");
    }
    sent += n;
    if (now_s() > deadline) break;
  }
  if (shutdown(s, SHUT_WR) < 0) die("shutdown");
  for (;;) {
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) break;
      die("recv");
    }
  }
  double t1 = now_s(), c1 = cpu_s();
  close(s);
  double secs = t1 - t0;
  printf("{\"bytes\":%lld,\"secs\":%.6f,\"gbps\":%.4f,\"cpu\":%.4f}\n", sent, secs, (double)sent * 8 / secs / 1e9, c1 - c0);
  return 0;
}
