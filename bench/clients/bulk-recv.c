/* bulk-recv HOST PORT BYTES MAX_SECONDS [HTTP_PATH]
 * Connects (to a chargen server), reads BYTES and closes: payload Gbit/s
 * over connect → last byte, and its own CPU. Stops early at MAX_SECONDS
 * (then "bytes" says how much came). With HTTP_PATH it first sends
 * "GET HTTP_PATH HTTP/1.1" (an HTTP server's /bytes/N); the response head
 * counts as bytes read. */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: bulk-recv HOST PORT BYTES MAX_SECONDS [HTTP_PATH]\n");
    return 2;
  }
  struct sockaddr_in a = parse_addr(argv[1], argv[2]);
  long long want = atoll(argv[3]);
  double max_s = atof(argv[4]);
  hard_bound(max_s + 10);
  static char buf[1 << 20];
  double c0 = cpu_s(), t0 = now_s(), deadline = t0 + max_s;
  int s = connect_to(&a, 0);
  if (argc == 6) {
    char req[512];
    int m = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", argv[5]);
    if (m <= 0 || m >= (int)sizeof req) {
      fprintf(stderr, "HTTP_PATH too long\n");
      return 2;
    }
    if (send(s, req, (size_t)m, 0) != m) die("send");
  }
  long long got = 0;
  unsigned reads = 0;
  while (got < want) {
    size_t k = want - got < (long long)sizeof buf ? (size_t)(want - got) : sizeof buf;
    ssize_t n = recv(s, buf, k, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recv");
    }
    got += n;
    if ((++reads & 63) == 0 && now_s() > deadline) break;
  }
  double t1 = now_s(), c1 = cpu_s();
  close(s);
  double secs = t1 - t0;
  printf("{\"bytes\":%lld,\"secs\":%.6f,\"gbps\":%.4f,\"cpu\":%.4f}\n", got, secs, (double)got * 8 / secs / 1e9, c1 - c0);
  return got > 0 ? 0 : 1;
}
