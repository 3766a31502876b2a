// SPDX-License-Identifier: Apache-2.0
#include <khz/app/testing.h>
#include <khz/common/event_loop.h>
#include <khz/middleware/recovery.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"

#include <chrono>
#include <stdexcept>

using namespace std::chrono_literals;
using khz::testing::perform_request;

namespace {

void boom(khz::RequestContext& c) {
  c.set_header("X-Inner", "set before the throw");
  c.set_header("Content-Encoding", "gzip");
  c.string(200, "half an answer");
  throw std::runtime_error("disk gone");
}

khz::Task<> boom_later(khz::RequestContext& c) {
  co_await khz::sleep_for(1ms);
  boom(c);
}

}  // namespace

TEST_CASE("recovery: a throw becomes a 500 that keeps the headers set so far and logs the route") {
  khz::Engine e;
  e.use([](khz::RequestContext& c) { c.set_header("X-Request-ID", "r-1"); });
  e.use(khz::middleware::recovery());
  e.get("/users/:id", boom);
  e.get("/later/:id", boom_later);
  for (const char* target : {"/users/7", "/later/7"}) {
    CAPTURE(target);
    khz::test::LogCapture log;
    auto r = perform_request(e, "GET", target);
    REQUIRE(r.status() == 500);
    REQUIRE(r.body() == "500 internal server error");
    REQUIRE(r.header("Content-Type") == "text/plain; charset=utf-8");
    REQUIRE(r.header("X-Request-ID") == "r-1");            // outer middleware's
    REQUIRE(r.header("X-Inner") == "set before the throw");  // the handler's own, not about the body
    REQUIRE_FALSE(r.headers().contains("Content-Encoding"));  // described the dropped body
    const std::string text = log.text();
    CAPTURE(text);
    const std::string route = std::string(target).starts_with("/users") ? "/users/:id" : "/later/:id";
    REQUIRE(text.find("recovery: GET " + route + " (path " + target + ") threw: disk gone") != std::string::npos);
    REQUIRE(text.find("\n  #0 ") != std::string::npos);  // a stack trace, one frame a line
    // Recovery answered: the Engine's boundary saw no exception (it would log "threw").
    REQUIRE(text.find("handler for GET") == std::string::npos);
  }
}

TEST_CASE("recovery: options") {
  SECTION("status, body, content type; no stack trace") {
    khz::Engine e;
    e.use(khz::middleware::recovery({.status = 503, .body = R"({"error":"later"})",
                                     .content_type = "application/json", .stack_trace = false}));
    e.get("/x", boom);
    khz::test::LogCapture log;
    auto r = perform_request(e, "GET", "/x");
    REQUIRE(r.status() == 503);
    REQUIRE(r.body() == R"({"error":"later"})");
    REQUIRE(r.header("Content-Type") == "application/json");
    REQUIRE(log.text().find("threw: disk gone") != std::string::npos);
    REQUIRE(log.text().find("\n  #0 ") == std::string::npos);
  }
  SECTION("render gets the exception; a render that throws falls back to the plain answer") {
    khz::Engine e;
    e.use(khz::middleware::recovery({.render = [](khz::RequestContext& c, std::exception_ptr ex) {
      try {
        std::rethrow_exception(ex);
      } catch (const std::invalid_argument& bad) {
        c.json(400, khz::H{{"error", bad.what()}});
      } catch (...) {
        throw std::logic_error("render gave up");
      }
    }}));
    e.get("/bad", [](khz::RequestContext&) { throw std::invalid_argument("no such colour"); });
    e.get("/other", boom);
    khz::test::LogCapture log;
    auto bad = perform_request(e, "GET", "/bad");
    REQUIRE(bad.status() == 400);
    REQUIRE(bad.body() == R"({"error":"no such colour"})");
    auto other = perform_request(e, "GET", "/other");
    REQUIRE(other.status() == 500);
    REQUIRE(other.body() == "500 internal server error");
    REQUIRE(log.text().find("recovery: render threw: render gave up") != std::string::npos);
  }
  SECTION("a status outside 400-599 is refused at setup") {
    REQUIRE_THROWS_AS(khz::middleware::recovery({.status = 200}), std::invalid_argument);
  }
  SECTION("no throw: the answer is the handler's") {
    khz::Engine e;
    e.use(khz::middleware::recovery());
    e.get("/ok", [](khz::RequestContext& c) { c.string(201, "made"); });
    auto r = perform_request(e, "GET", "/ok");
    REQUIRE(r.status() == 201);
    REQUIRE(r.body() == "made");
  }
}

TEST_CASE("recovery leaves an OffloadError to the Engine's 503") {
  khz::Engine e({.offload = {.threads = 1, .max_queue = 0}});
  e.use(khz::middleware::recovery());
  e.get("/job", [](khz::RequestContext&) -> khz::Task<> {
    throw khz::OffloadError(khz::offload::errc::queue_full);
    co_return;
  });
  khz::test::LogCapture log;
  auto r = perform_request(e, "GET", "/job");
  REQUIRE(r.status() == 503);
  REQUIRE(log.text().find("recovery:") == std::string::npos);
}
