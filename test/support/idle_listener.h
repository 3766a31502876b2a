// SPDX-License-Identifier: Apache-2.0
// IdleListener: a loopback TCP listener that never accepts, for tests of dials and sends that
// must wait. The kernel completes handshakes into its backlog; with `fill_backlog`, the backlog
// is filled at once, so further SYNs are dropped and a connect to it stays in flight.
//
//   khz::test::IdleListener l(/*fill_backlog=*/true);
//   auto c = co_await khz::transport::dial("127.0.0.1", l.port(), 300ms);  // timed_out
#pragma once

#include <cstdint>
#include <vector>

namespace khz::test {

class IdleListener {
 public:
  explicit IdleListener(bool fill_backlog = false);
  ~IdleListener();
  IdleListener(const IdleListener&) = delete;
  IdleListener& operator=(const IdleListener&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  // Closes the listener now (SYNs sent to it from then on are refused); the fillers stay.
  void close_listener() noexcept;

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;  // connections that fill the backlog
};

}  // namespace khz::test
