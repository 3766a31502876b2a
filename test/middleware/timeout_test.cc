// SPDX-License-Identifier: Apache-2.0
// middleware/timeout and RequestContext::next_with_deadline, with a slow upstream (a second
// khz server) on each transport, the front reached by curl over HTTP/1.1 and h2c and calling
// the upstream over HTTP/1.1 and h2c.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/middleware/timeout.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

using khz::test::run_command;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The upstream: /slow answers after 3 s unless its client goes away first.
khz::Task<> slow(khz::RequestContext& c) {
  bool gone = false;
  khz::CancelSignal::Watch w(c.cancel_signal(), [](void* flag) { *static_cast<bool*>(flag) = true; }, &gone);
  for (int i = 0; i < 60 && !gone; ++i) co_await khz::sleep_for(50ms);
  c.string(200, gone ? "abandoned" : "late");
}

struct Seen {
  std::atomic<int> cancelled{0};   // outbound calls that ended cancelled
  std::atomic<int> completed{0};   // handlers that ran to their end
};

struct Front {
  Front(const std::string& transport, const std::string& upstream_url, bool h2, Seen& seen)
      : s(transport, {.loops = 1}), client({.http2_prior_knowledge = h2}) {
    auto limited = s.server.group("/t", khz::middleware::timeout({.after = 300ms}));
    limited.get("/upstream", [this, upstream_url, &seen](khz::RequestContext& c) -> khz::Task<> {
      auto r = co_await client.get(upstream_url + "/slow");
      if (!r && r.error() == khz::client::errc::cancelled) ++seen.cancelled;
      c.string(r ? 200 : 502, r ? std::string(r->body()) : r.error().message());
      ++seen.completed;
    });
    limited.get("/busy", [&seen](khz::RequestContext& c) -> khz::Task<> {
      co_await khz::sleep_for(600ms);  // nothing watches: not interrupted
      c.string(200, "done");
      ++seen.completed;
    });
    limited.get("/fast", [](khz::RequestContext& c) { c.string(200, "fast"); });
    // The client's pooled connections live on the (one) loop: closed there before the end.
    s.server.get("/close-idle", [this](khz::RequestContext& c) {
      client.close_idle();
      c.string(200, "closed");
    });
    limited.get("/throws", [this, upstream_url, &seen](khz::RequestContext& c) -> khz::Task<> {
      auto r = co_await client.get(upstream_url + "/slow");
      ++seen.completed;
      if (!r) throw std::runtime_error("upstream: " + r.error().message());
      c.string(200, "unreachable");
    });
    limited.get("/early-throw", [](khz::RequestContext&) -> void { throw std::runtime_error("early"); });
    limited.get("/stream", [this, upstream_url, &seen](khz::RequestContext& c) -> khz::Task<> {
      c.set_status(200);
      const bool ok = co_await c.write("head;");
      auto r = co_await client.get(upstream_url + "/slow");
      if (!r && r.error() == khz::client::errc::cancelled) ++seen.cancelled;
      if (ok) co_await c.write(r ? "body" : "cut");
      ++seen.completed;
    });
    s.start();
  }
  ~Front() {
    run_command("curl -sS --max-time 10 " + s.url("/close-idle"));
    s.server.shutdown();  // before the client goes (see khz::Client)
  }

  khz::test::TestServer s;
  khz::Client client;
};

struct Answer {
  std::string output;
  double seconds;
};

Answer curl(const Front& f, const std::string& version, const std::string& path) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_command("curl -sS --max-time 10 " + version + " -w ' %{http_code}' " + f.s.url(path) + " 2>&1");
  return {r.output, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

}  // namespace

TEST_CASE("timeout: a slow upstream is cancelled and answered 504; slow work 503; fast untouched") {
  for (const auto& transport : khz::test::transports()) {
    for (const bool h2_upstream : {false, true}) {
      DYNAMIC_SECTION("transport " << transport << (h2_upstream ? ", upstream over h2c" : ", upstream over HTTP/1.1")) {
        khz::test::TestServer upstream(transport);
        upstream.server.get("/slow", slow);
        upstream.start();
        Seen seen;
        Front f(transport, upstream.url(""), h2_upstream, seen);
        khz::test::LogCapture log;
        int handlers = 0;
        for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
          CAPTURE(version);
          auto a = curl(f, version, "/t/upstream");
          CAPTURE(a.output);
          REQUIRE(a.output == "504 gateway timeout 504");
          REQUIRE(a.seconds < 2.0);  // the deadline, not the upstream's 3 s
          ++handlers;

          auto b = curl(f, version, "/t/busy");
          CAPTURE(b.output);
          REQUIRE(b.output == "503 service unavailable 503");
          REQUIRE(b.seconds >= 0.55);  // the handler was not cut off: it finished first
          ++handlers;

          REQUIRE(curl(f, version, "/t/fast").output == "fast 200");

          auto c = curl(f, version, "/t/throws");
          CAPTURE(c.output);
          REQUIRE(c.output == "504 gateway timeout 504");  // not the Engine's 500
          ++handlers;

          auto d = curl(f, version, "/t/early-throw");
          REQUIRE(contains(d.output, "500"));  // before the deadline: the Engine's boundary

          auto e = curl(f, version, "/t/stream");
          CAPTURE(e.output);
          REQUIRE(e.output == "head;cut 200");  // streaming had begun: not replaced
          ++handlers;
        }
        REQUIRE(seen.completed == handlers);
        REQUIRE(seen.cancelled == 4);  // /t/upstream and /t/stream, on both versions
        REQUIRE(contains(log.text(), "timeout: GET /t/upstream passed its 300 ms deadline; 504"));
        REQUIRE(contains(log.text(), "timeout: GET /t/busy passed its 300 ms deadline; 503"));
        REQUIRE(contains(log.text(), "timeout: GET /t/stream passed its 300 ms deadline after its response began streaming"));
      }
    }
  }
}

TEST_CASE("next_with_deadline: nested deadlines, the shorter wins; the client leaving is no timeout") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport);
      std::atomic<int> outer_expired{-1};
      s.server.get("/nested", khz::middleware::timeout({.after = 5000ms}), khz::middleware::timeout({.after = 200ms}),
                   [](khz::RequestContext& c) -> khz::Task<> {
                     bool fired = false;
                     khz::CancelSignal::Watch w(c.cancel_signal(), [](void* f) { *static_cast<bool*>(f) = true; }, &fired);
                     for (int i = 0; i < 100 && !fired; ++i) co_await khz::sleep_for(20ms);
                     c.string(200, fired ? "cancelled" : "slept");
                   });
      s.server.get("/leave", [&outer_expired](khz::RequestContext& c) -> khz::Task<> {
        auto outcome = co_await c.next_with_deadline(5s);
        outer_expired = outcome.expired ? 1 : 0;
      }, [](khz::RequestContext& c) -> khz::Task<> {
        bool fired = false;
        khz::CancelSignal::Watch w(c.cancel_signal(), [](void* f) { *static_cast<bool*>(f) = true; }, &fired);
        for (int i = 0; i < 100 && !fired; ++i) co_await khz::sleep_for(20ms);
        c.string(200, "x");
      });
      s.start();
      khz::test::LogCapture log;
      const auto t0 = std::chrono::steady_clock::now();
      auto r = run_command("curl -sS --max-time 10 -w ' %{http_code}' " + s.url("/nested"));
      REQUIRE(r.output == "504 gateway timeout 504");  // the handler's Watch waited: 504
      REQUIRE(std::chrono::steady_clock::now() - t0 < 1500ms);
      // The client gives up after 0.3 s: the handler's signal fires, and it is no timeout.
      run_command("curl -sS --max-time 0.3 " + s.url("/leave") + " 2>&1");
      for (int i = 0; i < 100 && outer_expired == -1; ++i) std::this_thread::sleep_for(20ms);
      REQUIRE(outer_expired == 0);
    }
  }
}

TEST_CASE("timeout: bad options are refused") {
  REQUIRE_THROWS_AS(khz::middleware::timeout({}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::middleware::timeout({.after = -1ms}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::middleware::timeout({.after = 1s, .status = 200}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::middleware::timeout({.after = 1s, .wait_status = 404}), std::invalid_argument);
}
