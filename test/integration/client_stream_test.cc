// SPDX-License-Identifier: Apache-2.0
// khz::client::open_stream: a raw byte stream to a scripted peer on each transport: bytes both
// ways, the read timeout, a refused connection.
#include <khz/app/client/stream.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include "support/script_server.h"
#include "support/test_server.h"

#include <chrono>
#include <string>
#include <thread>

using khz::test::ScriptServer;
using namespace std::chrono_literals;

TEST_CASE("open_stream: bytes both ways, timeouts, refusal") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      ScriptServer peer([](ScriptServer::Peer& p) {
        const std::string ask = p.read_exact(6);
        p.send(ask == "PING\r\n" ? "+PONG\r\n" : "-ERR\r\n");
        p.read_exact(6);  // a second PING, never answered: the client's read timeout ends it
        std::this_thread::sleep_for(1500ms);
      });
      auto loop = khz::transport::ClientLoop::make(transport);
      std::string reply;
      std::error_code timed_out, refused;
      loop->run([&]() -> khz::Task<> {
        auto conn = co_await khz::client::open_stream("127.0.0.1", peer.port(), {.connect_timeout = 2s, .read_timeout = 300ms});
        REQUIRE(conn);
        auto& c = **conn;
        REQUIRE(c.read_timeout() == 300ms);
        c.output().append("PING\r\n");
        const std::error_code w = co_await c.flush();
        REQUIRE_FALSE(w);
        const std::error_code r = co_await c.fill(7);
        REQUIRE_FALSE(r);
        reply = std::string(c.input().peek(7));
        c.input().skip(7);
        c.input().release();
        c.output().append("PING\r\n");
        const std::error_code w2 = co_await c.flush();
        REQUIRE_FALSE(w2);
        timed_out = co_await c.fill(1);
        // A port nobody listens on (the peer's, once a throwaway listener is gone, is not
        // guaranteed free: port 1 on loopback refuses).
        auto none = co_await khz::client::open_stream("127.0.0.1", 1, {.connect_timeout = 2s});
        REQUIRE_FALSE(none);
        refused = none.error();
      });
      REQUIRE(reply == "+PONG\r\n");
      REQUIRE(timed_out == khz::transport::errc::timed_out);
      REQUIRE(refused == std::errc::connection_refused);
    }
  }
}
