/* pingpong HOST PORT COUNT MAX_SECONDS
 * One connection to an echo server, TCP_NODELAY; 500 unmeasured round
 * trips, then send 1 byte / receive 1 byte until COUNT or MAX_SECONDS:
 * transactions/s and its own CPU per transaction. */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: pingpong HOST PORT COUNT MAX_SECONDS\n");
    return 2;
  }
  struct sockaddr_in a = parse_addr(argv[1], argv[2]);
  long long count = atoll(argv[3]);
  double max_s = atof(argv[4]);
  hard_bound(max_s + 10);
  int s = connect_to(&a, 1);
  for (int i = 0; i < 500; i++) echo_one_byte(s);
  double c0 = cpu_s(), t0 = now_s(), deadline = t0 + max_s;
  long long n = 0;
  while (n < count) {
    echo_one_byte(s);
    n++;
    if ((n & 255) == 0 && now_s() > deadline) break;
  }
  double t1 = now_s(), c1 = cpu_s();
  close(s);
  double secs = t1 - t0;
  printf("{\"n\":%lld,\"secs\":%.6f,\"ops\":%.1f,\"cpu\":%.4f,\"cpuUsPerOp\":%.3f}\n", n, secs, (double)n / secs, c1 - c0, (c1 - c0) / (double)n * 1e6);
  return 0;
}
