// SPDX-License-Identifier: Apache-2.0
// The connection lifecycle (transporter.h's table) seen from outside, on every transport:
// admission runs once per connection, so a keep-alive connection's later requests are never
// refused by the connection limit, and the HTTP/2 preface is only a preface at a connection's
// start (afterwards it is just a malformed HTTP/1.1 request); over TLS, a parked connection
// resumes through the same path.
#include <khz/app/server.h>
#include <khz/protocol/serve.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::test::body_of;
using khz::test::RawClient;
using khz::test::status_of;

namespace {

constexpr std::string_view kPing = "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n";
// The HTTP/2 client preface and an empty SETTINGS frame.
const std::string kPreface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\4\0\0\0\0\0", 9);

// Opens connections one after another until `stop`, each refused (503) or served; counts them.
void hammer(std::uint16_t port, const std::atomic<bool>& stop, std::atomic<int>& opened) {
  while (!stop) {
    try {
      RawClient c(port, 2s);
      c.send(kPing);
      (void)c.read_response();
      ++opened;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(1ms);  // out of ports or descriptors for a moment
    }
  }
}

// After a plain HTTP/1.1 exchange, the preface on the same connection is no HTTP/2: an
// HTTP/1.1 error (or a close), never an HTTP/2 SETTINGS frame.
void expect_preface_refused_after_http1(std::uint16_t port) {
  RawClient c(port, 3s);
  c.send(kPing);
  REQUIRE(body_of(c.read_response()) == "pong");
  std::this_thread::sleep_for(20ms);  // parked in between
  c.send(kPreface);
  const std::string after = c.read_until_close();
  INFO("bytes after the preface: " << after.size());
  REQUIRE((after.empty() || after.rfind("HTTP/1.1 ", 0) == 0));
  if (!after.empty()) REQUIRE(status_of(after) >= 400);
}

}  // namespace

TEST_CASE("lifecycle: under max_connections pressure a keep-alive connection's next request is never refused") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 2, .max_connections = 1});
      ts.server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
      ts.start();

      RawClient kept(ts.port());
      kept.send(kPing);
      REQUIRE(body_of(kept.read_response()) == "pong");  // admitted while alone

      // Meanwhile new connections come and go, each over the limit while it lives.
      std::atomic<bool> stop{false};
      std::atomic<int> opened{0};
      std::vector<std::thread> threads;
      for (int i = 0; i < 2; ++i) threads.emplace_back(hammer, ts.port(), std::cref(stop), std::ref(opened));
      REQUIRE(khz::test::eventually([&] { return opened >= 20; }, 5s));
      int refused_kept = 0;
      for (int i = 0; i < 300; ++i) {
        kept.send(kPing);
        const std::string r = kept.read_response();
        if (status_of(r) != 200) ++refused_kept;
        if (r.empty()) break;  // closed
      }
      stop = true;
      for (auto& t : threads) t.join();
      INFO("connections opened meanwhile: " << opened.load());
      REQUIRE(refused_kept == 0);
      // And new connections were held to the limit: refused while `kept` lives.
      RawClient late(ts.port());
      late.send(kPing);
      REQUIRE(status_of(late.read_response()) == 503);
    }
  }
}

TEST_CASE("lifecycle: the HTTP/2 preface is only accepted at the start of a connection") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      SECTION("a Server (the front door)") {
        khz::test::TestServer ts(transport, {.loops = 1, .h2c = true});
        ts.server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
        ts.start();
        {
          RawClient fresh(ts.port());  // at the start it is HTTP/2: the server's SETTINGS come back
          fresh.send(kPreface);
          std::string got;
          REQUIRE(khz::test::eventually([&] {
            char buf[64];
            ssize_t n = ::recv(fresh.fd(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) got.append(buf, static_cast<std::size_t>(n));
            return got.size() >= 9;
          }));
          REQUIRE(got[3] == '\x04');  // a SETTINGS frame
        }
        expect_preface_refused_after_http1(ts.port());
      }
      SECTION("serve_http as a transporter's handler") {
        struct PingCore final : khz::ServerCore {
          khz::Task<void> serve(khz::Exchange& exchange) override {
            exchange.response.set_status(200);
            exchange.response.set_body("pong");
            co_return;
          }
        } core;
        auto h2 = std::make_shared<const khz::Http2Options>();
        auto h1 = std::make_shared<const khz::Http1Options>(khz::Http1Options{.h2c = h2});
        auto t = khz::transport::make_transporter(transport, {.address = "127.0.0.1:0", .loops = 1});
        auto port = t->start([&core, h1, h2](khz::transport::Connection& c) { return khz::serve_http(c, core, h1, h2); });
        REQUIRE(port.ok());
        expect_preface_refused_after_http1(*port);
        t->shutdown(1s);
      }
    }
  }
}
