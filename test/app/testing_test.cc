// SPDX-License-Identifier: Apache-2.0
// khz::testing::perform_request: a handler that calls a second, real khz server with
// khz::Client (on every transport), headers built at run time from owned strings next to the
// braced-list and string_view forms, and a handler that offloads and sleeps, all on the
// calling thread.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using khz::testing::perform_request;
using namespace std::chrono_literals;

namespace {

// Sets an environment variable for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A gateway handler: asks the upstream for /greet/<name> and relays the answer.
khz::Task<> relay(khz::Client* client, std::uint16_t upstream, khz::RequestContext* ctx) {
  std::string url = "http://127.0.0.1:" + std::to_string(upstream) + "/greet/" + std::string(ctx->param("name"));
  auto r = co_await client->get(std::move(url));
  if (!r) {
    ctx->string(502, r.error().message());
    co_return;
  }
  ctx->string(r->status(), "upstream said: " + std::string(r->body()));
}

}  // namespace

TEST_CASE("perform_request: a handler that calls another real khz server with khz::Client") {
  khz::Server upstream({.address = "127.0.0.1:0", .loops = 1});
  upstream.get("/greet/:name", [](khz::RequestContext& ctx) { ctx.string(200, "hello " + std::string(ctx.param("name"))); });
  auto port = upstream.start();
  REQUIRE(port);

  for (const auto& transport : khz::transport::transporter_names()) {
    DYNAMIC_SECTION("transport " << transport) {
      // perform_request's loop is per thread and made with $KHZ_TRANSPORT: a fresh thread per
      // transport.
      ScopedEnv env("KHZ_TRANSPORT", transport);
      std::string first, second, loop_thread, test_thread;
      std::thread([&] {
        khz::Engine engine;
        khz::Client client({.proxy_from_environment = false});  // destroyed on this thread, between runs
        engine.get("/hello/:name", [&client, &port, &loop_thread](khz::RequestContext& ctx) -> khz::Task<> {
          loop_thread = std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
          co_await relay(&client, *port, &ctx);
        });
        test_thread = std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
        khz::Response a = perform_request(engine, "GET", "/hello/ann");
        first = std::to_string(a.status()) + " " + std::string(a.body());
        khz::Response b = perform_request(engine, "GET", "/hello/bob");  // the pooled connection again
        second = std::to_string(b.status()) + " " + std::string(b.body());
      }).join();
      REQUIRE(first == "200 upstream said: hello ann");
      REQUIRE(second == "200 upstream said: hello bob");
      REQUIRE(loop_thread == test_thread);  // the handler ran on the calling thread
    }
  }
}

TEST_CASE("perform_request: headers built at run time, as owned strings") {
  khz::Engine e;
  e.get("/h", [](khz::RequestContext& c) {
    std::string out;
    for (const auto& f : c.request().headers()) out += std::string(f.name) + "=" + std::string(f.value) + ";";
    c.string(200, out);
  });

  std::vector<khz::testing::Header> headers;
  for (int i = 1; i <= 2; ++i) {
    std::string name = "X-Trace-" + std::to_string(i);
    std::string value = "span-" + std::string(static_cast<std::size_t>(i), 'z');
    headers.emplace_back(name, std::move(value));
    name.assign("clobbered");  // the header keeps its own copy
  }
  std::string token = "Bearer " + std::to_string(42);
  headers.push_back({"Authorization", token});
  token.clear();
  std::string_view view_name = "X-View";
  headers.emplace_back(view_name, std::string_view("from a view"));

  auto r = perform_request(e, "GET", "/h", headers);
  REQUIRE(r.body() == "X-Trace-1=span-z;X-Trace-2=span-zz;Authorization=Bearer 42;X-View=from a view;Host=localhost;");

  // The braced forms existing call sites use still work, string_views included.
  std::string_view host = "example.test";
  auto braced = perform_request(e, "GET", "/h", {{"Host", host}, {"Accept", "*/*"}});
  REQUIRE(braced.body() == "Host=example.test;Accept=*/*;");
}

TEST_CASE("perform_request: offload and timers work; the handler resumes on the calling thread") {
  khz::Engine e;
  e.get("/work", [](khz::RequestContext& c) -> khz::Task<> {
    auto caller = std::this_thread::get_id();
    co_await khz::sleep_for(1ms);
    auto job = [] { return std::string("from a worker"); };
    std::string out = co_await c.offload(job);
    c.string(200, out + (std::this_thread::get_id() == caller ? " on the caller" : " elsewhere"));
  });
  auto r = perform_request(e, "GET", "/work");
  REQUIRE(r.body() == "from a worker on the caller");
}
