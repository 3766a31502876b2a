// SPDX-License-Identifier: Apache-2.0
// RequestContext::snapshot(): a detached task that outlives its handler reads its own request
// (method, path, decoded query, headers, params, body, route, peer) after the connection has
// moved on to the next request, whose bytes now fill the buffer the first one was read from;
// and a snapshot may be read on another thread.
#include <khz/app/server.h>
#include <khz/common/event_loop.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::test::RawClient;
using khz::test::TestServer;

namespace {

struct Seen {
  std::mutex mutex;
  std::vector<std::string> lines;
  void add(std::string line) {
    std::lock_guard lock(mutex);
    lines.push_back(std::move(line));
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return lines.size();
  }
};

std::string describe(const khz::RequestSnapshot& r) {
  return std::string(r.method()) + " " + std::string(r.path()) + " q=" + std::string(r.query("q")) +
         " tag=" + std::string(r.header("X-Tag")) + " user=" + std::string(r.param("user")) +
         " body=" + std::string(r.body()) + " route=" + r.full_path + " peer=" + (r.peer_address.empty() ? "none" : "set");
}

// Detached: runs on after the handler returned (parameters by value: it owns the snapshot).
khz::Task<> audit_later(khz::RequestSnapshot request, Seen* seen) {
  co_await khz::sleep_for(100ms);  // meanwhile the connection serves the next request
  seen->add(describe(request));
}

}  // namespace

TEST_CASE("snapshot: a detached task reads its own request after the connection moved on") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, {.loops = 1});
      Seen seen;
      s.server.post("/orders/:user", [&seen](khz::RequestContext& ctx) {
        khz::spawn(audit_later(ctx.snapshot(), &seen));
        ctx.string(202, "accepted");
      });
      s.start();

      RawClient c(s.port());
      // Two requests on one connection, back to back: the second is read into the buffer the
      // first one's views pointed into.
      c.send("POST /orders/ann?q=a%20b HTTP/1.1\r\nHost: x\r\nX-Tag: first\r\nContent-Length: 5\r\n\r\nhello");
      REQUIRE(khz::test::status_of(c.read_response()) == 202);
      c.send("POST /orders/bob?q=zz HTTP/1.1\r\nHost: x\r\nX-Tag: other\r\nContent-Length: 3\r\n\r\nbye");
      REQUIRE(khz::test::status_of(c.read_response()) == 202);

      REQUIRE(khz::test::eventually([&] { return seen.size() == 2; }));
      std::lock_guard lock(seen.mutex);
      REQUIRE(seen.lines[0] == "POST /orders/ann q=a b tag=first user=ann body=hello route=/orders/:user peer=set");
      REQUIRE(seen.lines[1] == "POST /orders/bob q=zz tag=other user=bob body=bye route=/orders/:user peer=set");
    }
  }
}

TEST_CASE("snapshot: owned strings, readable on another thread after the request is gone") {
  TestServer s(khz::test::transports().front());
  std::promise<khz::RequestSnapshot> handed;
  s.server.get("/users/:id", [&handed](khz::RequestContext& ctx) {
    handed.set_value(ctx.snapshot());
    ctx.string(200, "ok");
  });
  s.start();
  {
    RawClient c(s.port());
    c.send("GET /users/42?full=1&full=2 HTTP/1.1\r\nHost: x\r\nUser-Agent: probe\r\n\r\n");
    REQUIRE(khz::test::status_of(c.read_response()) == 200);
  }  // connection closed: its buffers are gone
  khz::RequestSnapshot copy = handed.get_future().get();  // on the test's thread
  REQUIRE(copy.param("id") == "42");
  REQUIRE(copy.query("full") == "1");
  REQUIRE(copy.query_params.size() == 2);
  REQUIRE(copy.header("user-agent") == "probe");
  REQUIRE(copy.request.query() == "full=1&full=2");
  REQUIRE(copy.method() == "GET");
  khz::RequestSnapshot again = copy;  // copies every byte
  copy = {};
  REQUIRE(again.header("User-Agent") == "probe");
  REQUIRE(again.path() == "/users/42");
}
