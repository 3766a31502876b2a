// SPDX-License-Identifier: Apache-2.0
// GET /plaintext performs no heap allocation per request once warm, over plain TCP and over TLS.
// This binary counts allocations per thread (support/alloc_counter.h replaces operator new; this
// file replaces OpenSSL's allocator too); a handler reads the count of the loop thread it runs
// on, so the client's own allocations (another thread) do not mix in.
// Built only without sanitizers: they replace the allocator themselves, and an ASan build
// deliberately allocates every coroutine frame.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/transport/tls.h>

#include <catch2/catch.hpp>

#include "benchmark/bind/bind_contract.h"
#include "support/alloc_counter.h"
#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <openssl/crypto.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
thread_local unsigned long long openssl_allocations = 0;

// OpenSSL allocates with malloc: count its allocations too (set before OpenSSL allocates).
void* counted_malloc(std::size_t n, const char*, int) {
  ++openssl_allocations;
  return std::malloc(n);
}
void* counted_realloc(void* p, std::size_t n, const char*, int) {
  ++openssl_allocations;
  return std::realloc(p, n);
}
void counted_free(void* p, const char*, int) { std::free(p); }
const bool openssl_counted = CRYPTO_set_mem_functions(&counted_malloc, &counted_realloc, &counted_free) == 1;

void register_routes(khz::Server& server) {
  server.get("/plaintext", [](khz::RequestContext& c) { c.data(200, "text/plain", "Hello, World!"); });
  server.get("/allocations", [](khz::RequestContext& c) {
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, khz::test::thread_allocations());
    c.data(200, "text/plain", std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
  });
  // POST /bind (the benchmark's contract) with the allocations of bind, validate and render in a
  // header: the struct's own (the tags vector; every string of the body fits std::string's
  // inline buffer) and nothing else once warm.
  server.post("/bind", [](khz::RequestContext& c) {
    khz::test::AllocationScope scope;
    auto req = c.bind_and_validate<khz_bench::BindRequest>();
    if (!req) return c.reject(req.errors());
    c.json(200, *req);
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, scope.count());
    c.set_header("X-Allocations", std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
  });
  server.get("/openssl-allocations", [](khz::RequestContext& c) {
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, openssl_allocations);
    c.data(200, "text/plain", std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
  });
}

// The server's allocation count so far, asked over `client` (GET /allocations).
unsigned long long allocations_seen(khz::test::RawClient& client) {
  client.send("GET /allocations HTTP/1.1\r\nHost: bench\r\n\r\n");
  return std::stoull(khz::test::body_of(client.read_response()));
}

// One response's body (Content-Length framed), read through `conn`; "" on error.
khz::Task<std::string> round_trip(khz::transport::Connection& conn, std::string_view request) {
  conn.output().append(request);
  if (co_await conn.flush()) co_return "";
  for (;;) {
    std::string_view all = conn.input().peek(conn.input().size());
    auto end = all.find("\r\n\r\n");
    if (end != std::string_view::npos) {
      auto cl = all.find("Content-Length: ");
      std::size_t length = std::stoul(std::string(all.substr(cl + 16, all.find("\r\n", cl) - cl - 16)));
      if (all.size() >= end + 4 + length) {
        std::string body(all.substr(end + 4, length));
        conn.input().skip(end + 4 + length);
        conn.input().release();
        co_return body;
      }
    }
    if (co_await conn.fill(conn.input().size() + 1)) co_return "";
  }
}

struct TlsCounts {
  unsigned long long before = 0;
  unsigned long long after = 0;
  unsigned long long openssl_before = 0;
  unsigned long long openssl_after = 0;
  bool ok = true;
};

khz::Task<TlsCounts> tls_requests(std::uint16_t port, std::shared_ptr<const khz::transport::TlsClientContext> ctx) {
  khz::test::SocketConnection sock(port);
  khz::transport::TlsConnection conn(sock, std::move(ctx), "alpha.test");
  TlsCounts counts;
  if (co_await conn.handshake()) {
    counts.ok = false;
    co_return counts;
  }
  const std::string plaintext = "GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n";
  const std::string probe = "GET /allocations HTTP/1.1\r\nHost: bench\r\n\r\n";
  const std::string openssl_probe = "GET /openssl-allocations HTTP/1.1\r\nHost: bench\r\n\r\n";
  for (int i = 0; i < 500; ++i) counts.ok &= co_await round_trip(conn, plaintext) == "Hello, World!";
  (void)co_await round_trip(conn, probe);
  (void)co_await round_trip(conn, openssl_probe);
  counts.before = std::stoull(co_await round_trip(conn, probe));
  counts.openssl_before = std::stoull(co_await round_trip(conn, openssl_probe));
  for (int i = 0; i < 2000; ++i) counts.ok &= co_await round_trip(conn, plaintext) == "Hello, World!";
  counts.after = std::stoull(co_await round_trip(conn, probe));
  counts.openssl_after = std::stoull(co_await round_trip(conn, openssl_probe));
  co_await conn.shutdown();
  co_return counts;
}
}  // namespace

TEST_CASE("GET /plaintext allocates nothing per request after warm-up") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 1});
      register_routes(ts.server);
      ts.start();
      khz::test::RawClient client(ts.port());
      const std::string plaintext = "GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n";
      auto read_count = [&] { return allocations_seen(client); };
      for (int i = 0; i < 500; ++i) {
        client.send(plaintext);
        REQUIRE(khz::test::status_of(client.read_response()) == 200);
      }
      read_count();
      read_count();
      unsigned long long before = read_count();
      for (int i = 0; i < 2000; ++i) {
        client.send(plaintext);
        REQUIRE(khz::test::body_of(client.read_response()) == "Hello, World!");
      }
      unsigned long long after = read_count();
      INFO("allocations on the loop thread over 2000 requests: " << after - before);
      REQUIRE(after - before == 0);
    }
  }
}

// With use_raw_path (Hertz's UnescapePathValues on), a parameter value without '%' or '+' is a
// view into the path, and one that needs unescaping is decoded into the request's arena: once
// warm, neither allocates.
TEST_CASE("GET with path params under use_raw_path allocates nothing per request after warm-up") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 1, .use_raw_path = true});
      ts.server.get("/users/:id/files/*path", [](khz::RequestContext& c) {
        char out[64];
        const std::string_view id = c.param("id");
        const std::string_view path = c.param("path");
        std::memcpy(out, id.data(), id.size());
        out[id.size()] = '|';
        std::memcpy(out + id.size() + 1, path.data(), path.size());
        c.data(200, "text/plain", std::string_view(out, id.size() + 1 + path.size()));
      });
      register_routes(ts.server);  // and /allocations
      ts.start();
      khz::test::RawClient client(ts.port());
      const std::string plain = "GET /users/42/files/a/b.txt HTTP/1.1\r\nHost: bench\r\n\r\n";
      const std::string escaped = "GET /users/ann+lee/files/a%2Fb+c.txt HTTP/1.1\r\nHost: bench\r\n\r\n";
      auto read_count = [&] { return allocations_seen(client); };
      for (int i = 0; i < 500; ++i) {
        client.send(i % 2 == 0 ? plain : escaped);
        REQUIRE(khz::test::status_of(client.read_response()) == 200);
      }
      read_count();
      read_count();
      unsigned long long before = read_count();
      for (int i = 0; i < 1000; ++i) {
        client.send(plain);
        REQUIRE(khz::test::body_of(client.read_response()) == "42|a/b.txt");
        client.send(escaped);
        REQUIRE(khz::test::body_of(client.read_response()) == "ann lee|a/b c.txt");
      }
      unsigned long long after = read_count();
      INFO("allocations on the loop thread over 2000 requests: " << after - before);
      REQUIRE(after - before == 0);
    }
  }
}

// khz allocates nothing per TLS request. OpenSSL 3.0's record layer itself mallocs small
// WPACKET sub-packet blocks (40 bytes) per record: one per SSL_read, three per SSL_write. With
// one record each way per exchange that is 4 (+1 for each probe); more would be a regression
// on our side (e.g. a response split into several records).
TEST_CASE("GET /plaintext over TLS allocates nothing per request after the handshake") {
  REQUIRE(openssl_counted);
  const auto& pki = khz::test::TestPki::get();
  auto ctx = khz::transport::make_tls_client_context({.ca_file = pki.ca_cert});
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 1, .tls_cert_file = pki.alpha_cert, .tls_key_file = pki.alpha_key});
      register_routes(ts.server);
      ts.start();
      TlsCounts counts = khz::run_blocking(tls_requests(ts.port(), ctx));
      REQUIRE(counts.ok);
      INFO("allocations on the loop thread over 2000 TLS requests: " << counts.after - counts.before);
      REQUIRE(counts.after - counts.before == 0);
      INFO("OpenSSL allocations over 2000 TLS requests: " << counts.openssl_after - counts.openssl_before);
      REQUIRE(counts.openssl_after - counts.openssl_before <= 4 * 2002);
    }
  }
}

TEST_CASE("the client's send_into allocates nothing per request after warm-up") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 1});
      ts.server.get("/plaintext", [](khz::RequestContext& c) { c.data(200, "text/plain", "Hello, World!"); });
      ts.start();
      khz::ClientOptions options;
      options.transport = transport;
      options.proxy_from_environment = false;
      khz::BlockingClient client(options);
      unsigned long long during = 0;
      int ok = 0;
      client.run([&]() -> khz::Task<void> {
        // The client's loop thread: every allocation counted here is the client's.
        khz::ClientRequest request;
        request.url = ts.url("/plaintext");
        khz::Response response;
        for (int i = 0; i < 500; ++i) (void)co_await client.client().send_into(request, response);
        khz::test::AllocationScope scope;
        for (int i = 0; i < 2000; ++i) {
          auto ec = co_await client.client().send_into(request, response);
          if (!ec && response.body() == "Hello, World!") ++ok;
        }
        during = scope.count();
      });
      REQUIRE(ok == 2000);
      INFO("allocations on the client's loop thread over 2000 requests: " << during);
      REQUIRE(during == 0);
    }
  }
}

// The same over https: one pooled TLS connection, reused; OpenSSL's own record allocations
// (see above: 4 per exchange with one record each way) are counted apart.
TEST_CASE("the client's send_into over https allocates nothing per request after warm-up") {
  REQUIRE(openssl_counted);
  const auto& pki = khz::test::TestPki::get();
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 1, .tls_cert_file = pki.alpha_cert, .tls_key_file = pki.alpha_key});
      ts.server.get("/plaintext", [](khz::RequestContext& c) { c.data(200, "text/plain", "Hello, World!"); });
      ts.start();
      khz::ClientOptions options;
      options.transport = transport;
      options.proxy_from_environment = false;
      options.tls_ca_file = pki.ca_cert;
      options.http2 = false;  // HTTP/1.1 over TLS (nghttp2 allocates per stream; see app/client/DESIGN.md)
      khz::BlockingClient client(options);
      unsigned long long during = 0;
      unsigned long long openssl_during = 0;
      int ok = 0;
      client.run([&]() -> khz::Task<void> {
        khz::ClientRequest request;
        request.url = "https://localhost:" + std::to_string(ts.port()) + "/plaintext";
        khz::Response response;
        for (int i = 0; i < 500; ++i) (void)co_await client.client().send_into(request, response);
        khz::test::AllocationScope scope;
        unsigned long long openssl_before = openssl_allocations;
        for (int i = 0; i < 2000; ++i) {
          auto ec = co_await client.client().send_into(request, response);
          if (!ec && response.body() == "Hello, World!") ++ok;
        }
        during = scope.count();
        openssl_during = openssl_allocations - openssl_before;
      });
      REQUIRE(ok == 2000);
      INFO("allocations on the client's loop thread over 2000 https requests: " << during);
      REQUIRE(during == 0);
      INFO("OpenSSL allocations over 2000 https requests: " << openssl_during);
      REQUIRE(openssl_during <= 4 * 2000);
    }
  }
}

// HTTP/2 (h2c, prior knowledge): khz's side of a pooled stream allocates nothing per request
// once warm (stream states recycled, the header list built in place). nghttp2 allocates per
// stream with malloc (its stream object, HPACK buffers), which this counter does not see; the
// connection's deadline ticker re-arms a LoopTimer every 10 ms while requests wait (one
// allocation per tick, not per request): the bound below leaves room for those ticks only.
TEST_CASE("the client's send_into over h2c allocates nothing per request after warm-up (khz's side)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 1});
      ts.server.get("/plaintext", [](khz::RequestContext& c) { c.data(200, "text/plain", "Hello, World!"); });
      ts.start();
      khz::ClientOptions options;
      options.transport = transport;
      options.proxy_from_environment = false;
      options.http2_prior_knowledge = true;
      khz::BlockingClient client(options);
      unsigned long long during = 0;
      double ms = 0;
      int ok = 0;
      client.run([&]() -> khz::Task<void> {
        khz::ClientRequest request;
        request.url = "http://127.0.0.1:" + std::to_string(ts.port()) + "/plaintext";
        khz::Response response;
        for (int i = 0; i < 500; ++i) (void)co_await client.client().send_into(request, response);
        khz::test::AllocationScope scope;
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 2000; ++i) {
          auto ec = co_await client.client().send_into(request, response);
          if (!ec && response.body() == "Hello, World!" && response.version() == khz::Version::http2) ++ok;
        }
        ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        during = scope.count();
      });
      REQUIRE(ok == 2000);
      INFO("allocations on the client's loop thread over 2000 h2c requests in " << ms << " ms: " << during);
      REQUIRE(during <= static_cast<unsigned long long>(ms / 10) + 5);
    }
  }
}

TEST_CASE("POST /bind allocates only the bound struct's own memory after warm-up") {
  khz::test::TestServer ts(khz::test::transports().front(), {.loops = 1});
  register_routes(ts.server);
  ts.start();
  khz::test::RawClient client(ts.port());
  const std::string body = R"({"name":"Ada Lovelace","age":36,"email":"ada@example.org","tags":["math","engines"],)"
                           R"("address":{"city":"London","zip":"12345"}})";
  const std::string request = "POST /bind?verbose=true HTTP/1.1\r\nHost: bench\r\nX-Request-Id: r-1\r\n"
                              "Content-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string response;
  for (int i = 0; i < 200; ++i) {
    client.send(request);
    response = client.read_response();
    REQUIRE(khz::test::status_of(response) == 200);
  }
  INFO(response);
  CHECK(khz::test::body_of(response) ==
        R"({"name":"Ada Lovelace","age":36,"email":"ada@example.org","tags":["math","engines"],)"
        R"("address":{"city":"London","zip":"12345"},"verbose":true,"request_id":"r-1"})");
  CHECK(response.find("X-Allocations: 1\r\n") != std::string::npos);  // the tags vector
}
