// SPDX-License-Identifier: Apache-2.0
// Test support: a CONNECT proxy on a ScriptServer. It answers 200 and relays bytes both ways to
// 127.0.0.1:<the requested port>, and keeps the CONNECT heads it saw.
//
//   khz::test::ConnectProxy proxy;
//   options.proxy = "http://127.0.0.1:" + std::to_string(proxy.server.port());
#pragma once

#include "support/script_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace khz::test {

struct ConnectProxy {
  std::mutex mutex;
  std::vector<std::string> requests;  // the CONNECT heads seen
  ScriptServer server{[this](ScriptServer::Peer& p) { serve(p); }};

  std::size_t count() {
    std::lock_guard lock(mutex);
    return requests.size();
  }
  std::string first() {
    std::lock_guard lock(mutex);
    return requests.empty() ? "" : requests.front();
  }

  void serve(ScriptServer::Peer& p) {
    std::string head = p.read_head();
    {
      std::lock_guard lock(mutex);
      requests.push_back(head);
    }
    if (head.rfind("CONNECT ", 0) != 0) return;
    std::string authority = head.substr(8, head.find(' ', 8) - 8);
    auto port = static_cast<std::uint16_t>(std::stoi(authority.substr(authority.rfind(':') + 1)));
    int up = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      p.send("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      ::close(up);
      return;
    }
    p.send("HTTP/1.1 200 Connection established\r\n\r\n");
    pollfd fds[2] = {{p.fd(), POLLIN, 0}, {up, POLLIN, 0}};
    char buf[16384];
    for (;;) {
      if (::poll(fds, 2, 5000) <= 0) break;
      bool done = false;
      for (int i = 0; i < 2; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) {
          done = true;
          break;
        }
        int to = fds[1 - i].fd;
        for (ssize_t off = 0; off < n;) {
          ssize_t w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
          if (w <= 0) {
            done = true;
            break;
          }
          off += w;
        }
      }
      if (done) break;
    }
    ::close(up);
  }
};

}  // namespace khz::test
