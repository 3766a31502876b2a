// SPDX-License-Identifier: Apache-2.0
// dial() and ClientLoop on every backend: numeric and named hosts, refused ports, the dial
// timeout, dialling from inside a server's connection handler, a caller-driven ClientLoop,
// and LoopTimer.
#include <khz/transport/dial.h>
#include <khz/transport/error.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include "support/idle_listener.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::transport::ClientLoop;
using khz::transport::Connection;

namespace {

khz::Task<> echo(Connection& conn) {
  for (;;) {
    if (co_await conn.fill(1)) co_return;
    conn.input().for_each_segment([&](std::string_view s) { conn.output().append(s); });
    conn.input().skip(conn.input().size());
    conn.input().release();
    if (co_await conn.flush()) co_return;
  }
}

// Dials host:port, sends `text`, returns the echo (or "error: ...").
khz::Task<std::string> round_trip(std::string host, std::uint16_t port, std::string text) {
  auto conn = co_await khz::transport::dial(host, port, 2000ms);
  if (!conn) co_return "error: " + conn.error().message();
  Connection& c = **conn;
  c.output().append(text);
  if (auto ec = co_await c.flush()) co_return "error: " + ec.message();
  c.set_read_timeout(2s);
  if (auto ec = co_await c.fill(text.size())) co_return "error: " + ec.message();
  co_return std::string(c.input().peek(text.size()));
}

}  // namespace

TEST_CASE("dial: from a ClientLoop, on every backend") {
  for (const auto& backend : khz::transport::transporter_names()) {
    DYNAMIC_SECTION("backend " << backend) {
      auto server = khz::transport::make_transporter(backend, {.address = "127.0.0.1:0", .loops = 1});
      auto port = server->start(echo);
      REQUIRE(port);
      auto loop = ClientLoop::make(backend);
      REQUIRE(loop->name() == backend);
      std::string got, got_local, got_named, refused;
      char name[256] = {};
      ::gethostname(name, sizeof name - 1);
      std::uint16_t dead = khz::test::unused_port();
      loop->run([&]() -> khz::Task<> {
        got = co_await round_trip("127.0.0.1", *port, "hello");
        got_local = co_await round_trip("localhost", *port, "local");
        got_named = co_await round_trip(name, *port, "named");  // getaddrinfo off the loop
        refused = co_await round_trip("127.0.0.1", dead, "x");
      });
      REQUIRE(got == "hello");
      REQUIRE(got_local == "local");
      REQUIRE(got_named == "named");
      REQUIRE(refused == "error: " + std::make_error_code(std::errc::connection_refused).message());
      server->shutdown(1s);
    }
  }
}

TEST_CASE("ClientLoop::make_on_caller: runs on the calling thread, only inside run(); dials; keeps connections between runs") {
  for (const auto& backend : khz::transport::transporter_names()) {
    DYNAMIC_SECTION("backend " << backend) {
      auto server = khz::transport::make_transporter(backend, {.address = "127.0.0.1:0", .loops = 1});
      auto port = server->start(echo);
      REQUIRE(port);
      const int threads_before = khz::test::thread_count();
      auto loop = ClientLoop::make_on_caller(backend);
      REQUIRE(loop->name() == backend);
      REQUIRE(khz::test::thread_count() == threads_before);  // no thread of its own

      std::thread::id ran_on;
      std::unique_ptr<Connection> kept;
      std::string first;
      loop->run([&]() -> khz::Task<> {
        ran_on = std::this_thread::get_id();
        co_await khz::sleep_for(5ms);  // timers work
        auto conn = co_await khz::transport::dial("127.0.0.1", *port, 2000ms);
        if (!conn) co_return;
        kept = std::move(*conn);
        kept->output().append("one");
        if (co_await kept->flush()) co_return;
        kept->set_read_timeout(2s);
        if (co_await kept->fill(3)) co_return;
        first = std::string(kept->input().peek(3));
        kept->input().skip(3);
      });
      REQUIRE(ran_on == std::this_thread::get_id());
      REQUIRE(first == "one");

      // Between runs the loop stands still: a post from another thread waits for the next run.
      std::atomic<bool> posted{false};
      std::thread([&] { loop->loop().post([&] { posted = true; }); }).join();
      std::this_thread::sleep_for(20ms);
      REQUIRE(!posted);

      // The connection made in the first run is used again in the second.
      std::string second;
      loop->run([&]() -> khz::Task<> {
        kept->output().append("two");
        if (co_await kept->flush()) co_return;
        if (co_await kept->fill(3)) co_return;
        second = std::string(kept->input().peek(3));
      });
      REQUIRE(posted);
      REQUIRE(second == "two");
      kept.reset();  // on this thread, the loop standing still
      loop.reset();
      server->shutdown(1s);
    }
  }
}

TEST_CASE("EventLoop::run_and_wait: on the loop's thread while one runs it, here while it stands still, at once on its own thread") {
  for (const auto& backend : khz::transport::transporter_names()) {
    DYNAMIC_SECTION("backend " << backend) {
      auto running = ClientLoop::make(backend);
      khz::EventLoop& l = running->loop();
      std::thread::id ran_on;
      khz::EventLoop* current = nullptr;
      bool nested_at_once = false;
      l.run_and_wait([&] {
        ran_on = std::this_thread::get_id();
        current = khz::EventLoop::current();
        bool ran = false;
        l.run_and_wait([&] { ran = true; });  // on its own thread: at once, not queued behind itself
        nested_at_once = ran;
      });
      REQUIRE(ran_on != std::this_thread::get_id());
      REQUIRE(current == &l);
      REQUIRE(nested_at_once);

      // A caller-driven loop between runs: no thread runs it, so the caller runs `fn` as a turn
      // of the loop, with what was queued on it.
      auto still = ClientLoop::make_on_caller(backend);
      khz::EventLoop& s = still->loop();
      bool posted = false;
      std::thread([&] { s.post([&] { posted = true; }); }).join();
      current = nullptr;
      s.run_and_wait([&] {
        ran_on = std::this_thread::get_id();
        current = khz::EventLoop::current();
      });
      REQUIRE(ran_on == std::this_thread::get_id());
      REQUIRE(current == &s);
      REQUIRE(posted);
      REQUIRE(khz::EventLoop::current() == nullptr);  // the caller's own again
      std::thread::id other;
      std::thread([&] {
        s.run_and_wait([&] { ran_on = std::this_thread::get_id(); });
        other = std::this_thread::get_id();
      }).join();
      REQUIRE(ran_on == other);
      bool after = false;  // and it still runs
      still->run([&]() -> khz::Task<> {
        co_await khz::sleep_for(1ms);
        after = true;
      });
      REQUIRE(after);
    }
  }
}

TEST_CASE("dial: the timeout bounds an unanswered connect; unresolvable names fail") {
  for (const auto& backend : khz::transport::transporter_names()) {
    DYNAMIC_SECTION("backend " << backend) {
      khz::test::IdleListener idle(/*fill_backlog=*/true);  // further SYNs go unanswered
      auto loop = ClientLoop::make(backend);
      std::error_code timeout_error, name_error;
      auto t0 = std::chrono::steady_clock::now();
      loop->run([&]() -> khz::Task<> {
        auto c = co_await khz::transport::dial("127.0.0.1", idle.port(), 300ms);
        if (!c) timeout_error = c.error();
        auto n = co_await khz::transport::dial("no-such-host.invalid", 80, 3000ms);
        if (!n) name_error = n.error();
      });
      REQUIRE(timeout_error == khz::transport::errc::timed_out);
      REQUIRE(name_error == std::errc::address_not_available);
      REQUIRE(std::chrono::steady_clock::now() - t0 < 3500ms);
    }
  }
}

TEST_CASE("dial: from inside a server connection handler (a relay)") {
  for (const auto& backend : khz::transport::transporter_names()) {
    DYNAMIC_SECTION("backend " << backend) {
      auto upstream = khz::transport::make_transporter(backend, {.address = "127.0.0.1:0", .loops = 1});
      auto up_port = upstream->start(echo);
      REQUIRE(up_port);
      std::uint16_t target = *up_port;
      auto relay = khz::transport::make_transporter(backend, {.address = "127.0.0.1:0", .loops = 2});
      auto relay_port = relay->start([target](Connection& down) -> khz::Task<> {
        // Reads one message, relays it upstream, relays the answer back.
        if (co_await down.fill(4)) co_return;
        std::string msg(down.input().peek(4));
        auto up = co_await khz::transport::dial("127.0.0.1", target, 2s);
        if (!up) co_return;
        (*up)->output().append(msg);
        if (co_await (*up)->flush()) co_return;
        if (co_await (*up)->fill(4)) co_return;
        down.output().append((*up)->input().peek(4));
        co_await down.flush();
      });
      REQUIRE(relay_port);
      auto loop = ClientLoop::make(backend);
      std::string got;
      loop->run([&]() -> khz::Task<> { got = co_await round_trip("127.0.0.1", *relay_port, "ping"); });
      REQUIRE(got == "ping");
      relay->shutdown(1s);
      upstream->shutdown(1s);
    }
  }
}

TEST_CASE("dial: outside a transport loop it fails cleanly") {
  auto r = khz::run_blocking(khz::transport::dial("127.0.0.1", 1, 100ms));
  REQUIRE(r.error() == std::errc::operation_not_supported);
}

TEST_CASE("LoopTimer: fires once, or not at all when cancelled") {
  for (const auto& backend : khz::transport::transporter_names()) {
    DYNAMIC_SECTION("backend " << backend) {
      auto loop = ClientLoop::make(backend);
      int fired = 0, cancelled_fired = 0;
      loop->run([&]() -> khz::Task<> {
        khz::transport::LoopTimer a, b;
        REQUIRE(a.start(20ms, [](void* p) { ++*static_cast<int*>(p); }, &fired));
        REQUIRE(b.start(30ms, [](void* p) { ++*static_cast<int*>(p); }, &cancelled_fired));
        REQUIRE(a.armed());
        b.cancel();
        co_await khz::sleep_for(80ms);
        REQUIRE_FALSE(a.armed());
      });
      REQUIRE(fired == 1);
      REQUIRE(cancelled_fired == 0);
    }
  }
}
