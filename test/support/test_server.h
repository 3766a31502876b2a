// SPDX-License-Identifier: Apache-2.0
// Test support: a khz::Server on 127.0.0.1:0 for the duration of a test, on a chosen transport.
//
//   for (auto transport : khz::test::transports()) {
//     DYNAMIC_SECTION("transport " << transport) {
//       khz::test::TestServer s(transport, {.read_timeout = 1s});
//       s.server.get("/ping", ping);
//       s.start();
//       khz::test::RawClient c(s.port());
//     }
//   }
#pragma once

#include <khz/app/server.h>

#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace khz::test {

// Every transport this build has: integration tests run on each.
std::vector<std::string> transports();

struct TestServer {
  TestServer(const std::string& transport, ServerOptions options = {});
  ~TestServer();
  void start();  // after registering routes
  std::uint16_t port() const { return server.port(); }
  std::string url(std::string_view path) const;

  Server server;
};

// Distinct client connections a server saw (by peer address); handlers add, the test counts.
struct Peers {
  std::mutex mutex;
  std::set<std::string> seen;
  void add(std::string_view p) {
    std::lock_guard lock(mutex);
    seen.emplace(p);
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return seen.size();
  }
};

}  // namespace khz::test
