// SPDX-License-Identifier: Apache-2.0
// TlsConnection on every transport: the client role (verification by CA, hostname and IP;
// insecure_skip_verify; ALPN; client certificates), full-duplex traffic with a fill and a flush
// outstanding together on both ends, read timeouts and close_notify through TLS.
#include <khz/common/event_loop.h>
#include <khz/transport/error.h>
#include <khz/transport/tls.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using khz::test::eventually;
using khz::test::SocketConnection;
using khz::test::TestPki;
using khz::transport::ClientCertMode;
using khz::transport::Connection;
using khz::transport::TlsConnection;
using khz::transport::errc;

namespace {

using ServerCtx = std::shared_ptr<const khz::transport::TlsServerContext>;
using ClientCtx = std::shared_ptr<const khz::transport::TlsClientContext>;

ServerCtx server_context(ClientCertMode client_cert = ClientCertMode::none) {
  const auto& pki = TestPki::get();
  return khz::transport::make_tls_server_context({
      .certificates = {{pki.alpha_cert, pki.alpha_key}, {pki.beta_cert, pki.beta_key}},
      .alpn = {"h2", "http/1.1"},
      .client_ca_file = client_cert == ClientCertMode::none ? "" : pki.ca_cert,
      .client_cert = client_cert,
  });
}

std::atomic<int> server_result{0};
std::string server_alpn;  // written before server_result is set
std::string server_peer_subject;

// Server: handshake, then echo lines until the peer closes; records what it saw.
khz::Task<> tls_echo(Connection& plain, ServerCtx ctx) {
  TlsConnection conn(plain, std::move(ctx));
  conn.set_read_timeout(300ms);
  if (auto ec = co_await conn.handshake()) {
    server_result = 10;
    co_return;
  }
  server_alpn = std::string(conn.alpn());
  server_peer_subject = conn.peer_certificate_subject();
  for (;;) {
    if (auto ec = co_await conn.fill(1)) {
      server_result = ec == errc::eof ? 1 : ec == errc::timed_out ? 2 : 3;
      break;
    }
    conn.input().for_each_segment([&](std::string_view s) { conn.output().append(s); });
    conn.input().skip(conn.input().size());
    conn.input().release();
    if (auto ec = co_await conn.flush()) {
      server_result = 4;
      break;
    }
  }
  co_await conn.shutdown();
}

struct ClientOutcome {
  std::error_code handshake;
  std::string alpn;
  std::string echoed;
  std::string version;
  std::string verify;  // verify_error()
};

// Client: handshake, then (when it succeeded) send "ping" and read it back, then close_notify.
// `owning`: the TlsConnection owns the socket connection (the unique_ptr constructor).
khz::Task<ClientOutcome> client_session(std::uint16_t port, ClientCtx ctx, std::string name, bool owning) {
  std::unique_ptr<SocketConnection> sock = std::make_unique<SocketConnection>(port);
  std::unique_ptr<TlsConnection> owned;
  std::optional<TlsConnection> borrowing;
  if (owning) {
    owned = std::make_unique<TlsConnection>(std::move(sock), std::move(ctx), name);
  } else {
    borrowing.emplace(*sock, std::move(ctx), name);
  }
  TlsConnection& conn = owning ? *owned : *borrowing;
  conn.set_read_timeout(3s);
  ClientOutcome out;
  out.handshake = co_await conn.handshake();
  out.verify = std::string(conn.verify_error());
  if (!out.handshake) {
    out.alpn = std::string(conn.alpn());
    out.version = std::string(conn.version());
    conn.output().append("ping");
    if (!co_await conn.flush() && !co_await conn.fill(4)) out.echoed = std::string(conn.input().peek(4));
    co_await conn.shutdown();
  }
  co_return out;
}

ClientOutcome connect(std::uint16_t port, khz::transport::TlsClientOptions options, std::string name,
                      bool owning = false) {
  return khz::run_blocking(client_session(port, khz::transport::make_tls_client_context(std::move(options)),
                                          std::move(name), owning));
}

}  // namespace

TEST_CASE("tls: client role verifies the server") {
  const auto& pki = TestPki::get();
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      ServerCtx ctx = server_context();
      auto port = t->start([ctx](Connection& c) { return tls_echo(c, ctx); });
      REQUIRE(port.ok());

      // A good certificate for the name, from a CA in ca_file; ALPN in the server's order.
      server_result = 0;
      auto ok = connect(*port, {.ca_file = pki.ca_cert, .alpn = {"http/1.1", "h2"}}, "alpha.test");
      REQUIRE(!ok.handshake);
      REQUIRE(ok.echoed == "ping");
      REQUIRE(ok.alpn == "h2");
      REQUIRE(eventually([] { return server_result != 0; }));
      REQUIRE(server_result == 1);  // close_notify reads as eof
      REQUIRE(server_alpn == "h2");
      REQUIRE(ok.verify.empty());
      auto owning = connect(*port, {.ca_file = pki.ca_cert}, "alpha.test", /*owning=*/true);
      REQUIRE(!owning.handshake);
      REQUIRE(owning.echoed == "ping");
      // SNI takes the client to the second certificate; TLS 1.2 works too.
      auto beta = connect(*port, {.ca_file = pki.ca_cert, .max_version = khz::transport::TlsVersion::tls1_2},
                          "beta.test");
      REQUIRE(!beta.handshake);
      REQUIRE(beta.echoed == "ping");
      REQUIRE(beta.version == "TLSv1.2");
      REQUIRE(beta.alpn.empty());
      // An IP address is checked against the certificate's IP entries.
      REQUIRE(!connect(*port, {.ca_file = pki.ca_cert}, "127.0.0.1").handshake);

      // A name the certificate does not cover.
      auto wrong = connect(*port, {.ca_file = pki.ca_cert}, "gamma.test");
      REQUIRE(wrong.handshake == errc::tls_handshake_failed);
      REQUIRE(wrong.echoed.empty());
      REQUIRE(wrong.verify == "hostname mismatch");
      // A CA the client does not trust (system store only).
      auto untrusted = connect(*port, {}, "alpha.test", /*owning=*/true);
      REQUIRE(untrusted.handshake == errc::tls_handshake_failed);
      REQUIRE(untrusted.verify == "unable to get local issuer certificate");
      REQUIRE(connect(*port, {.ca_file = pki.rogue_ca_cert, .use_system_ca = false}, "alpha.test").handshake ==
              errc::tls_handshake_failed);
      // insecure_skip_verify accepts both.
      auto insecure = connect(*port, {.insecure_skip_verify = true}, "gamma.test");
      REQUIRE(!insecure.handshake);
      REQUIRE(insecure.echoed == "ping");
      t->shutdown(1s);
    }
  }
}

TEST_CASE("tls: client certificates from the client context") {
  const auto& pki = TestPki::get();
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      ServerCtx ctx = server_context(ClientCertMode::require);
      auto port = t->start([ctx](Connection& c) { return tls_echo(c, ctx); });
      REQUIRE(port.ok());
      server_result = 0;
      auto ok = connect(*port, {.ca_file = pki.ca_cert, .client_certificate = {pki.client_cert, pki.client_key}},
                        "alpha.test");
      REQUIRE(!ok.handshake);
      REQUIRE(ok.echoed == "ping");
      REQUIRE(eventually([] { return server_result != 0; }));
      REQUIRE(server_peer_subject == "/CN=khz test client");
      // Without one: the TLS 1.3 client finishes its side, then learns of the refusal.
      server_result = 0;
      auto refused = connect(*port, {.ca_file = pki.ca_cert}, "alpha.test");
      REQUIRE(refused.echoed.empty());
      REQUIRE(eventually([] { return server_result != 0; }));
      REQUIRE(server_result == 10);
      t->shutdown(1s);
    }
  }
}

namespace {

constexpr std::size_t kDuplexBytes = 6 * 1024 * 1024;

char pattern(std::size_t i) { return static_cast<char>((i * 7 + i / 251) & 0xff); }

// Completion count for a coroutine and the one it spawned.
struct Join {
  int pending = 2;
  std::coroutine_handle<> waiter;
  void done() {
    if (--pending == 0 && waiter) std::exchange(waiter, {}).resume();
  }
  bool await_ready() const noexcept { return pending == 0; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
  void await_resume() const noexcept {}
};

khz::Task<> send_all(TlsConnection& conn, Join& join, std::error_code& result) {
  std::size_t sent = 0;
  while (sent < kDuplexBytes) {
    std::size_t n = std::min<std::size_t>(100000, kDuplexBytes - sent);
    std::string chunk(n, '\0');
    for (std::size_t i = 0; i < n; ++i) chunk[i] = pattern(sent + i);
    conn.output().append(chunk);
    sent += n;
    if ((result = co_await conn.flush())) break;
  }
  join.done();
}

// Reads kDuplexBytes and checks them; 0 when intact.
khz::Task<> receive_all(TlsConnection& conn, Join& join, std::size_t& bad) {
  std::size_t got = 0;
  bad = 0;
  while (got < kDuplexBytes) {
    if (co_await conn.fill(1)) {
      bad = kDuplexBytes - got;
      break;
    }
    conn.input().for_each_segment([&](std::string_view s) {
      for (char c : s) bad += c != pattern(got++);
    });
    conn.input().skip(conn.input().size());
    conn.input().release();
  }
  join.done();
}

// Both directions at once: if reads waited for writes (or the reverse), both peers' socket
// buffers would fill and this would stall until the timeouts.
khz::Task<std::size_t> duplex(TlsConnection& conn) {
  Join join;
  std::error_code sent;
  std::size_t bad = 0;
  khz::spawn(send_all(conn, join, sent));
  khz::spawn(receive_all(conn, join, bad));
  co_await join;
  co_return bad + (sent ? 1 : 0);
}

std::atomic<int> duplex_server_bad{-1};

khz::Task<> duplex_server(Connection& plain, ServerCtx ctx) {
  TlsConnection conn(plain, std::move(ctx));
  conn.set_read_timeout(5s);
  conn.set_write_timeout(5s);
  if (co_await conn.handshake()) co_return;
  duplex_server_bad = static_cast<int>(co_await duplex(conn));
  co_await conn.shutdown();
}

khz::Task<std::size_t> duplex_client(std::uint16_t port, ClientCtx ctx) {
  SocketConnection sock(port);
  TlsConnection conn(sock, std::move(ctx), "alpha.test");
  conn.set_read_timeout(5s);
  conn.set_write_timeout(5s);
  if (co_await conn.handshake()) co_return 1;
  std::size_t bad = co_await duplex(conn);
  co_await conn.shutdown();
  co_return bad;
}

khz::Task<std::error_code> idle_client(std::uint16_t port, ClientCtx ctx) {
  SocketConnection sock(port);
  TlsConnection conn(sock, std::move(ctx), "alpha.test");
  if (auto ec = co_await conn.handshake()) co_return ec;
  conn.set_read_timeout(3s);
  co_return co_await conn.fill(1);  // the server's read timeout closes the connection
}

}  // namespace

namespace {
// ---- a TLS flush that the inner connection takes at once
constexpr int kTlsFlushes = 3000;  // past netpoll's inline budget (1,024 flushes a turn)
std::atomic<bool> tls_timer_ran{false};
std::atomic<int> tls_first_flush_saw_timer{-1};  // 0: went on before the loop's timers ran
std::atomic<int> tls_flushes_before_timer{-1};
std::atomic<std::size_t> tls_stack_spread{0};     // how far the handler's stack moved, in bytes
std::atomic<bool> tls_flushes_done{false};

khz::Task<> note_tls_timer() {
  co_await khz::sleep_for(1ns);  // due at once: runs when the loop gets to its timers
  tls_timer_ran = true;
}

// One byte per flush to a client that reads all the while (so no flush has to wait).
khz::Task<> tls_byte_per_flush(Connection& plain, ServerCtx ctx) {
  TlsConnection conn(plain, std::move(ctx));
  conn.set_read_timeout(3s);
  conn.set_write_timeout(3s);
  if (co_await conn.handshake()) co_return;
  if (co_await conn.fill(2)) co_return;
  conn.input().skip(conn.input().size());
  conn.input().release();
  khz::spawn(note_tls_timer());
  auto lowest = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  auto highest = lowest;
  for (int i = 0; i < kTlsFlushes; ++i) {
    if (tls_timer_ran && tls_flushes_before_timer < 0) tls_flushes_before_timer = i;
    conn.output().append("b");
    if (co_await conn.flush()) co_return;
    if (i == 0) tls_first_flush_saw_timer = tls_timer_ran ? 1 : 0;
    // The machine stack this coroutine runs on now (its locals live in its frame).
    auto at = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    lowest = std::min(lowest, at);
    highest = std::max(highest, at);
  }
  tls_stack_spread = highest - lowest;
  tls_flushes_done = true;
  co_await conn.shutdown();
}

khz::Task<std::string> read_to_close_notify(std::uint16_t port, ClientCtx ctx) {
  SocketConnection sock(port);
  TlsConnection conn(sock, std::move(ctx), "alpha.test");
  conn.set_read_timeout(5s);
  std::string got;
  if (co_await conn.handshake()) co_return got;
  conn.output().append("go");
  if (co_await conn.flush()) co_return got;
  while (!co_await conn.fill(1)) {
    conn.input().for_each_segment([&](std::string_view s) { got.append(s); });
    conn.input().skip(conn.input().size());
    conn.input().release();
  }
  co_return got;
}
}  // namespace

TEST_CASE("tls: a flush the inner connection takes at once goes on inline, on the same stack") {
  const auto& pki = TestPki::get();
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      tls_timer_ran = false;
      tls_first_flush_saw_timer = -1;
      tls_flushes_before_timer = -1;
      tls_stack_spread = 0;
      tls_flushes_done = false;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      ServerCtx ctx = server_context();
      auto port = t->start([ctx](Connection& c) { return tls_byte_per_flush(c, ctx); });
      REQUIRE(port.ok());
      auto client_ctx = khz::transport::make_tls_client_context({.ca_file = pki.ca_cert});
      std::string got = khz::run_blocking(read_to_close_notify(*port, client_ctx));
      REQUIRE(got == std::string(kTlsFlushes, 'b'));
      REQUIRE(eventually([] { return tls_flushes_done.load(); }));
      // Each flush returns to the handler where it was: the handler does not run deeper and
      // deeper on the stack of the flushes before it.
      CHECK(tls_stack_spread < 16 * 1024);
      if (name == "netpoll") {
        // The first flush finished in the turn that served the input: no trip through the loop.
        REQUIRE(tls_first_flush_saw_timer == 0);
        // A writer that never waits still gives the loop back after the turn's budget.
        REQUIRE(tls_flushes_before_timer > 0);
        REQUIRE(tls_flushes_before_timer < kTlsFlushes);
      }
      t->shutdown(1s);
    }
  }
}

TEST_CASE("tls: full duplex, read timeout, close") {
  const auto& pki = TestPki::get();
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      ServerCtx ctx = server_context();
      auto port = t->start([ctx](Connection& c) { return duplex_server(c, ctx); });
      REQUIRE(port.ok());
      duplex_server_bad = -1;
      auto client_ctx = khz::transport::make_tls_client_context({.ca_file = pki.ca_cert});
      REQUIRE(khz::run_blocking(duplex_client(*port, client_ctx)) == 0);
      REQUIRE(eventually([] { return duplex_server_bad != -1; }));
      REQUIRE(duplex_server_bad == 0);
      t->shutdown(1s);

      // The read timeout bounds a fill through TLS; the server then ends with close_notify.
      auto e = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto echo_port = e->start([ctx](Connection& c) { return tls_echo(c, ctx); });
      REQUIRE(echo_port.ok());
      server_result = 0;
      auto start = std::chrono::steady_clock::now();
      auto ec = khz::run_blocking(idle_client(*echo_port, client_ctx));
      REQUIRE(ec == errc::eof);
      REQUIRE(std::chrono::steady_clock::now() - start < 2s);
      REQUIRE(server_result == 2);
      e->shutdown(1s);
    }
  }
}
