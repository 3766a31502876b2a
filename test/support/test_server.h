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

#include <string>
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

}  // namespace khz::test
