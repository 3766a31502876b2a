// SPDX-License-Identifier: Apache-2.0
// co_await ctx.offload(fn) on a real server, on every transport: fn's value and exception come
// back over HTTP/1.1 and HTTP/2, the handler resumes on its own loop thread, the loop answers
// other requests while a job blocks, a full pool answers 503 at once, a queued job whose client
// hung up never runs, and no thread starts until the first offload.
#include <khz/app/client.h>
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/gate.h"

#include "support/raw_client.h"
#include "support/test_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using khz::test::RawClient;
using khz::test::TestServer;

namespace {

std::string id_of(std::thread::id id) {
  std::ostringstream out;
  out << id;
  return out.str();
}

using khz::test::Gate;

khz::ClientOptions client_options(const std::string& transport, bool h2c) {
  khz::ClientOptions o;
  o.transport = transport;
  o.proxy_from_environment = false;
  o.http2_prior_knowledge = h2c;
  return o;
}

// "/value/:n": fn returns n * 2 on a worker; the body says where each part ran.
// "/throw": fn throws; the handler lets it escape (handler_error: 500).
// "/void": fn returns nothing.
void add_value_routes(khz::Server& server) {
  server.get("/value/:n", [](khz::RequestContext& ctx) -> khz::Task<> {
    const auto loop_thread = std::this_thread::get_id();
    std::thread::id fn_thread;
    auto job = [&] {
      fn_thread = std::this_thread::get_id();
      return std::stoi(std::string(ctx.param("n"))) * 2;  // the handler lends its views
    };
    int doubled = co_await ctx.offload(job);
    const auto resumed_on = std::this_thread::get_id();
    ctx.set_header("X-Loop-Thread", id_of(loop_thread));
    ctx.set_header("X-Fn-Thread", id_of(fn_thread));
    ctx.set_header("X-Resumed-Thread", id_of(resumed_on));
    ctx.string(200, std::to_string(doubled));
  });
  server.get("/throw", [](khz::RequestContext& ctx) -> khz::Task<> {
    auto job = []() -> int { throw std::runtime_error("driver said no"); };
    int never = co_await ctx.offload(job);
    ctx.string(200, std::to_string(never));
  });
  server.get("/caught", [](khz::RequestContext& ctx) -> khz::Task<> {
    auto job = []() -> int { throw std::runtime_error("driver said no"); };
    std::string what;
    try {
      co_await ctx.offload(job);
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    ctx.string(200, what);
  });
  server.get("/void", [](khz::RequestContext& ctx) -> khz::Task<> {
    std::atomic<int> ran{0};
    auto job = [&ran] { ++ran; };
    co_await ctx.offload(job);
    ctx.string(200, "ran " + std::to_string(ran.load()));
  });
}

}  // namespace

TEST_CASE("offload: value and exception come back, on the handler's own loop thread") {
  for (const auto& transport : khz::test::transports()) {
    for (bool h2c : {false, true}) {
      DYNAMIC_SECTION("transport " << transport << (h2c ? ", HTTP/2" : ", HTTP/1.1")) {
        TestServer s(transport);
        add_value_routes(s.server);
        REQUIRE(s.server.offload_pool().threads_started() == 0);
        s.start();
        khz::BlockingClient client(client_options(transport, h2c));

        auto r = client.get(s.url("/value/21"));
        REQUIRE(r);
        REQUIRE(r->version() == (h2c ? khz::Version::http2 : khz::Version::http11));
        REQUIRE(r->status() == 200);
        REQUIRE(r->body() == "42");
        REQUIRE(r->header("X-Resumed-Thread") == r->header("X-Loop-Thread"));  // its own loop
        REQUIRE(r->header("X-Fn-Thread") != r->header("X-Loop-Thread"));      // a worker ran fn
        REQUIRE(!r->header("X-Fn-Thread").empty());

        auto thrown = client.get(s.url("/throw"));
        REQUIRE(thrown);
        REQUIRE(thrown->status() == 500);  // fn's exception, through handler_error
        auto caught = client.get(s.url("/caught"));
        REQUIRE(caught);
        REQUIRE(caught->body() == "driver said no");
        auto v = client.get(s.url("/void"));
        REQUIRE(v);
        REQUIRE(v->body() == "ran 1");
        REQUIRE(s.server.offload_pool().threads_started() >= 1);
        REQUIRE(s.server.offload_pool().threads_started() <= 4);  // the default bound
      }
    }
  }
}

TEST_CASE("offload: the loop answers other requests while a job blocks") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, {.loops = 1});  // one loop: the slow request's loop is the fast one's
      std::atomic<bool> slow_started{false};
      std::atomic<bool> slow_done{false};
      s.server.get("/slow", [&](khz::RequestContext& ctx) -> khz::Task<> {
        auto job = [&] {
          slow_started = true;
          std::this_thread::sleep_for(300ms);  // a blocking driver call
          slow_done = true;
          return std::string("slow");
        };
        std::string out = co_await ctx.offload(job);
        ctx.string(200, out);
      });
      s.server.get("/fast", [&](khz::RequestContext& ctx) {
        ctx.string(200, slow_done ? "after" : "during");
      });
      s.start();

      RawClient slow(s.port());
      slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
      REQUIRE(khz::test::eventually([&] { return slow_started.load(); }));
      RawClient fast(s.port());
      fast.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
      std::string fast_reply = fast.read_response();
      REQUIRE(khz::test::status_of(fast_reply) == 200);
      REQUIRE(khz::test::body_of(fast_reply) == "during");  // answered while the job slept
      std::string slow_reply = slow.read_response();
      REQUIRE(khz::test::status_of(slow_reply) == 200);
      REQUIRE(khz::test::body_of(slow_reply) == "slow");
    }
  }
}

TEST_CASE("offload: a full pool answers 503 at once; the running job still completes") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, {.offload = {.threads = 1, .max_queue = 1}});
      Gate gate;
      std::atomic<int> started{0};
      s.server.get("/block", [&](khz::RequestContext& ctx) -> khz::Task<> {
        auto job = [&] {
          ++started;
          gate.wait();
          return std::string("done");
        };
        std::string out = co_await ctx.offload(job);
        ctx.string(200, out);
      });
      s.start();

      RawClient running(s.port());
      running.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
      REQUIRE(khz::test::eventually([&] { return started == 1; }));
      RawClient queued(s.port());
      queued.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
      REQUIRE(khz::test::eventually([&] { return s.server.offload_pool().pending() == 2; }));

      RawClient refused(s.port());
      auto t0 = std::chrono::steady_clock::now();
      refused.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
      std::string reply = refused.read_response();
      REQUIRE(khz::test::status_of(reply) == 503);
      REQUIRE(khz::test::body_of(reply) == "503 service unavailable");
      REQUIRE(std::chrono::steady_clock::now() - t0 < 1s);  // failed fast, not queued

      gate.open();
      REQUIRE(khz::test::body_of(running.read_response()) == "done");
      REQUIRE(khz::test::body_of(queued.read_response()) == "done");
      REQUIRE(started == 2);
    }
  }
}

TEST_CASE("offload: a queued job is dropped without running when its client hangs up") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, {.offload = {.threads = 1, .max_queue = 4}});
      Gate gate;
      std::atomic<int> blocker_runs{0};
      std::atomic<int> dropped_runs{0};
      std::atomic<int> cancelled{0};
      s.server.get("/block", [&](khz::RequestContext& ctx) -> khz::Task<> {
        auto job = [&] {
          ++blocker_runs;
          gate.wait();
          return 1;
        };
        co_await ctx.offload(job);
        ctx.string(200, "done");
      });
      s.server.get("/queued", [&](khz::RequestContext& ctx) -> khz::Task<> {
        auto job = [&] { ++dropped_runs; return 1; };
        try {
          co_await ctx.offload(job);
        } catch (const khz::OffloadError& e) {
          if (e.code() == khz::offload::errc::cancelled) ++cancelled;
          throw;
        }
        ctx.string(200, "ran");
      });
      s.start();

      RawClient blocker(s.port());
      blocker.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
      REQUIRE(khz::test::eventually([&] { return blocker_runs == 1; }));
      {
        RawClient gone(s.port());
        gone.send("GET /queued HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(khz::test::eventually([&] { return s.server.offload_pool().pending() == 2; }));
      }  // hangs up while its job waits in the queue
      REQUIRE(khz::test::eventually([&] { return cancelled == 1; }));
      REQUIRE(s.server.offload_pool().pending() == 1);  // out of the queue, the blocker still runs

      gate.open();
      REQUIRE(khz::test::body_of(blocker.read_response()) == "done");
      REQUIRE(khz::test::eventually([&] { return s.server.offload_pool().pending() == 0; }));
      std::this_thread::sleep_for(50ms);
      REQUIRE(dropped_runs == 0);  // never ran
    }
  }
}

TEST_CASE("offload: shutdown waits for a running job; a server that never offloads starts no thread") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      std::atomic<bool> job_done{false};
      {
        TestServer s(transport);
        s.server.get("/slow", [&](khz::RequestContext& ctx) -> khz::Task<> {
          auto job = [&] {
            std::this_thread::sleep_for(200ms);
            job_done = true;
          };
          co_await ctx.offload(job);
          ctx.string(200, "ok");
        });
        s.server.get("/plain", [](khz::RequestContext& ctx) { ctx.string(200, "plain"); });
        s.start();
        RawClient c(s.port());
        c.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(khz::test::body_of(c.read_response()) == "plain");
        REQUIRE(s.server.offload_pool().threads_started() == 0);

        RawClient slow(s.port());
        slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(khz::test::eventually([&] { return s.server.offload_pool().pending() == 1; }));
        s.server.shutdown();  // drains: the handler waits for its job
        REQUIRE(job_done);
        REQUIRE(khz::test::body_of(slow.read_response()) == "ok");
      }
    }
  }
}
