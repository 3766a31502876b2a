// SPDX-License-Identifier: Apache-2.0
// Every transport backend against the Connection contract: echo, timeouts, drain, close;
// then partial writes, spreading over loops, write deadlines, idle memory, peer resets.
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include "support/default_sigpipe.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <string>
#include <memory>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::test::RawClient;

namespace {

std::atomic<int> last_error{0};

// Queues everything read for writing back, and lets the input go.
void move_input_to_output(khz::transport::Connection& conn) {
  conn.input().for_each_segment([&](std::string_view s) { conn.output().append(s); });
  conn.input().skip(conn.input().size());
  conn.input().release();
}

khz::Task<> echo(khz::transport::Connection& conn) {
  conn.set_read_timeout(300ms);
  for (;;) {
    if (auto ec = co_await conn.fill(1)) {
      last_error = ec == khz::transport::errc::timed_out ? 1 : ec == khz::transport::errc::eof ? 2 : 3;
      co_return;
    }
    move_input_to_output(conn);
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

namespace {

// Fills once and answers with how many bytes that fill brought in, three times: after waiting
// until the peer's bytes are all in the socket, as a handler mid-request and as an idle server;
// then with the fill waiting before they come (on io_uring a 48 KiB message fills several
// provided buffers, each its own completion).
khz::Task<> fill_once_after_a_pause(khz::transport::Connection& conn) {
  for (int round = 0; round < 3; ++round) {
    conn.set_idle(round == 1);
    if (round < 2) co_await khz::sleep_for(150ms);
    if (co_await conn.fill(1)) co_return;
    conn.set_idle(false);
    const std::string got = std::to_string(conn.input().size()) + "\n";
    conn.input().skip(conn.input().size());
    conn.input().release();
    conn.output().append(got);
    if (co_await conn.flush()) co_return;
  }
}

}  // namespace

// What already waits comes in one fill: a proxy forwards each fill's bytes in a send of their
// own, so a 48 KiB message read in parts costs it a TCP segment (and a trip round the loop) per part.
TEST_CASE("transport: one fill takes everything already waiting in the socket") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&fill_once_after_a_pause);
      REQUIRE(port.ok());
      RawClient c(*port);
      const std::string message(48 * 1024, 'm');
      c.send(message);
      CHECK(c.read_exactly(6) == "49152\n");
      c.send(message);
      CHECK(c.read_exactly(6) == "49152\n");
      std::this_thread::sleep_for(50ms);  // the third fill waits first
      c.send(message);
      CHECK(c.read_exactly(6) == "49152\n");
      t->shutdown(1s);
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

std::atomic<khz::EventLoop*> seen_loop{nullptr};

khz::Task<> note_loop(khz::transport::Connection& conn) {
  seen_loop = khz::EventLoop::current();
  (void)co_await conn.fill(1);
}

// A coroutine suspended until `wake` is set (resumed by whoever holds it).
struct Parked {
  std::coroutine_handle<> handle;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept { handle = h; }
  void await_resume() const noexcept {}
};

TEST_CASE("transport: after shutdown, work posted to a loop runs at once on the caller, as the loop's last turn") {
  // What a destructor hands to a stopped loop (a pooled client connection's close, say) is
  // neither lost nor leaked: it runs here, with the loop current, and so does what it queues.
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      seen_loop = nullptr;
      auto port = t->start(&note_loop);
      REQUIRE(port.ok());
      { RawClient c(*port); c.send("x"); while (seen_loop == nullptr) std::this_thread::sleep_for(1ms); }
      khz::EventLoop* loop = seen_loop;
      // A coroutine left suspended on the loop when it stopped.
      Parked parked;
      bool finished = false;
      auto waiter = [](Parked& p, bool& done) -> khz::Task<> {
        co_await p;
        done = true;
      };
      std::promise<void> spawned;
      loop->post([&] {
        khz::spawn(waiter(parked, finished));
        spawned.set_value();
      });
      spawned.get_future().wait();
      t->shutdown(1s);

      khz::EventLoop* current_inside = nullptr;
      bool later = false;
      loop->post([&] {
        current_inside = khz::EventLoop::current();
        loop->post([&] { later = true; });  // queued on the loop: the same last turns run it
        parked.handle.resume();
      });
      CHECK(current_inside == loop);
      CHECK(later);
      CHECK(finished);
      CHECK(khz::EventLoop::current() == nullptr);  // the caller's own (none) is back
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

// Each backend registers itself by name when its target is linked: a registration the linker
// dropped would quietly shrink every "on each transport" test to fewer backends.
TEST_CASE("transport: the backends this build has, by name; the default first") {
  using khz::transport::ClientLoop;
  std::vector<std::string> expected{"netpoll"};
#if KHZ_TEST_WITH_ASIO
  expected.push_back("asio");
  REQUIRE(khz::transport::make_transporter("asio", {.address = "127.0.0.1:0", .loops = 1})->name() == "asio");
  REQUIRE(ClientLoop::make_on_caller("asio")->name() == "asio");
#else
  // Built without the asio backend (KHZ_WITH_ASIO=OFF): its name is unknown, as any other.
  REQUIRE_THROWS_AS(khz::transport::make_transporter("asio", {}), std::invalid_argument);
  REQUIRE_THROWS_AS(ClientLoop::make("asio"), std::invalid_argument);
#endif
#if KHZ_TEST_WITH_URING
  expected.push_back("uring");
  // This machine's kernel runs io_uring (a refusal falls back to netpoll: uring_test).
  REQUIRE(khz::transport::make_transporter("uring", {.address = "127.0.0.1:0", .loops = 1})->name() == "uring");
  REQUIRE(ClientLoop::make_on_caller("uring")->name() == "uring");
#else
  REQUIRE_THROWS_AS(khz::transport::make_transporter("uring", {}), std::invalid_argument);
#endif
  REQUIRE(khz::transport::transporter_names() == expected);
  REQUIRE(ClientLoop::make_on_caller("netpoll")->name() == "netpoll");
  REQUIRE_THROWS_AS(ClientLoop::make("carrier-pigeon"), std::invalid_argument);
}

// ---- What the contract tests above do not reach: partial writes, spreading over loops,
// write deadlines, idle memory, a peer that resets. Every backend runs them.

namespace {

// Byte i of the bulk payload: a pattern that shows both loss and reordering.
char bulk_byte(std::size_t i) { return static_cast<char>('a' + (i / 7 + i) % 26); }

constexpr std::size_t kBulkBytes = 16 * 1024 * 1024;  // > the server's 4 MiB send buffer max
std::atomic<bool> bulk_flushed{false};
std::atomic<int> bulk_error{-1};

// Writes kBulkBytes in one flush (over IOV_MAX nodes, so more than one sendmsg even when the
// socket keeps up), then closes.
khz::Task<> write_bulk(khz::transport::Connection& conn) {
  std::string chunk(64 * 1024, '\0');
  for (std::size_t off = 0; off < kBulkBytes; off += chunk.size()) {
    for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = bulk_byte(off + i);
    conn.output().append(chunk);
  }
  auto ec = co_await conn.flush();
  bulk_error = ec.value();
  bulk_flushed = true;
}

std::atomic<int> write_timeout_error{-1};
std::atomic<long> write_timeout_ms{-1};

khz::Task<> write_bulk_with_deadline(khz::transport::Connection& conn) {
  conn.set_write_timeout(200ms);
  conn.output().append(std::string(kBulkBytes, 'w'));
  auto t0 = std::chrono::steady_clock::now();
  auto ec = co_await conn.flush();
  write_timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  write_timeout_error = ec == khz::transport::errc::timed_out ? 1 : 2;
}

std::atomic<int> idle_nodes{-1};
std::atomic<int> busy_nodes{-1};

// Answers "ping" with "pong", then waits idle: a look from the loop while it waits counts the
// input's nodes.
khz::Task<> ping_then_idle(khz::transport::Connection& conn) {
  if (co_await conn.fill(4)) co_return;
  conn.input().skip(4);
  conn.input().release();
  conn.output().append("pong");
  if (co_await conn.flush()) co_return;
  conn.set_idle(true);
  khz::transport::Connection* c = &conn;
  khz::EventLoop::current()->post([c] { idle_nodes = static_cast<int>(c->input().node_count()); });
  auto ec = co_await conn.fill(1);
  conn.set_idle(false);
  if (ec) co_return;
  busy_nodes = static_cast<int>(conn.input().node_count());
  conn.output().append("bye");
  (void)co_await conn.flush();
}

// "h0000" .. "h9999": five bytes, different per client.
std::string numbered_message(int i) {
  char text[16];
  std::snprintf(text, sizeof text, "h%04d", i % 10000);
  return text;
}

std::mutex spread_mutex;
std::set<std::thread::id> spread_threads;
std::atomic<int> spread_moved{0};

// Echoes one message; notes its loop thread, and whether it stayed on it.
khz::Task<> echo_once_noting_thread(khz::transport::Connection& conn) {
  auto before = std::this_thread::get_id();
  {
    std::lock_guard lock(spread_mutex);
    spread_threads.insert(before);
  }
  if (conn.local_address().rfind("127.0.0.1:", 0) != 0 || conn.peer_address().rfind("127.0.0.1:", 0) != 0) {
    ++spread_moved;  // counted as a failure too
  }
  if (co_await conn.fill(5)) co_return;
  move_input_to_output(conn);
  (void)co_await conn.flush();
  if (std::this_thread::get_id() != before) ++spread_moved;
}

std::atomic<int> reset_fill_error{-1};
std::atomic<int> reset_flush_error{-1};
std::atomic<bool> reset_sleeping{false};

// Sleeps while the peer resets (nothing pending on the socket meanwhile), then reads and writes.
khz::Task<> read_write_after_reset(khz::transport::Connection& conn) {
  reset_sleeping = true;
  co_await khz::sleep_for(600ms);
  auto ec = co_await conn.fill(1);
  reset_fill_error = ec == khz::transport::errc::eof ? 0 : ec.category() == std::system_category() ? ec.value() : -2;
  for (int i = 0; i < 8; ++i) {
    conn.output().append(std::string(256 * 1024, 'x'));
    ec = co_await conn.flush();
    if (ec) break;
  }
  reset_flush_error = ec.category() == std::system_category() ? ec.value() : -2;
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ---- netpoll: a flush that completes at once goes on inline, within a per-turn budget
constexpr int kSmallFlushes = 5000;  // well past the loop's inline budget (1024 a turn)
std::atomic<bool> timer_task_ran{false};
std::atomic<int> first_flush_saw_timer{-1};  // 0: the writer went on before the loop's timers
std::atomic<int> flushes_before_timer{-1};   // how many flushes the writer finished first
std::atomic<bool> small_flushes_done{false};

khz::Task<> note_timer() {
  co_await khz::sleep_for(1ns);  // due at once: runs when the loop gets to its timers
  timer_task_ran = true;
}

// Writes one byte per flush, to a client that reads all the while (so no flush waits).
khz::Task<> write_byte_per_flush(khz::transport::Connection& conn) {
  if (co_await conn.fill(1)) co_return;
  conn.input().skip(conn.input().size());
  conn.input().release();
  khz::spawn(note_timer());
  for (int i = 0; i < kSmallFlushes; ++i) {
    if (timer_task_ran && flushes_before_timer < 0) flushes_before_timer = i;
    conn.output().append("b");
    if (co_await conn.flush()) co_return;
    if (i == 0) first_flush_saw_timer = timer_task_ran ? 1 : 0;
  }
  small_flushes_done = true;
}

}  // namespace

TEST_CASE("transport: a flush larger than the socket buffers completes across partial writes") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      bulk_flushed = false;
      bulk_error = -1;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&write_bulk);
      REQUIRE(port.ok());
      int fd = khz::test::connect_loopback(*port, 64 * 1024);
      std::this_thread::sleep_for(300ms);
      REQUIRE_FALSE(bulk_flushed);  // the client has not read: the flush waits for EPOLLOUT
      std::string got;
      got.reserve(kBulkBytes);
      char buf[65536];
      for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
      ::close(fd);
      REQUIRE(got.size() == kBulkBytes);
      std::size_t first_bad = kBulkBytes;
      for (std::size_t i = 0; i < got.size(); ++i) {
        if (got[i] != bulk_byte(i)) {
          first_bad = i;
          break;
        }
      }
      REQUIRE(first_bad == kBulkBytes);
      REQUIRE(bulk_flushed);
      REQUIRE(bulk_error == 0);
      t->shutdown(1s);
    }
  }
}

TEST_CASE("netpoll: a flush that completes at once goes on inline, but one turn holds only so many") {
  timer_task_ran = false;
  first_flush_saw_timer = -1;
  flushes_before_timer = -1;
  small_flushes_done = false;
  auto t = khz::transport::make_transporter("netpoll", {.address = "127.0.0.1:0", .loops = 1});
  auto port = t->start(&write_byte_per_flush);
  REQUIRE(port.ok());
  RawClient c(*port);
  c.send("go");
  std::string got = c.read_until_close();
  REQUIRE(got == std::string(kSmallFlushes, 'b'));
  REQUIRE(small_flushes_done);
  // The first flush finished inside the turn that served the input: no trip through the loop.
  REQUIRE(first_flush_saw_timer == 0);
  // A writer that never waits still gives the loop back after the turn's budget.
  REQUIRE(flushes_before_timer > 0);
  REQUIRE(flushes_before_timer < kSmallFlushes);
  t->shutdown(1s);
}

TEST_CASE("transport: the write timeout ends a flush to a peer that never reads") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      write_timeout_error = -1;
      write_timeout_ms = -1;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&write_bulk_with_deadline);
      REQUIRE(port.ok());
      int fd = khz::test::connect_loopback(*port, 64 * 1024);
      for (int i = 0; i < 300 && write_timeout_error == -1; ++i) std::this_thread::sleep_for(10ms);
      REQUIRE(write_timeout_error == 1);
      REQUIRE(write_timeout_ms >= 190);
      REQUIRE(write_timeout_ms < 2000);
      ::close(fd);
      t->shutdown(1s);
      REQUIRE(t->active_connections() == 0);
    }
  }
}

TEST_CASE("transport: an idle connection holds no buffer nodes") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      idle_nodes = -1;
      busy_nodes = -1;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&ping_then_idle);
      REQUIRE(port.ok());
      RawClient c(*port);
      c.send("ping");
      for (int i = 0; i < 300 && idle_nodes == -1; ++i) std::this_thread::sleep_for(10ms);
      REQUIRE(idle_nodes == 0);  // looked at while the handler waited idle
      c.send("x");
      REQUIRE(c.read_until_close() == "pongbye");
      REQUIRE(busy_nodes >= 1);  // a node appears only once there is something to read
      t->shutdown(1s);
    }
  }
}

TEST_CASE("transport: many connections spread over the loops and stay on theirs") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      {
        std::lock_guard lock(spread_mutex);
        spread_threads.clear();
      }
      spread_moved = 0;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 4});
      auto port = t->start(&echo_once_noting_thread);
      REQUIRE(port.ok());
      constexpr int kClients = 200;
      std::vector<std::unique_ptr<RawClient>> clients;
      for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<RawClient>(*port));
      for (int i = 0; i < 500 && t->active_connections() < kClients; ++i) std::this_thread::sleep_for(10ms);
      REQUIRE(t->active_connections() == kClients);  // all open at once
      for (int i = 0; i < kClients; ++i) clients[i]->send(numbered_message(i));
      for (int i = 0; i < kClients; ++i) {
        REQUIRE(clients[i]->read_until_close() == numbered_message(i));
      }
      clients.clear();
      for (int i = 0; i < 500 && t->active_connections() > 0; ++i) std::this_thread::sleep_for(10ms);
      REQUIRE(t->active_connections() == 0);
      t->shutdown(1s);
      std::lock_guard lock(spread_mutex);
      REQUIRE(spread_threads.size() > 1);
      REQUIRE(spread_moved == 0);
    }
  }
}

TEST_CASE("transport: a peer reset while nothing waits neither spins the loop nor raises SIGPIPE") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      khz::test::DefaultSigpipe sigpipe_kills;
      reset_sleeping = false;
      reset_fill_error = -1;
      reset_flush_error = -1;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&read_write_after_reset);
      REQUIRE(port.ok());
      {
        RawClient c(*port);
        while (!reset_sleeping) std::this_thread::sleep_for(1ms);
        c.send("data the server never reads");
        linger hard{1, 0};  // close with RST
        REQUIRE(::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
      }
      std::this_thread::sleep_for(50ms);
      double cpu0 = cpu_seconds();
      std::this_thread::sleep_for(300ms);  // the handler still sleeps; the socket is dead
      REQUIRE(cpu_seconds() - cpu0 < 0.15);
      for (int i = 0; i < 300 && reset_flush_error == -1; ++i) std::this_thread::sleep_for(10ms);
      REQUIRE((reset_fill_error == 0 || reset_fill_error == ECONNRESET));
      REQUIRE((reset_flush_error == EPIPE || reset_flush_error == ECONNRESET));
      t->shutdown(1s);
    }
  }
}

TEST_CASE("transport: KHZ_TRANSPORT picks the backend when none is named") {
  const char* saved = std::getenv("KHZ_TRANSPORT");
  std::string restore = saved != nullptr ? saved : "";
  for (const auto& name : khz::test::transports()) {
    ::setenv("KHZ_TRANSPORT", name.c_str(), 1);
    REQUIRE(khz::transport::make_transporter("", {.address = "127.0.0.1:0", .loops = 1})->name() == name);
  }
  ::setenv("KHZ_TRANSPORT", "carrier-pigeon", 1);
  REQUIRE_THROWS_AS(khz::transport::make_transporter("", {}), std::invalid_argument);
  ::unsetenv("KHZ_TRANSPORT");
  REQUIRE(khz::transport::make_transporter("", {.address = "127.0.0.1:0", .loops = 1})->name() ==
          khz::transport::transporter_names().front());
  if (saved != nullptr) ::setenv("KHZ_TRANSPORT", restore.c_str(), 1);
}

namespace {

std::atomic<int> parked_calls{0};

// Echoes what is buffered, then parks: the transporter calls it again on the next bytes.
khz::Task<> echo_parking(khz::transport::Connection& conn) {
  ++parked_calls;
  if (!conn.input().empty()) {
    move_input_to_output(conn);
    if (auto ec = co_await conn.flush()) co_return;
  }
  conn.set_read_timeout(400ms);
  conn.park();
}

}  // namespace

TEST_CASE("transport: a parked connection is served again on input, and closed by its timeout, its peer or shutdown") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      parked_calls = 0;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&echo_parking);
      REQUIRE(port.ok());
      {
        RawClient c(*port);
        for (int i = 0; i < 3; ++i) {
          std::string msg = "ping" + std::to_string(i);
          c.send(msg);
          std::string got;
          while (got.size() < msg.size()) {
            char buf[64];
            ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
            REQUIRE(n > 0);
            got.append(buf, static_cast<std::size_t>(n));
          }
          REQUIRE(got == msg);
          std::this_thread::sleep_for(50ms);  // parked again in between
        }
        REQUIRE(parked_calls >= 4);  // the first call (no bytes yet), then once per message at least
        REQUIRE(t->active_connections() == 1);
        // The read timeout set before parking ends the wait: the connection closes.
        REQUIRE(c.closed_by_peer(3s));
      }
      std::this_thread::sleep_for(50ms);
      REQUIRE(t->active_connections() == 0);
      {
        RawClient c(*port);
        while (t->active_connections() == 0) std::this_thread::sleep_for(1ms);
        c.shutdown_write();  // the peer closes while the connection is parked
        REQUIRE(c.closed_by_peer(1s));
        std::this_thread::sleep_for(50ms);
        REQUIRE(t->active_connections() == 0);
      }
      RawClient idle(*port);
      while (t->active_connections() == 0) std::this_thread::sleep_for(1ms);
      auto t0 = std::chrono::steady_clock::now();
      t->shutdown(10s);
      REQUIRE(std::chrono::steady_clock::now() - t0 < 5s);  // a parked connection is idle: closed at once
      REQUIRE(idle.closed_by_peer(1s));
      REQUIRE(t->active_connections() == 0);
    }
  }
}

namespace {
std::atomic<int> filter_calls{0};
std::atomic<bool> filter_says_yes{true};
std::atomic<bool> filter_throws{false};
std::atomic<bool> filter_before_handler{true};
bool count_and_decide(khz::transport::Connection& conn) {
  ++filter_calls;
  if (parked_calls != 0) filter_before_handler = false;
  if (!conn.input().empty()) filter_before_handler = false;  // nothing may have been read
  if (filter_throws) throw std::runtime_error("filter failed");
  return filter_says_yes;
}
}  // namespace

TEST_CASE("transport: the accept filter is asked once per connection, before its handler; no closes it unread") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      parked_calls = 0;
      filter_calls = 0;
      filter_says_yes = true;
      filter_throws = false;
      filter_before_handler = true;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&echo_parking, &count_and_decide);
      REQUIRE(port.ok());
      {
        RawClient c(*port);
        for (int i = 0; i < 3; ++i) {  // the handler runs again after each park; the filter does not
          c.send("ping");
          std::string got;
          while (got.size() < 4) {
            char buf[16];
            ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
            REQUIRE(n > 0);
            got.append(buf, static_cast<std::size_t>(n));
          }
          REQUIRE(got == "ping");
          std::this_thread::sleep_for(20ms);
        }
      }
      REQUIRE(parked_calls >= 4);
      REQUIRE(filter_calls == 1);
      REQUIRE(filter_before_handler);
      for (bool throws : {false, true}) {
        filter_says_yes = false;
        filter_throws = throws;
        const int handler_runs = parked_calls;
        RawClient refused(*port);
        refused.send("never echoed");
        REQUIRE(refused.read_until_close().empty());
        REQUIRE(parked_calls == handler_runs);
      }
      REQUIRE(filter_calls == 3);
      REQUIRE(khz::test::eventually([&] { return t->active_connections() == 0; }));
      t->shutdown(1s);
    }
  }
}

namespace {

std::atomic<int> hangups{0};
std::atomic<bool> hangup_armed{false};
std::atomic<bool> unwatch_at_once{false};
std::atomic<bool> release_busy{false};

void count_hangup(void*) { ++hangups; }

// A busy handler (not reading) that watches for its peer hanging up meanwhile.
khz::Task<> watch_while_busy(khz::transport::Connection& conn) {
  conn.watch_hangup(&count_hangup, nullptr);
  if (unwatch_at_once) conn.unwatch_hangup();
  hangup_armed = true;
  for (int i = 0; i < 150 && !release_busy; ++i) co_await khz::sleep_for(10ms);
  conn.unwatch_hangup();
}

}  // namespace

TEST_CASE("transport: a hang-up watch reports the peer leaving while the handler is busy, once, without spinning") {
  for (const auto& name : khz::test::transports()) {
    auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
    auto port = t->start(&watch_while_busy);
    REQUIRE(port.ok());
    auto start = [&] {
      hangups = 0;
      hangup_armed = false;
      release_busy = false;
    };
    auto wait_armed = [&] {
      for (int i = 0; i < 300 && !hangup_armed; ++i) std::this_thread::sleep_for(5ms);
      REQUIRE(hangup_armed);
      std::this_thread::sleep_for(20ms);
    };
    auto hangups_within = [&](std::chrono::milliseconds wait) {
      for (auto end = std::chrono::steady_clock::now() + wait; std::chrono::steady_clock::now() < end && hangups == 0;) {
        std::this_thread::sleep_for(5ms);
      }
      return hangups.load();
    };
    DYNAMIC_SECTION("transport " << name << ": close") {
      start();
      { RawClient c(*port); wait_armed(); }
      REQUIRE(hangups_within(700ms) == 1);
      double cpu0 = cpu_seconds();
      std::this_thread::sleep_for(300ms);  // the handler still sleeps on the dead socket
      REQUIRE(cpu_seconds() - cpu0 < 0.15);
      REQUIRE(hangups == 1);
    }
    DYNAMIC_SECTION("transport " << name << ": half-close counts as gone") {
      start();
      RawClient c(*port);
      wait_armed();
      c.shutdown_write();
      REQUIRE(hangups_within(700ms) == 1);
    }
    DYNAMIC_SECTION("transport " << name << ": reset") {
      start();
      {
        RawClient c(*port);
        wait_armed();
        linger hard{1, 0};
        REQUIRE(::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
      }
      REQUIRE(hangups_within(700ms) == 1);
    }
    DYNAMIC_SECTION("transport " << name << ": a live peer is not reported; unwatch silences it") {
      start();
      {
        RawClient c(*port);
        wait_armed();
        REQUIRE(hangups_within(300ms) == 0);  // connected and quiet
      }
      REQUIRE(hangups_within(700ms) == 1);  // and gone
      // Without the watch (unwatched at once), a close is nobody's business.
      unwatch_at_once = true;
      start();
      { RawClient c(*port); wait_armed(); }
      REQUIRE(hangups_within(400ms) == 0);
      unwatch_at_once = false;
    }
    DYNAMIC_SECTION("transport " << name << ": request bytes while watched") {
      start();
      {
        RawClient c(*port);
        wait_armed();
        c.send("GET /next HTTP/1.1\r\n\r\n");  // pipelined: the peer is still there
        REQUIRE(hangups_within(300ms) == 0);
      }
      // netpoll and uring (whose receive buffers the bytes) still see the FIN behind the unread
      // bytes; asio ended its watch at the bytes.
      REQUIRE(hangups_within(700ms) == (name == "asio" ? 0 : 1));
    }
    release_busy = true;
    t->shutdown(1s);
  }
}

// ---- netpoll's timer heap (private to the backend): lazy disarm and re-arm.
#include "netpoll/event_loop.h"

TEST_CASE("netpoll timers: a re-armed deadline fires at its new due, a disarmed one never, others in order") {
  using khz::transport::DeadlineTimer;
  using khz::transport::TimerHeap;
  using Clock = DeadlineTimer::Clock;
  std::vector<int> fired;
  struct Tag {
    std::vector<int>* fired;
    int id;
  };
  auto record = [](void* t) { static_cast<Tag*>(t)->fired->push_back(static_cast<Tag*>(t)->id); };
  Tag ta{&fired, 1}, tb{&fired, 2}, tc{&fired, 3};
  DeadlineTimer a(record, &ta), b(record, &tb), c(record, &tc);
  TimerHeap heap;
  const Clock::time_point t0{};
  auto at = [&](int ms) { return t0 + std::chrono::milliseconds(ms); };

  heap.arm(a, at(100));
  heap.arm(b, at(200));
  heap.arm(c, at(300));
  heap.disarm(a);          // stays in the heap, unarmed
  REQUIRE_FALSE(a.armed());
  heap.arm(a, at(250));    // later than its place: recorded, not moved
  REQUIRE(a.armed());
  heap.disarm(b);
  heap.fire_due(at(150));  // a's old place comes up early: it moves on
  REQUIRE(fired.empty());
  heap.fire_due(at(260));  // b was disarmed; a fires at its new due
  REQUIRE(fired == std::vector<int>{1});
  REQUIRE_FALSE(a.armed());
  heap.arm(b, at(270));    // back after being disarmed and dropped
  heap.arm(c, at(280));    // earlier than its place (300): it moves up
  heap.fire_due(at(275));
  REQUIRE(fired == std::vector<int>{1, 2});
  heap.fire_due(at(290));
  REQUIRE(fired == std::vector<int>{1, 2, 3});
  REQUIRE(heap.empty());
  heap.arm(a, at(400));
  heap.disarm(a);
  heap.cancel(a);          // out of the heap for good (as before destroying it)
  REQUIRE(heap.empty());
}

namespace {

std::atomic<std::thread::id> echo_thread{};

// Echoes one exchange at a time, noting which thread served it.
khz::Task<> echo_noting_thread(khz::transport::Connection& conn) {
  for (;;) {
    // Named results, not `if (co_await ...)`: GCC 12 emits a trap for that form here.
    std::error_code read = co_await conn.fill(1);
    if (read) co_return;
    echo_thread = std::this_thread::get_id();
    move_input_to_output(conn);
    std::error_code written = co_await conn.flush();
    if (written) co_return;
  }
}

std::string echo_once(std::uint16_t port, const std::string& text) {
  RawClient c(port);
  c.send(text);
  c.shutdown_write();
  return c.read_until_close();
}

}  // namespace

namespace {
using khz::test::thread_count;

// Lends this thread to `t` until a peer thread has had `text` echoed on `port`; returns the echo.
std::string echo_while_lent(khz::transport::Transporter& t, std::uint16_t port, int stop_fd, const std::string& text) {
  std::string echoed;
  ssize_t written = 0;
  std::thread peer([&] {
    echoed = echo_once(port, text);
    std::uint64_t one = 1;
    written = ::write(stop_fd, &one, sizeof one);  // releases run_until_readable
  });
  t.run_until_readable(stop_fd);
  peer.join();
  REQUIRE(written == sizeof(std::uint64_t));
  return echoed;
}
}  // namespace

TEST_CASE("netpoll: with first_loop_on_caller, start creates no thread and run_until_readable runs the loop") {
  auto t = khz::transport::make_transporter("netpoll", {.address = "127.0.0.1:0", .loops = 1});
  t->first_loop_on_caller();
  const int before = thread_count();
  REQUIRE(before > 0);
  auto port = t->start(&echo_noting_thread);
  REQUIRE(port.ok());
  REQUIRE(thread_count() == before);  // no loop thread: the caller will run the loop

  int stop_fd = ::eventfd(0, EFD_CLOEXEC);
  REQUIRE(stop_fd >= 0);
  const auto caller = std::this_thread::get_id();
  echo_thread = std::thread::id{};
  // The peer may connect before the loop runs: it waits in the backlog until then.
  REQUIRE(echo_while_lent(*t, *port, stop_fd, "queued") == "queued");
  REQUIRE(echo_thread.load() == caller);
  // Released: the loop has a thread of its own now and goes on serving.
  REQUIRE(echo_once(*port, "after") == "after");
  REQUIRE(echo_thread.load() != caller);
  t->shutdown(200ms);
  REQUIRE(t->active_connections() == 0);
  ::close(stop_fd);

  // Asked for, but the caller never runs the loop: shutdown still serves out and closes what
  // came in meanwhile, instead of waiting forever on a loop nobody runs.
  auto unrun = khz::transport::make_transporter("netpoll", {.address = "127.0.0.1:0", .loops = 1});
  unrun->first_loop_on_caller();
  auto unrun_port = unrun->start(&echo_noting_thread);
  REQUIRE(unrun_port.ok());
  RawClient waiting(*unrun_port);
  waiting.send("late");
  const auto began = std::chrono::steady_clock::now();
  unrun->shutdown(200ms);
  REQUIRE(std::chrono::steady_clock::now() - began < 3s);
  REQUIRE(waiting.closed_by_peer(3s));
  REQUIRE(unrun->active_connections() == 0);
}

TEST_CASE("transport: run_until_readable lends the calling thread to the loops until its fd is readable") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&echo_noting_thread);
      REQUIRE(port.ok());
      int stop_fd = ::eventfd(0, EFD_CLOEXEC);
      REQUIRE(stop_fd >= 0);
      const auto caller = std::this_thread::get_id();

      // Served while the caller is inside; then the fd releases it.
      REQUIRE(echo_while_lent(*t, *port, stop_fd, "while lent") == "while lent");
      // netpoll and uring ran their loop on this very thread (with one loop: the process's only
      // server thread).
      if (name != "asio") REQUIRE(echo_thread.load() == caller);

      // After it returns the loops serve on their own threads again.
      REQUIRE(echo_once(*port, "after") == "after");
      REQUIRE(echo_thread.load() != caller);

      // Lent again (netpoll takes the loop back over from its thread), then released by a
      // shutdown from another thread, with a connection open.
      std::uint64_t drained = 0;
      REQUIRE(::read(stop_fd, &drained, sizeof drained) == sizeof drained);
      echo_thread = std::thread::id{};
      RawClient open(*port);
      std::thread stopper([&] {
        std::this_thread::sleep_for(50ms);
        open.send("open");  // served by whichever thread runs the loop now
        for (int i = 0; i < 300 && echo_thread.load() == std::thread::id{}; ++i) std::this_thread::sleep_for(10ms);
        t->shutdown(200ms);  // the open connection is busy (not idle): closed at the deadline
      });
      t->run_until_readable(stop_fd);
      stopper.join();
      REQUIRE(echo_thread.load() != std::thread::id{});
      if (name != "asio") REQUIRE(echo_thread.load() == caller);
      REQUIRE(open.closed_by_peer(3s));
      REQUIRE(t->active_connections() == 0);
      ::close(stop_fd);
    }
  }
}

// Out of descriptors (EMFILE), a listener rests between tries instead of spinning a core, and
// says so once per episode: one warning when accepts start failing, one line when they work
// again, however many failed in between. The pending connection is served once descriptors
// free up.
TEST_CASE("transport: out of descriptors, accepting pauses and logs once per episode") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      khz::log::set_level(khz::log::Level::info);
      // The log goes to a file meanwhile (stderr is fd 2).
      char log_path[] = "/tmp/khz-emfile-log-XXXXXX";
      int log_fd = ::mkstemp(log_path);
      REQUIRE(log_fd >= 0);
      int saved_stderr = ::dup(2);
      REQUIRE(::dup2(log_fd, 2) == 2);

      rlimit original{};
      REQUIRE(::getrlimit(RLIMIT_NOFILE, &original) == 0);
      int probe = ::dup(0);
      rlimit low = original;
      low.rlim_cur = static_cast<rlim_t>(probe) + 64;
      ::close(probe);
      REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
      // Started under the low limit: io_uring takes RLIMIT_NOFILE when an accept is submitted,
      // so uring's accept, submitted before a lower limit, could still get a descriptor.
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&echo);
      REQUIRE(port.ok());
      std::vector<int> fillers;
      for (int fd; (fd = ::dup(0)) >= 0;) fillers.push_back(fd);
      REQUIRE(errno == EMFILE);
      ::close(fillers.back());  // room for the client's socket, none for the server's accept
      fillers.pop_back();
      int client = khz::test::connect_loopback(*port);
      REQUIRE(client >= 0);

      std::this_thread::sleep_for(100ms);
      double cpu0 = cpu_seconds();
      std::this_thread::sleep_for(500ms);  // accept fails with EMFILE all along
      double cpu = cpu_seconds() - cpu0;

      for (int fd : fillers) ::close(fd);
      REQUIRE(::setrlimit(RLIMIT_NOFILE, &original) == 0);
      // Served once descriptors are back: an echo on the pending connection.
      REQUIRE(::send(client, "x", 1, MSG_NOSIGNAL) == 1);
      pollfd pfd{client, POLLIN, 0};
      REQUIRE(::poll(&pfd, 1, 3000) == 1);
      char c = 0;
      REQUIRE(::recv(client, &c, 1, 0) == 1);
      REQUIRE(c == 'x');
      ::close(client);
      t->shutdown(1s);

      ::dup2(saved_stderr, 2);
      ::close(saved_stderr);
      std::string log;
      char buf[4096];
      ::lseek(log_fd, 0, SEEK_SET);
      for (ssize_t n; (n = ::read(log_fd, buf, sizeof buf)) > 0;) log.append(buf, static_cast<std::size_t>(n));
      ::close(log_fd);
      ::unlink(log_path);
      CAPTURE(log, cpu);
      auto count = [&](std::string_view what) {
        std::size_t n = 0;
        for (std::size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
        return n;
      };
      REQUIRE(count("accept failed") == 1);
      REQUIRE(count("accepting again after") == 1);
      REQUIRE(cpu < 0.2);  // a spinning accept loop burns the whole 0.5 s
    }
  }
}
