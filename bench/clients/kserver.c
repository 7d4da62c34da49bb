/* kserver ADDR MAX_SECONDS
 * The kernel's side of the anchors: echo (7), discard (9) and chargen (19)
 * on ADDR over kernel sockets, in one thread with epoll (as the C lwIP
 * server runs its stack in one thread). Prints READY once listening; runs
 * until killed, or MAX_SECONDS at most. */
#include "common.h"
#include <fcntl.h>
#include <sys/epoll.h>

enum kind { ECHO, DISCARD, CHARGEN };
static const int PORTS[3] = {7, 9, 19};

struct conn {
  int fd;
  enum kind kind;
  int listener;
  size_t off;   /* chargen: position in the pattern */
  char *pend;   /* echo: bytes not yet written back */
  size_t npend;
};

/* The RFC 864 pattern (95 lines of 74 bytes) ten times over: a send of
 * 9 patterns (63 KB) from any offset within the first stays inside it. */
static char pattern[95 * 74 * 10];
static const size_t pattern_len = 95 * 74;

static void close_conn(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->pend);
  free(c);
}

static void set_events(int ep, struct conn *c, unsigned ev) {
  struct epoll_event e = {.events = ev, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: kserver ADDR MAX_SECONDS\n");
    return 2;
  }
  hard_bound(atof(argv[2]));
  signal(SIGPIPE, SIG_IGN);
  /* RFC 864 lines, as tsip's chargen. */
  for (int l = 0, o = 0; l < 95; l++) {
    for (int i = 0; i < 72; i++) pattern[o++] = (char)(32 + (l + i) % 95);
    pattern[o++] = 13;
    pattern[o++] = 10;
  }
  for (int k = 1; k < 10; k++) memcpy(pattern + k * pattern_len, pattern, pattern_len);
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (int k = 0; k < 3; k++) {
    char port[8];
    snprintf(port, sizeof port, "%d", PORTS[k]);
    struct sockaddr_in a = parse_addr(argv[1], port);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(ls, 128) < 0) die("listen");
    struct conn *c = calloc(1, sizeof *c);
    c->fd = ls;
    c->kind = (enum kind)k;
    c->listener = 1;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &e);
  }
  printf("READY\n");
  fflush(stdout);
  static char buf[1 << 16];
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(ep, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c->listener) {
        for (;;) {
          int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          int one = 1;
          if (c->kind == ECHO) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *d = calloc(1, sizeof *d);
          d->fd = fd;
          d->kind = c->kind;
          struct epoll_event e = {.events = EPOLLIN | (c->kind == CHARGEN ? EPOLLOUT : 0), .data.ptr = d};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      unsigned ev = evs[i].events;
      int dead = 0;
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          ssize_t r = recv(c->fd, buf, sizeof buf, 0);
          if (r == 0) { dead = 1; break; }
          if (r < 0) {
            if (errno != EAGAIN && errno != EINTR) dead = 1;
            break;
          }
          if (c->kind == ECHO) {
            if (c->npend == 0) {
              ssize_t w = send(c->fd, buf, (size_t)r, 0);
              if (w < 0 && errno != EAGAIN) { dead = 1; break; }
              if (w < 0) w = 0;
              if (w < r) {
                c->pend = malloc((size_t)(r - w));
                memcpy(c->pend, buf + w, (size_t)(r - w));
                c->npend = (size_t)(r - w);
                set_events(ep, c, EPOLLOUT); /* stop reading until it is written */
                break;
              }
            }
          }
          if (r < (ssize_t)sizeof buf) break;
        }
      }
      if (!dead && (ev & EPOLLOUT)) {
        if (c->kind == CHARGEN) {
          for (;;) {
            ssize_t w = send(c->fd, pattern + c->off, 9 * pattern_len, 0);
            if (w < 0) {
              if (errno != EAGAIN && errno != EINTR) dead = 1;
              break;
            }
            c->off = (c->off + (size_t)w) % pattern_len;
          }
        } else if (c->kind == ECHO && c->npend > 0) {
          ssize_t w = send(c->fd, c->pend, c->npend, 0);
          if (w < 0 && errno != EAGAIN) dead = 1;
          else if (w > 0) {
            memmove(c->pend, c->pend + w, c->npend - (size_t)w);
            c->npend -= (size_t)w;
            if (c->npend == 0) {
              free(c->pend);
              c->pend = NULL;
              set_events(ep, c, EPOLLIN);
            }
          }
        }
      }
      if (dead) close_conn(ep, c);
    }
  }
}
