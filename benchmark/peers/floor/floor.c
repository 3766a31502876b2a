// SPDX-License-Identifier: Apache-2.0
// The "floor" of benchmark/run.sh: the least an HTTP/1.1 server can do for GET /plaintext on
// one thread with epoll. It answers every request (whatever its path) with the same canned
// bytes, counting requests by their blank line, pipelined or not; no parsing, no allocation
// per request, no date formatting. Only the plaintext rows are meaningful (the route checks of
// the other rows fail and they read n/a).
//
//   floor-bench-server --port 28080
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char kResponse[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: floor\r\n"
    "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, World!";

enum { kMaxFds = 65536, kReadSize = 65536 };

struct conn {
  unsigned match;  // bytes of "\r\n\r\n" matched at the end of what was read
  char* out;       // responses the socket has not taken yet
  size_t out_len, out_cap;
};

static struct conn conns[kMaxFds];

static void drop(int ep, int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  free(conns[fd].out);
  memset(&conns[fd], 0, sizeof conns[fd]);
}

// Sends what is pending; 0 when all went, 1 when the socket is full, -1 on error.
static int send_pending(int fd) {
  struct conn* c = &conns[fd];
  while (c->out_len > 0) {
    ssize_t n = send(fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
    memmove(c->out, c->out + n, c->out_len - (size_t)n);
    c->out_len -= (size_t)n;
  }
  return 0;
}

static int queue_responses(int fd, unsigned count) {
  struct conn* c = &conns[fd];
  size_t need = c->out_len + count * (sizeof kResponse - 1);
  if (need > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < need) cap *= 2;
    char* p = realloc(c->out, cap);
    if (p == NULL) return -1;
    c->out = p;
    c->out_cap = cap;
  }
  for (unsigned i = 0; i < count; ++i) {
    memcpy(c->out + c->out_len, kResponse, sizeof kResponse - 1);
    c->out_len += sizeof kResponse - 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  int port = 28080;
  for (int i = 1; i + 1 < argc; ++i) {
    if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);
  }
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0) {
    perror("floor: listen");
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  static char buf[kReadSize];
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (c >= kMaxFds) {
            close(c);
            continue;
          }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      if (events[i].events & EPOLLOUT) {
        int r = send_pending(fd);
        if (r < 0) {
          drop(ep, fd);
          continue;
        }
        if (r == 0) {
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
      }
      if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) continue;
      ssize_t got = recv(fd, buf, sizeof buf, 0);
      if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        drop(ep, fd);
        continue;
      }
      // Requests end with "\r\n\r\n"; count them, across reads.
      static const char kEnd[] = "\r\n\r\n";
      unsigned requests = 0, match = conns[fd].match;
      for (ssize_t k = 0; k < got; ++k) {
        if (buf[k] == kEnd[match]) {
          if (++match == 4) {
            ++requests;
            match = 0;
          }
        } else {
          match = buf[k] == '\r' ? 1 : 0;
        }
      }
      conns[fd].match = match;
      if (requests == 0) continue;
      const int was_pending = conns[fd].out_len > 0;
      if (queue_responses(fd, requests) != 0) {
        drop(ep, fd);
        continue;
      }
      if (was_pending) continue;  // EPOLLOUT is armed already
      int r = send_pending(fd);
      if (r < 0) {
        drop(ep, fd);
      } else if (r == 1) {
        struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
    }
  }
}
