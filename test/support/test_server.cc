// SPDX-License-Identifier: Apache-2.0
#include "support/test_server.h"

#include <khz/transport/transporter.h>

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

std::vector<std::string> transports() { return transport::transporter_names(); }

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
