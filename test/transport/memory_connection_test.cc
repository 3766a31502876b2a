// SPDX-License-Identifier: Apache-2.0
// The in-memory connection pair (test/support/memory_connection.h): the Connection contract
// without sockets, and the HTTP/1.1 server served over it.
#include <khz/common/event_loop.h>
#include <khz/protocol/http1.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include "support/memory_connection.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

using namespace std::chrono_literals;
using khz::test::FailCounter;
using khz::test::ManualLoop;
using khz::test::MemoryConnection;
using khz::test::MemoryPair;
using khz::transport::Connection;

namespace {

// Echoes what it reads until the peer closes (or an error); then closes its end.
khz::Task<void> echo(Connection& conn) {
  while (!co_await conn.fill(1)) {
    conn.input().for_each_segment([&](std::string_view s) { conn.output().append(s); });
    conn.input().skip(conn.input().size());
    conn.input().release();
    if (co_await conn.flush()) break;
  }
  conn.close();
}

// Reads until `n` bytes are in; returns them (or the error's message).
khz::Task<std::string> read_exactly(Connection& conn, std::size_t n) {
  if (auto ec = co_await conn.fill(n)) co_return "error: " + ec.message();
  std::string bytes(conn.input().peek(n));
  conn.input().skip(n);
  conn.input().release();
  co_return bytes;
}

khz::Task<std::error_code> fill(Connection& conn, std::size_t n) { co_return co_await conn.fill(n); }
khz::Task<std::error_code> flush(Connection& conn) { co_return co_await conn.flush(); }

// Sends "ping pong" and reads what comes back.
khz::Task<std::string> round_trip(Connection& conn) {
  if (auto ec = co_await khz::test::write_all(conn, "ping pong")) co_return "error: " + ec.message();
  co_return co_await read_exactly(conn, 9);
}

// Starts `task`, which ends with its result in `out`; the loop then runs it.
template <class T>
khz::Task<void> into(khz::Task<T> task, std::optional<T>& out) {
  out.emplace(co_await std::move(task));
}

}  // namespace

TEST_CASE("memory connection: what one end flushes the other fills, both ways") {
  ManualLoop loop;
  MemoryPair pair(loop);
  khz::spawn(echo(pair.server));
  std::error_code written = loop.run(khz::test::write_all(pair.client, "hello, "));
  REQUIRE(!written);
  REQUIRE(loop.run(read_exactly(pair.client, 7)) == "hello, ");
  written = loop.run(khz::test::write_all(pair.client, "world"));
  REQUIRE(!written);
  REQUIRE(loop.run(read_exactly(pair.client, 5)) == "world");
  REQUIRE(pair.client.peer_address() == pair.server.local_address());
  REQUIRE(pair.server.peer_address() == "127.0.0.1:50000");
  REQUIRE(pair.client.peer_address() == "127.0.0.1:8080");
  pair.client.close();  // the echo sees eof and closes its end
  loop.poll();
  REQUIRE(pair.server.is_closed());
}

TEST_CASE("memory connection: completions come on a later turn, never inline") {
  ManualLoop loop;
  MemoryPair pair(loop);
  std::optional<std::error_code> filled;
  khz::spawn(into(fill(pair.server, 3), filled));
  pair.client.output().append("abc");
  std::optional<std::error_code> flushed;
  khz::spawn(into(flush(pair.client), flushed));
  REQUIRE(flushed.has_value());  // the wire took it whole: no suspension (immediate_flush)
  REQUIRE(!filled.has_value());  // the waiting fill has the bytes but resumes on a later turn
  REQUIRE(pair.server.input().size() == 3);
  loop.poll();
  REQUIRE(filled == std::error_code{});
}

TEST_CASE("memory connection: eof after the bytes sent before close; cancelled after a local close") {
  ManualLoop loop;
  MemoryPair pair(loop);
  REQUIRE(!loop.run(khz::test::write_all(pair.client, "last words")));
  pair.client.close();
  REQUIRE(loop.run(khz::test::read_to_eof(pair.server)) == "last words");
  REQUIRE(loop.run(fill(pair.server, 1)) == khz::transport::errc::eof);
  // The closed end: its own operations are cancelled, the peer's flush has nowhere to go.
  REQUIRE(loop.run(fill(pair.client, 1)) == khz::transport::errc::cancelled);
  REQUIRE(loop.run(khz::test::write_all(pair.server, "x")) == std::errc::broken_pipe);
}

TEST_CASE("memory connection: a close wakes the peer's waiting fill with eof and its own with cancelled") {
  ManualLoop loop;
  MemoryPair pair(loop);
  std::optional<std::error_code> server_fill, client_fill;
  khz::spawn(into(fill(pair.server, 1), server_fill));
  khz::spawn(into(fill(pair.client, 1), client_fill));
  loop.poll();
  REQUIRE(!server_fill);
  pair.client.close();
  REQUIRE(!server_fill);  // later, not inline
  loop.poll();
  REQUIRE(server_fill == khz::transport::errc::eof);
  REQUIRE(client_fill == khz::transport::errc::cancelled);
}

TEST_CASE("memory connection: back-pressure: a flush waits until the other side reads") {
  ManualLoop loop;
  MemoryPair pair(loop, {.capacity = 4});
  pair.client.output().append("0123456789");
  std::optional<std::error_code> flushed;
  khz::spawn(into(flush(pair.client), flushed));
  loop.poll();
  REQUIRE(!flushed);  // four bytes on the wire, six still in the output
  REQUIRE(pair.server.incoming() == 4);
  REQUIRE(pair.client.output().size() == 6);
  // Reading takes the wire, the waiting flush refills it at once, until everything is across.
  REQUIRE(loop.run(read_exactly(pair.server, 10)) == "0123456789");
  REQUIRE(flushed == std::error_code{});
  REQUIRE(pair.client.output().empty());
}

TEST_CASE("memory connection: read and write timeouts") {
  ManualLoop loop;
  MemoryPair pair(loop, {.capacity = 1});
  pair.server.set_read_timeout(20ms);
  auto start = std::chrono::steady_clock::now();
  REQUIRE(loop.run(fill(pair.server, 1)) == khz::transport::errc::timed_out);
  REQUIRE(std::chrono::steady_clock::now() - start >= 20ms);
  pair.client.set_write_timeout(20ms);
  REQUIRE(loop.run(khz::test::write_all(pair.client, "ab")) == khz::transport::errc::timed_out);
  // What the wire took before the timeout arrives; a fill that completes in time cancels its
  // timer (else the loop would wait for it).
  pair.server.set_read_timeout(1h);
  REQUIRE(loop.run(read_exactly(pair.server, 1)) == "a");
  REQUIRE(loop.poll() == 0);
}

TEST_CASE("memory connection: a fault counter fails the Nth fill and flush with the given error") {
  const auto reset = std::make_error_code(std::errc::connection_reset);
  // The echo round trip takes fills and flushes on both ends; sweep N until none fails.
  for (std::size_t n = 1;; ++n) {
    INFO("failing fill/flush #" << n);
    ManualLoop loop;
    MemoryPair pair(loop, {.capacity = 3});
    FailCounter fills(n), flushes(n);
    pair.server.fail_fills(fills, reset);
    pair.server.fail_flushes(flushes, reset);
    khz::spawn(echo(pair.server));
    std::string answer = loop.run(round_trip(pair.client));
    pair.client.close();
    loop.poll();
    REQUIRE(pair.server.is_closed());  // the echo ended either way
    const bool fired = fills.calls() >= n || flushes.calls() >= n;
    if (answer != "ping pong") REQUIRE(fired);  // only an injected failure stops the echo early
    if (!fired) {
      REQUIRE(n > 2);  // the sweep went through a few fills and flushes
      break;
    }
  }
}

TEST_CASE("memory connection: a hang-up watch fires when the peer closes") {
  ManualLoop loop;
  MemoryPair pair(loop);
  int hangups = 0;
  pair.server.watch_hangup([](void* n) { ++*static_cast<int*>(n); }, &hangups);
  loop.poll();
  REQUIRE(hangups == 0);
  pair.client.close();
  REQUIRE(hangups == 1);
  pair.server.watch_hangup([](void* n) { ++*static_cast<int*>(n); }, &hangups);  // known gone: at once
  REQUIRE(hangups == 2);
}

// ---- HTTP/1.1 over the pair

namespace {

// Answers every request with its method, target and body.
class EchoCore final : public khz::ServerCore {
 public:
  khz::Task<void> serve(khz::Exchange& ex) override {
    std::string text = std::string(ex.request.method()) + " " + std::string(ex.request.target()) + " [" +
                       std::string(ex.request.body()) + "]";
    ex.response.set_status(200);
    ex.response.set_body(text, "text/plain");
    co_return;
  }
};

// The response bytes with the Date header's value blanked (it changes every second).
std::string without_date(std::string response) {
  for (std::size_t at = 0; (at = response.find("\r\nDate: ", at)) != std::string::npos;) {
    std::size_t end = response.find("\r\n", at + 2);
    response.replace(at + 8, end - at - 8, "-");
    at = end;
  }
  return response;
}

// A POST with a body and a pipelined GET that closes, and the answers.
const std::string kRequests =
    "POST /items?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    "GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
const std::string kResponses =
    "HTTP/1.1 200 OK\r\nServer: khz\r\nDate: -\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\n"
    "POST /items?x=1 [hello]"
    "HTTP/1.1 200 OK\r\nServer: khz\r\nDate: -\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
    "Connection: close\r\n\r\nGET /last []";

// Serves HTTP/1.1 on pair.server; the client sends kRequests in two writes, the first
// `split` bytes long, reading all the while. Returns what the client read until the server
// closed (every flush of a small wire waits for the other side: back-pressure throughout).
std::string http1_exchange(ManualLoop& loop, MemoryPair& pair, std::size_t split) {
  static EchoCore core;
  static const auto options = std::make_shared<const khz::Http1Options>();
  khz::spawn(khz::test::serve_connection(pair.server, [](Connection& c) { return khz::serve_http1(c, core, options); }));
  // The client reads while it writes: with pipelining and a small wire, a client that wrote
  // everything before reading would wait for a server waiting for it (as over TCP).
  std::optional<std::string> response;
  khz::spawn(into(khz::test::read_to_eof(pair.client), response));
  std::error_code ec = loop.run(khz::test::write_all(pair.client, kRequests.substr(0, split)));
  loop.poll();  // the server reads (and answers) what it has
  if (!ec) ec = loop.run(khz::test::write_all(pair.client, kRequests.substr(split)));
  loop.run_until([&] { return response.has_value(); });
  REQUIRE(pair.server.is_closed());
  return ec ? "flush: " + ec.message() : *response;
}

}  // namespace

TEST_CASE("memory connection: serve_http1 answers requests split at every byte boundary") {
  for (bool immediate_flush : {true, false}) {
    for (std::size_t split = 0; split <= kRequests.size(); ++split) {
      INFO("split at " << split << (immediate_flush ? "" : ", every flush completing later"));
      ManualLoop loop;
      MemoryPair pair(loop, {.capacity = 16, .immediate_flush = immediate_flush});
      REQUIRE(without_date(http1_exchange(loop, pair, split)) == kResponses);
    }
  }
}

TEST_CASE("memory connection: serve_http1 ends cleanly whichever read or write of the server fails") {
  const auto reset = std::make_error_code(std::errc::connection_reset);
  for (bool on_fill : {true, false}) {
    for (std::size_t n = 1;; ++n) {
      INFO((on_fill ? "fill #" : "flush #") << n << " fails");
      ManualLoop loop;
      MemoryPair pair(loop, {.capacity = 16});
      FailCounter counter(n);
      if (on_fill) pair.server.fail_fills(counter, reset); else pair.server.fail_flushes(counter, reset);
      std::string response = http1_exchange(loop, pair, 30);  // the server closed: no hang
      if (counter.calls() < n) {
        REQUIRE(without_date(response) == kResponses);
        REQUIRE(n > 1);  // at least one failure point was visited
        break;
      }
      REQUIRE(response.size() < kResponses.size());  // cut short, never more
    }
  }
}

