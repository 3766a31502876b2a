// SPDX-License-Identifier: Apache-2.0
// Deliberately slow or greedy clients, on every transport: a trickled header section
// (slowloris), a stalled body, a reader that never reads, too many connections.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <sys/socket.h>

#include <functional>

#include <chrono>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using khz::test::body_of;
using khz::test::RawClient;
using khz::test::run_command;
using khz::test::status_of;

TEST_CASE("slow clients") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.header_timeout = 500ms, .read_timeout = 400ms, .write_timeout = 300ms,
                                           .max_connections = 2});
      ts.server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
      ts.server.post("/echo", [](khz::RequestContext& c) { c.data(200, "text/plain", c.body()); });
      ts.server.get("/huge", [](khz::RequestContext& c) { c.data(200, "application/octet-stream", std::string(32 << 20, 'h')); });
      ts.server.get("/trailers", [](khz::RequestContext& c) {
        c.response().trailers().add("X-Checksum", "42");
        c.string(200, "body");
      });
      ts.server.get("/trailers-stream", [](khz::RequestContext& c) -> khz::Task<> {
        c.response().trailers().add("X-Parts", "2");
        co_await c.write("a");
        co_await c.write("b");
      });
      ts.start();

      SECTION("slowloris: a header section trickled byte by byte gets 408 at the header deadline") {
        RawClient c(ts.port());
        c.send("GET /ping HTTP/1.1\r\nHost: t\r\nX-Slow: ");
        auto t0 = std::chrono::steady_clock::now();
        bool closed = false;
        for (int i = 0; i < 40 && !closed; ++i) {  // up to 4 s of one byte per 100 ms
          c.send("a");
          closed = c.closed_by_peer(100ms);
        }
        REQUIRE(closed);
        REQUIRE(std::chrono::steady_clock::now() - t0 < 3s);  // long before the trickle ended
      }

      SECTION("a body that stalls gets 408 after the read timeout") {
        RawClient c(ts.port());
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
        std::string all = c.read_until_close();
        REQUIRE(status_of(all) == 408);
      }

      SECTION("a reader that never reads is cut off by the write timeout") {
        {
          RawClient c(ts.port());
          int small = 4096;
          ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
          c.send("GET /huge HTTP/1.1\r\nHost: t\r\n\r\n");
          REQUIRE(khz::test::eventually([&] { return ts.server.active_connections() == 1; }, 2s));
          // Never read: the server's flush stalls, then times out and closes.
          REQUIRE(khz::test::eventually([&] { return ts.server.active_connections() == 0; }, 5s));
        }
        RawClient d(ts.port());  // and the server serves on
        d.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(body_of(d.read_response()) == "pong");
      }

      SECTION("beyond max_connections a new connection gets 503 and is closed; then room again") {
        RawClient a(ts.port());
        RawClient b(ts.port());
        a.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        b.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(body_of(a.read_response()) == "pong");
        REQUIRE(body_of(b.read_response()) == "pong");
        {
          RawClient c(ts.port());
          std::string refused = c.read_until_close();
          REQUIRE(status_of(refused) == 503);
          REQUIRE(khz::test::header_of(refused, "Connection") == "close");
        }
        a.shutdown_write();
        REQUIRE(a.closed_by_peer(2s));
        REQUIRE(khz::test::eventually([&] { return ts.server.active_connections() == 1; }, 2s));
        RawClient d(ts.port());
        d.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(body_of(d.read_response()) == "pong");
      }

      SECTION("response trailers reach curl, buffered and streamed") {
        auto r = run_command("curl -s --raw -i " + ts.url("/trailers"));
        REQUIRE(khz::test::header_of(r.output, "Trailer") == "X-Checksum");
        REQUIRE(r.output.find("\r\n0\r\nX-Checksum: 42\r\n\r\n") != std::string::npos);
        auto s = run_command("curl -s --raw " + ts.url("/trailers-stream"));
        REQUIRE(s.output == "1\r\na\r\n1\r\nb\r\n0\r\nX-Parts: 2\r\n\r\n");
      }
    }
  }
}
