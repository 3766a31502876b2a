// SPDX-License-Identifier: Apache-2.0
// Every transport backend against the Connection contract: echo, timeouts, drain, close.
#include <khz/common/event_loop.h>
#include <khz/transport/error.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <atomic>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using khz::test::RawClient;

namespace {

std::atomic<int> last_error{0};

khz::Task<> echo(khz::transport::Connection& conn) {
  conn.set_read_timeout(300ms);
  for (;;) {
    if (auto ec = co_await conn.fill(1)) {
      last_error = ec == khz::transport::errc::timed_out ? 1 : ec == khz::transport::errc::eof ? 2 : 3;
      co_return;
    }
    conn.input().for_each_segment([&](std::string_view s) { conn.output().append(s); });
    conn.input().skip(conn.input().size());
    conn.input().release();
    if (auto ec = co_await conn.flush()) co_return;
  }
}

khz::Task<> wait_idle(khz::transport::Connection& conn) {
  conn.set_idle(true);
  auto ec = co_await conn.fill(1);
  last_error = ec == khz::transport::errc::shutting_down ? 4 : 5;
}

}  // namespace

TEST_CASE("transport: echo, read timeout, eof") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 2});
      auto port = t->start(&echo);
      REQUIRE(port.ok());
      {
        RawClient c(*port);
        std::string big(100000, 'e');
        c.send("hello");
        c.send(big);
        c.shutdown_write();
        std::string got = c.read_until_close();
        REQUIRE(got == "hello" + big);
      }
      std::this_thread::sleep_for(100ms);
      REQUIRE(last_error == 2);
      {
        RawClient c(*port);
        REQUIRE(c.closed_by_peer(3s));  // silent client: the read timeout closes it
        REQUIRE(last_error == 1);
      }
      t->shutdown(1s);
      REQUIRE(t->active_connections() == 0);
    }
  }
}

TEST_CASE("transport: shutdown ends idle connections at once and refuses new ones") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&wait_idle);
      REQUIRE(port.ok());
      RawClient c(*port);
      while (t->active_connections() == 0) std::this_thread::sleep_for(1ms);
      auto t0 = std::chrono::steady_clock::now();
      t->shutdown(10s);
      REQUIRE(std::chrono::steady_clock::now() - t0 < 5s);  // did not wait for the drain deadline
      REQUIRE(last_error == 4);
      REQUIRE(c.closed_by_peer(1s));
      REQUIRE_THROWS(RawClient(*port));
    }
  }
}

TEST_CASE("transport: bad addresses and names") {
  REQUIRE_THROWS_AS(khz::transport::make_transporter("nope", {}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::transport::parse_host_port("no-port"), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::transport::parse_host_port("h:99999"), std::invalid_argument);
  auto hp = khz::transport::parse_host_port("[::1]:80");
  REQUIRE(hp.host == "::1");
  REQUIRE(hp.port == 80);
  auto t = khz::transport::make_transporter("", {.address = "127.0.0.1:0", .loops = 1});
  auto a = t->start(&echo);
  REQUIRE(a.ok());
  auto t2 = khz::transport::make_transporter("", {.address = "127.0.0.1:" + std::to_string(*a), .loops = 1});
  auto b = t2->start(&echo);
  REQUIRE_FALSE(b.ok());  // address in use
}
