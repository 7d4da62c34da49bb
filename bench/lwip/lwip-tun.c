/* lwip-tun DEV ADDR NETMASK PEER MAX_SECONDS
 *
 * C lwIP 2.1 on a TUN device of its own: the anchor the benchmarks compare
 * tsip with. It links Debian's liblwip (liblwip-dev), whose options are
 * fixed when the library is built (its /usr/include/lwip/lwipopts.h, the
 * GNU Hurd's: NO_SYS 0, core locking, MEM_LIBC_MALLOC + MEMP_MEM_MALLOC so
 * no fixed pools, TCP_MSS 1460, TCP_WND 0xFFFF with window scaling (shift
 * 1), TCP_SND_BUF = TCP_WND, checksum on copy). A program must compile
 * against that same lwipopts.h (structure layouts depend on it), so there
 * is no lwipopts.h of our own here.
 *
 * It runs lwIP the NO_SYS way in one thread: lwip_init() without
 * tcpip_init() (no tcpip thread, no mailboxes; the core-locking checks
 * only apply once a tcpip thread exists), then one loop that polls the
 * TUN file descriptor, feeds every packet read to ip_input() and runs
 * sys_check_timeouts(). Received packets go into PBUF_RAM pbufs (see the
 * loop for why not PBUF_POOL). Services on the raw API, as tsip's: echo (7),
 * discard (9), chargen (19, RFC 864 lines).
 *
 * The TUN device (IFF_TUN | IFF_NO_PI) is created in the caller's network
 * namespace (run it under `ip netns exec`); it prints "READY DEV" once the
 * device exists and the services listen; the caller then gives the kernel
 * side PEER and brings the link up. Runs until killed, MAX_SECONDS at most.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

static int tun_fd = -1;
static struct netif tun_netif;
static unsigned long long rx_pkts, tx_pkts, rx_drops;

/* ---- the TUN netif ---------------------------------------------------- */

static err_t tun_output_pbuf(struct pbuf *p) {
  static unsigned char frame[65536];
  const void *data = p->payload;
  if (p->next != NULL) {
    pbuf_copy_partial(p, frame, p->tot_len, 0);
    data = frame;
  }
  for (;;) {
    ssize_t n = write(tun_fd, data, p->tot_len);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    return ERR_IF; /* EAGAIN: the device queue is full; TCP retransmits */
  }
  tx_pkts++;
  return ERR_OK;
}

static err_t tun_output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst) {
  (void)netif;
  (void)dst;
  return tun_output_pbuf(p);
}

#if LWIP_IPV6
static err_t tun_output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst) {
  (void)netif;
  (void)dst;
  return tun_output_pbuf(p);
}
#endif

static err_t tun_netif_init(struct netif *netif) {
  netif->name[0] = 't';
  netif->name[1] = 'n';
  netif->output = tun_output4;
#if LWIP_IPV6
  netif->output_ip6 = tun_output6;
#endif
  netif->mtu = 1500;
  netif->flags = NETIF_FLAG_LINK_UP;
  return ERR_OK;
}

static int tun_open(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    perror("open /dev/net/tun");
    exit(1);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("TUNSETIFF");
    exit(1);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/* ---- services on the raw API ------------------------------------------ */

enum kind { ECHO, DISCARD, CHARGEN };

struct conn {
  enum kind kind;
  struct pbuf *pending; /* echo: received, not yet queued for sending */
  size_t off;           /* chargen: position in the pattern */
};

#define PATTERN_LEN (95 * 74)
static char pattern[2 * PATTERN_LEN];

static void conn_free(struct tcp_pcb *pcb, struct conn *c) {
  if (pcb != NULL) {
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
  }
  if (c->pending != NULL) pbuf_free(c->pending);
  free(c);
}

static void conn_close(struct tcp_pcb *pcb, struct conn *c) {
  conn_free(pcb, c);
  if (tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
}

static void on_err(void *arg, err_t err) {
  (void)err;
  if (arg != NULL) conn_free(NULL, arg); /* the pcb is already gone */
}

/* Queue as much of the echo's pending data as the send buffer takes. */
static void echo_flush(struct tcp_pcb *pcb, struct conn *c) {
  while (c->pending != NULL) {
    struct pbuf *q = c->pending;
    if (q->len > tcp_sndbuf(pcb)) break;
    if (tcp_write(pcb, q->payload, q->len, TCP_WRITE_FLAG_COPY) != ERR_OK) break;
    c->pending = q->next;
    if (c->pending != NULL) pbuf_ref(c->pending);
    pbuf_free(q);
  }
  tcp_output(pcb);
}

/* Fill chargen's send buffer. */
static void chargen_fill(struct tcp_pcb *pcb, struct conn *c) {
  for (;;) {
    u16_t room = tcp_sndbuf(pcb);
    if (room < TCP_MSS && room < PATTERN_LEN) break;
    u16_t k = room > PATTERN_LEN ? PATTERN_LEN : room;
    if (tcp_write(pcb, pattern + c->off, k, TCP_WRITE_FLAG_COPY) != ERR_OK) break;
    c->off = (c->off + k) % PATTERN_LEN;
  }
  tcp_output(pcb);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
  (void)len;
  struct conn *c = arg;
  if (c == NULL) return ERR_OK;
  if (c->kind == CHARGEN) chargen_fill(pcb, c);
  else if (c->kind == ECHO) echo_flush(pcb, c);
  return ERR_OK;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
  struct conn *c = arg;
  if (p == NULL) { /* the peer closed */
    if (c != NULL) conn_close(pcb, c);
    else tcp_close(pcb);
    return ERR_OK;
  }
  if (err != ERR_OK || c == NULL) {
    pbuf_free(p);
    return ERR_OK;
  }
  tcp_recved(pcb, p->tot_len);
  if (c->kind == ECHO) {
    if (c->pending == NULL) c->pending = p;
    else pbuf_cat(c->pending, p);
    echo_flush(pcb, c);
  } else {
    pbuf_free(p); /* discard, and whatever a chargen client sends */
  }
  return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
  if (err != ERR_OK || pcb == NULL) return ERR_VAL;
  struct conn *c = calloc(1, sizeof *c);
  if (c == NULL) return ERR_MEM;
  c->kind = (enum kind)(uintptr_t)arg;
  tcp_arg(pcb, c);
  tcp_recv(pcb, on_recv);
  tcp_sent(pcb, on_sent);
  tcp_err(pcb, on_err);
  if (c->kind == ECHO) tcp_nagle_disable(pcb);
  if (c->kind == CHARGEN) chargen_fill(pcb, c);
  return ERR_OK;
}

static void listen_on(u16_t port, enum kind kind) {
  struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
  if (pcb == NULL || tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
    fprintf(stderr, "lwip-tun: cannot bind port %u\n", port);
    exit(1);
  }
  pcb = tcp_listen_with_backlog(pcb, 255);
  tcp_arg(pcb, (void *)(uintptr_t)kind);
  tcp_accept(pcb, on_accept);
}

/* ---- the loop --------------------------------------------------------- */

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: lwip-tun DEV ADDR NETMASK PEER MAX_SECONDS\n");
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  alarm((unsigned)atoi(argv[5]) + 1); /* SIGALRM's default action ends it: a hard bound */
  for (int l = 0, o = 0; l < 95; l++) {
    for (int i = 0; i < 72; i++) pattern[o++] = (char)(32 + (l + i) % 95);
    pattern[o++] = 13;
    pattern[o++] = 10;
  }
  memcpy(pattern + PATTERN_LEN, pattern, PATTERN_LEN);

  tun_fd = tun_open(argv[1]);
  lwip_init();
  ip4_addr_t addr, mask, gw;
  if (!ip4addr_aton(argv[2], &addr) || !ip4addr_aton(argv[3], &mask) || !ip4addr_aton(argv[4], &gw)) {
    fprintf(stderr, "lwip-tun: bad address\n");
    return 2;
  }
  netif_add(&tun_netif, &addr, &mask, &gw, NULL, tun_netif_init, ip_input);
  netif_set_default(&tun_netif);
  netif_set_up(&tun_netif);
  netif_set_link_up(&tun_netif);
  listen_on(7, ECHO);
  listen_on(9, DISCARD);
  listen_on(19, CHARGEN);
  printf("READY %s\n", argv[1]);
  fflush(stdout);

  static unsigned char buf[65536];
  struct pollfd pfd = {.fd = tun_fd, .events = POLLIN};
  while (!stop) {
    u32_t sleep = sys_timeouts_sleeptime();
    int timeout = sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? 1000 : (int)(sleep > 1000 ? 1000 : sleep);
    int r = poll(&pfd, 1, timeout);
    if (r < 0 && errno != EINTR) {
      perror("poll");
      break;
    }
    /* Up to 64 packets per wake-up, then the timers. */
    for (int i = 0; r > 0 && i < 64; i++) {
      ssize_t n = read(tun_fd, buf, sizeof buf);
      if (n <= 0) break;
      rx_pkts++;
      /* PBUF_RAM, one allocation of the packet's size. Not PBUF_POOL: in
       * Debian's liblwip 2.1.3+dfsg1-2 the pool's elements are 616 bytes
       * (memp_pools[MEMP_PBUF_POOL]->size, i.e. a 592-byte buffer as for
       * TCP_MSS 536) while pbuf_alloc sizes them by its headers'
       * PBUF_POOL_BUFSIZE (1536): a 1500-byte PBUF_POOL pbuf is one 1500-byte
       * pbuf in a 616-byte allocation, and pbuf_take overruns it (ASan:
       * heap-buffer-overflow; without ASan, "malloc(): corrupted top size"). */
      struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
      if (p == NULL) {
        rx_drops++;
        continue;
      }
      pbuf_take(p, buf, (u16_t)n);
      if (tun_netif.input(p, &tun_netif) != ERR_OK) pbuf_free(p);
    }
    sys_check_timeouts();
  }
  fprintf(stderr, "lwip-tun: rx %llu packets (%llu dropped), tx %llu packets\n", rx_pkts, rx_drops, tx_pkts);
  close(tun_fd);
  return 0;
}
