// SPDX-License-Identifier: Apache-2.0
#include "support/idle_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace khz::test {

IdleListener::IdleListener(bool fill_backlog) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, fill_backlog ? 0 : 16) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error("IdleListener: cannot listen on loopback");
  }
  port_ = ntohs(a.sin_port);
  if (!fill_backlog) return;
  for (int i = 0; i < 3; ++i) {
    int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    (void)::connect(f, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers_.push_back(f);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // their handshakes settle
}

IdleListener::~IdleListener() {
  for (int f : fillers_) ::close(f);
  close_listener();
}

void IdleListener::close_listener() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace khz::test
