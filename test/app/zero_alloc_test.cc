// SPDX-License-Identifier: Apache-2.0
// GET /plaintext performs no heap allocation per request once warm. This binary replaces the
// global operator new to count allocations per thread; a handler reads the count of the loop
// thread it runs on, so the client's own allocations (another thread) do not mix in.
// Built only without sanitizers: they replace the allocator themselves, and an ASan build
// deliberately allocates every coroutine frame.
#include <khz/app/client.h>
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <charconv>
#include <cstdlib>
#include <new>
#include <string>

namespace {
thread_local unsigned long long allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

TEST_CASE("GET /plaintext allocates nothing per request after warm-up") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 1});
      ts.server.get("/plaintext", [](khz::RequestContext& c) { c.data(200, "text/plain", "Hello, World!"); });
      ts.server.get("/allocations", [](khz::RequestContext& c) {
        char digits[24];
        auto r = std::to_chars(digits, digits + sizeof digits, allocations);
        c.data(200, "text/plain", std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
      });
      ts.start();
      khz::test::RawClient client(ts.port());
      const std::string plaintext = "GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n";
      const std::string probe = "GET /allocations HTTP/1.1\r\nHost: bench\r\n\r\n";
      auto read_count = [&] {
        client.send(probe);
        return std::stoull(khz::test::body_of(client.read_response()));
      };
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
        unsigned long long before = allocations;
        for (int i = 0; i < 2000; ++i) {
          auto ec = co_await client.client().send_into(request, response);
          if (!ec && response.body() == "Hello, World!") ++ok;
        }
        during = allocations - before;
      });
      REQUIRE(ok == 2000);
      INFO("allocations on the client's loop thread over 2000 requests: " << during);
      REQUIRE(during == 0);
    }
  }
}
