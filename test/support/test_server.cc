// SPDX-License-Identifier: Apache-2.0
#include "support/test_server.h"

#include <khz/transport/transporter.h>

#include <cstdlib>
#include <string_view>

#include <catch2/catch.hpp>

namespace khz::test {
namespace {
ServerOptions with_defaults(const std::string& transport, ServerOptions o) {
  o.address = "127.0.0.1:0";
  o.transport = transport;
  if (o.loops == 0) o.loops = 2;
  return o;
}
}  // namespace

// Every backend: netpoll, asio and uring (where the kernel refuses io_uring, "uring" falls back
// to netpoll with a log line). KHZ_TEST_URING=0 leaves uring out, to tell a uring fault from
// another quickly.
std::vector<std::string> transports() {
  std::vector<std::string> names = transport::transporter_names();
  const char* uring = std::getenv("KHZ_TEST_URING");
  if (uring != nullptr && std::string_view(uring) == "0") std::erase(names, std::string("uring"));
  return names;
}

TestServer::TestServer(const std::string& transport, ServerOptions options)
    : server(with_defaults(transport, std::move(options))) {}

TestServer::~TestServer() { server.shutdown(); }

void TestServer::start() {
  auto port = server.start();
  REQUIRE(port.ok());
}

std::string TestServer::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
}

}  // namespace khz::test
