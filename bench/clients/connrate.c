/* connrate HOST PORT COUNT MAX_SECONDS
 * Sequential connections to an echo server: connect, send 1 byte, receive
 * the echo, close (the client closes first: TIME_WAIT stays on this side).
 * 50 unmeasured, then until COUNT or MAX_SECONDS: connections/s and its own
 * CPU per connection. */
#include "common.h"

static void one(const struct sockaddr_in *a) {
  int s = connect_to(a, 1);
  echo_one_byte(s);
  close(s);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: connrate HOST PORT COUNT MAX_SECONDS\n");
    return 2;
  }
  struct sockaddr_in a = parse_addr(argv[1], argv[2]);
  long long count = atoll(argv[3]);
  double max_s = atof(argv[4]);
  hard_bound(max_s + 10);
  for (int i = 0; i < 50; i++) one(&a);
  double c0 = cpu_s(), t0 = now_s(), deadline = t0 + max_s;
  long long n = 0;
  while (n < count) {
    one(&a);
    n++;
    if ((n & 15) == 0 && now_s() > deadline) break;
  }
  double t1 = now_s(), c1 = cpu_s();
  double secs = t1 - t0;
  printf("{\"n\":%lld,\"secs\":%.6f,\"ops\":%.1f,\"cpu\":%.4f,\"cpuUsPerOp\":%.3f}\n", n, secs, (double)n / secs, c1 - c0, (c1 - c0) / (double)n * 1e6);
  return 0;
}
