// SPDX-License-Identifier: Apache-2.0
// Server-Sent Events end to end, on every transport: the server's writer (head, encoding,
// Last-Event-ID, heartbeats, the client leaving) read by curl over HTTP/1.1 and HTTP/2 (prior
// knowledge), and khz's own SseReader over HTTP/1.1, h2c and https (HTTP/1.1 and h2 by ALPN):
// events in order, reconnection with Last-Event-ID after the server closes (every event exactly
// once), 204 and a wrong Content-Type stopping it, and cancellation while reading and while
// waiting to reconnect.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::test::eventually;
using khz::test::run_command;
using khz::test::TestServer;

namespace {

int to_int(std::string_view s, int fallback = 0) {
  int v = fallback;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Routes:
//   /events?n=N&close_after=K   ids 1..N after Last-Event-ID, the stream ended after K of them
//   /multi                       a typed, multi-line event, a comment, and a retry line
//   /idle?hb=MS                  heartbeats every MS, one event after 300 ms
//   /forever                     an event every 20 ms until send() fails (timed)
//   /quiet                       the head, then nothing for 5 s
//   /nocontent, /wrongtype       204; 200 text/plain
struct Feed {
  std::mutex mutex;
  std::vector<std::string> last_ids;  // the Last-Event-ID of each /events request
  std::atomic<int> forever_running{0};
  std::atomic<int> forever_ended{0};
  std::atomic<long> failed_after_ms{-1};  // from the client leaving (approx.: the last good send) to send() failing
  std::atomic<int> failed_closed{0};      // closed() was true once send() failed
  std::atomic<int> quiet_running{0};
  std::atomic<int> quiet_ended{0};
  std::atomic<int> quiet_saw_closed{-1};

  void add_routes(khz::Server& server) {
    server.get("/events", [this](khz::RequestContext& ctx) -> khz::Task<> {
      const int n = to_int(ctx.query("n"), 3);
      const int close_after = to_int(ctx.query("close_after"), 0);
      auto sse = co_await ctx.sse();
      {
        std::lock_guard lock(mutex);
        last_ids.emplace_back(sse.last_event_id());
      }
      int sent = 0;
      for (int id = to_int(sse.last_event_id()) + 1; id <= n; ++id) {
        khz::SseEvent ev{.id = std::to_string(id), .data = "event " + std::to_string(id)};
        if (co_await sse.send(ev)) co_return;
        if (close_after > 0 && ++sent == close_after) co_return;
      }
    });
    server.get("/multi", [](khz::RequestContext& ctx) -> khz::Task<> {
      auto sse = co_await ctx.sse({.retry = 1500ms});
      khz::SseEvent ev{.id = "a1", .event = "update", .data = "line one\nline two\r\n\nlast"};
      std::error_code ec = co_await sse.send(ev);
      if (ec) co_return;
      ec = co_await sse.comment("a note");
      if (ec) co_return;
      khz::SseEvent bad{.id = "x\ny", .data = "never"};
      ec = co_await sse.send(bad);
      if (ec != khz::protocol::event_stream_errc::bad_field) co_return;
      khz::SseEvent empty{.data = ""};
      ec = co_await sse.send(empty);
      if (ec) co_return;
      khz::SseEvent named{.id = "b1", .data = std::string(40, 'y')};  // named: GCC 12, PR 99576 (sse.h)
      ec = co_await sse.send(named);
    });
    server.get("/idle", [](khz::RequestContext& ctx) -> khz::Task<> {
      auto sse = co_await ctx.sse({.heartbeat = std::chrono::milliseconds(to_int(ctx.query("hb"), 50))});
      co_await khz::sleep_for(300ms);
      khz::SseEvent ev{.data = "after the quiet"};
      std::error_code ec = co_await sse.send(ev);
      (void)ec;
    });
    server.get("/forever", [this](khz::RequestContext& ctx) -> khz::Task<> {
      ++forever_running;
      auto sse = co_await ctx.sse({.heartbeat = 0ms});
      auto last_ok = std::chrono::steady_clock::now();
      for (int i = 1;; ++i) {
        khz::SseEvent ev{.id = std::to_string(i), .data = std::string(100, 'x')};
        std::error_code ec = co_await sse.send(ev);
        if (ec) {
          failed_after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - last_ok).count();
          failed_closed = sse.closed() ? 1 : 0;
          break;
        }
        last_ok = std::chrono::steady_clock::now();
        co_await khz::sleep_for(20ms);
      }
      ++forever_ended;
    });
    server.get("/quiet", [this](khz::RequestContext& ctx) -> khz::Task<> {
      auto sse = co_await ctx.sse({.heartbeat = 0ms});
      ++quiet_running;
      for (int i = 0; i < 50 && !sse.closed(); ++i) co_await khz::sleep_for(100ms);
      quiet_saw_closed = sse.closed() ? 1 : 0;
      ++quiet_ended;
    });
    // Heartbeats every millisecond between events a millisecond apart: sends meet heartbeats
    // in flight (HTTP/2 writes wait for the connection's writer) and must wait their turn.
    server.get("/busy", [](khz::RequestContext& ctx) -> khz::Task<> {
      const int n = to_int(ctx.query("n"), 100);
      auto sse = co_await ctx.sse({.heartbeat = 1ms});
      for (int id = 1; id <= n; ++id) {
        khz::SseEvent ev{.id = std::to_string(id), .data = "busy " + std::to_string(id)};
        if (co_await sse.send(ev)) co_return;
        if (id % 2 == 0) co_await khz::sleep_for(2ms);
      }
      co_await khz::sleep_for(5ms);  // ends with a heartbeat likely in flight: the server waits for it
    });
    server.get("/nocontent", [](khz::RequestContext& ctx) { ctx.set_status(204); });
    server.get("/wrongtype", [](khz::RequestContext& ctx) { ctx.string(200, "data: not an event stream\n\n"); });
  }
};

khz::ServerOptions tls_options() {
  const auto& pki = khz::test::TestPki::get();
  khz::ServerOptions o;
  o.tls_cert_file = pki.alpha_cert;
  o.tls_key_file = pki.alpha_key;
  return o;
}

khz::ClientOptions client_options(const std::string& transport) {
  khz::ClientOptions o;
  o.transport = transport;
  o.proxy_from_environment = false;
  o.dial_timeout = 2s;
  o.response_header_timeout = 3s;
  o.tls_ca_file = khz::test::TestPki::get().ca_cert;
  return o;
}

// Reads `count` events (or up to an error) with a reader made by `make`.
struct Read {
  std::vector<khz::SseEvent> events;
  std::error_code error;
  int connections = 0;
  std::string last_id;
  long retry_ms = 0;
};

Read read_events(khz::BlockingClient& c, const std::string& url, int count, khz::SseReaderOptions options = {}) {
  Read out;
  c.run([&]() -> khz::Task<void> {
    khz::SseReader reader = c.client().sse(url, options);
    while (static_cast<int>(out.events.size()) < count) {
      auto ev = co_await reader.next();
      if (!ev) {
        out.error = ev.error();
        break;
      }
      out.events.push_back(std::move(*ev));
    }
    out.connections = reader.connections();
    out.last_id = reader.last_event_id();
    out.retry_ms = static_cast<long>(reader.retry().count());
  });
  return out;
}

std::string ids(const std::vector<khz::SseEvent>& events) {
  std::string s;
  for (const auto& e : events) s += (s.empty() ? "" : ",") + e.id;
  return s;
}

khz::Task<void> trigger_after(khz::CancelSignal* signal, std::chrono::milliseconds delay, bool* done) {
  co_await khz::sleep_for(delay);
  signal->trigger();
  *done = true;
}

}  // namespace

TEST_CASE("sse server: curl reads the head and the events over HTTP/1.1 and HTTP/2") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Feed feed;
      TestServer s(transport);
      feed.add_routes(s.server);
      s.start();
      for (std::string proto : {"--http1.1", "--http2-prior-knowledge"}) {
        INFO(proto);
        auto r = run_command("curl -sS -N -i --max-time 5 " + proto + " '" + s.url("/events?n=3") + "'");
        REQUIRE(r.status == 0);
        const std::string& out = r.output;
        CHECK((out.find("content-type: text/event-stream") != std::string::npos ||
               out.find("Content-Type: text/event-stream") != std::string::npos));
        CHECK((out.find("cache-control: no-cache") != std::string::npos ||
               out.find("Cache-Control: no-cache") != std::string::npos));
        CHECK((out.find("x-accel-buffering: no") != std::string::npos ||
               out.find("X-Accel-Buffering: no") != std::string::npos));
        std::string body = out.substr(out.find("\r\n\r\n") + 4);
        CHECK(body == "id: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\nid: 3\ndata: event 3\n\n");

        auto resumed = run_command("curl -sS -N --max-time 5 " + proto + " -H 'Last-Event-ID: 2' '" + s.url("/events?n=4") + "'");
        CHECK(resumed.output == "id: 3\ndata: event 3\n\nid: 4\ndata: event 4\n\n");

        auto multi = run_command("curl -sS -N --max-time 5 " + proto + " '" + s.url("/multi") + "'");
        CHECK(multi.output ==
              "retry: 1500\n\n"
              "id: a1\nevent: update\ndata: line one\ndata: line two\ndata: \ndata: last\n\n"
              ": a note\n"
              "data: \n\n"
              "id: b1\ndata: " + std::string(40, 'y') + "\n\n");

        // Heartbeats while the handler sleeps (every 50 ms for 300 ms: a few of them).
        auto idle = run_command("curl -sS -N --max-time 5 " + proto + " '" + s.url("/idle?hb=50") + "'");
        std::size_t beats = 0;
        for (std::size_t at = 0; (at = idle.output.find(": keep-alive\n", at)) != std::string::npos; ++at) ++beats;
        CHECK(beats >= 2);
        CHECK(idle.output.size() >= std::string("data: after the quiet\n\n").size());
        CHECK(idle.output.ends_with("data: after the quiet\n\n"));
      }
      // No heartbeat when the interval is 0: the body is the event alone.
      auto none = run_command("curl -sS -N --max-time 5 '" + s.url("/idle?hb=0") + "'");
      CHECK(none.output == "data: after the quiet\n\n");
    }
  }
}

TEST_CASE("sse server: send() fails soon after the client leaves, and the handler ends") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Feed feed;
      TestServer s(transport);
      feed.add_routes(s.server);
      s.start();
      SECTION("HTTP/1.1: the client closes its socket") {
        {
          khz::test::RawClient c(s.port());
          c.send("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
          REQUIRE(eventually([&] { return feed.forever_running.load() == 1; }));
          std::this_thread::sleep_for(100ms);
        }
        REQUIRE(eventually([&] { return feed.forever_ended.load() == 1; }, 3s));
      }
      SECTION("HTTP/2: curl gives up (stream reset and connection closed)") {
        auto r = run_command("curl -sS -N --max-time 0.3 --http2-prior-knowledge '" + s.url("/forever") + "' > /dev/null 2>&1");
        (void)r;
        REQUIRE(eventually([&] { return feed.forever_ended.load() == 1; }, 3s));
      }
      CHECK(feed.failed_after_ms.load() >= 0);
      CHECK(feed.failed_after_ms.load() < 1000);  // the next send or two after the client left
      CHECK(feed.failed_closed.load() == 1);
    }
  }
}

TEST_CASE("sse client: events over HTTP/1.1, h2c and https, with reconnection and Last-Event-ID") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Feed feed;
      TestServer plain(transport);
      feed.add_routes(plain.server);
      plain.start();
      TestServer tls(transport, tls_options());
      feed.add_routes(tls.server);
      tls.start();
      const std::string https = "https://localhost:" + std::to_string(tls.port());

      struct Variant {
        const char* name;
        std::string base;
        bool prior_knowledge;
        bool http2;
      };
      const std::vector<Variant> variants = {
          {"http/1.1", "http://127.0.0.1:" + std::to_string(plain.port()), false, true},
          {"h2c", "http://127.0.0.1:" + std::to_string(plain.port()), true, true},
          {"https http/1.1", https, false, false},
          {"https h2", https, false, true},
      };
      for (const auto& v : variants) {
        DYNAMIC_SECTION(v.name) {
          khz::ClientOptions o = client_options(transport);
          o.http2_prior_knowledge = v.prior_knowledge;
          o.http2 = v.http2;
          khz::BlockingClient c(o);

          Read r = read_events(c, v.base + "/events?n=3", 3);
          REQUIRE(!r.error);
          CHECK(ids(r.events) == "1,2,3");
          CHECK(r.events[2].data == "event 3");
          CHECK(r.events[2].event == "message");
          CHECK(r.connections == 1);

          Read multi = read_events(c, v.base + "/multi", 2);
          REQUIRE(!multi.error);
          CHECK(multi.events[0].event == "update");
          CHECK(multi.events[0].id == "a1");
          CHECK(multi.events[0].data == "line one\nline two\n\nlast");
          CHECK(multi.events[1].data.empty());
          CHECK(multi.events[1].id == "a1");  // ids persist
          CHECK(multi.retry_ms == 1500);

          // The server ends the stream after every 2 events; the reader resumes from the last id.
          {
            std::lock_guard lock(feed.mutex);
            feed.last_ids.clear();
          }
          Read resumed = read_events(c, v.base + "/events?n=5&close_after=2", 5, {.retry = 10ms});
          REQUIRE(!resumed.error);
          CHECK(ids(resumed.events) == "1,2,3,4,5");  // each exactly once
          CHECK(resumed.connections == 3);
          {
            std::lock_guard lock(feed.mutex);
            CHECK(feed.last_ids == std::vector<std::string>{"", "2", "4"});
          }
          // A caller-chosen starting point.
          Read from = read_events(c, v.base + "/events?n=4", 2, {.last_event_id = "2"});
          CHECK(ids(from.events) == "3,4");
        }
      }
    }
  }
}

TEST_CASE("sse client: 204 and a wrong Content-Type stop it; cancellation stops it at once") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Feed feed;
      TestServer s(transport);
      feed.add_routes(s.server);
      s.start();
      khz::BlockingClient c(client_options(transport));

      Read nocontent = read_events(c, s.url("/nocontent"), 1, {.retry = 10ms});
      CHECK(nocontent.error == khz::client::errc::no_content);
      CHECK(nocontent.connections == 1);
      Read wrong = read_events(c, s.url("/wrongtype"), 1, {.retry = 10ms});
      CHECK(wrong.error == khz::client::errc::not_event_stream);
      CHECK(wrong.connections == 1);
      Read missing = read_events(c, s.url("/nowhere"), 1, {.retry = 10ms});
      CHECK(missing.error == khz::client::errc::not_event_stream);  // 404

      // Gives up after max_reconnects attempts in a row with no event (nothing listens).
      const std::string dead = "http://127.0.0.1:" + std::to_string(khz::test::unused_port()) + "/events";
      Read gave_up = read_events(c, dead, 1, {.retry = 5ms, .max_reconnects = 2});
      CHECK(gave_up.error);
      CHECK(gave_up.connections == 3);

      SECTION("cancelled while reading a quiet stream") {
        khz::CancelSignal signal;
        auto t0 = std::chrono::steady_clock::now();
        std::error_code error;
        c.run([&]() -> khz::Task<void> {
          khz::SseReader reader = c.client().sse(s.url("/quiet"), {.cancel = &signal});
          bool triggered = false;
          khz::spawn(trigger_after(&signal, 200ms, &triggered));
          auto ev = co_await reader.next();
          error = ev ? std::error_code() : ev.error();
          while (!triggered) co_await khz::sleep_for(1ms);  // the signal outlives its trigger()
        });
        auto took = std::chrono::steady_clock::now() - t0;
        CHECK(error == khz::client::errc::cancelled);
        CHECK(took < 2s);
      }
      SECTION("cancelled while waiting to reconnect") {
        khz::CancelSignal signal;
        auto t0 = std::chrono::steady_clock::now();
        std::error_code error;
        c.run([&]() -> khz::Task<void> {
          khz::SseReader reader = c.client().sse(dead, {.retry = 10s, .cancel = &signal});
          bool triggered = false;
          khz::spawn(trigger_after(&signal, 200ms, &triggered));
          auto ev = co_await reader.next();
          error = ev ? std::error_code() : ev.error();
          while (!triggered) co_await khz::sleep_for(1ms);  // the signal outlives its trigger()
        });
        auto took = std::chrono::steady_clock::now() - t0;
        CHECK(error == khz::client::errc::cancelled);
        CHECK(took < 2s);
      }
    }
  }
}

TEST_CASE("sse server: closed() turns true when the client leaves a quiet stream (no write needed)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Feed feed;
      TestServer s(transport);
      feed.add_routes(s.server);
      s.start();
      auto t0 = std::chrono::steady_clock::now();
      SECTION("HTTP/1.1") {
        khz::test::RawClient c(s.port());
        c.send("GET /quiet HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(eventually([&] { return feed.quiet_running.load() == 1; }));
      }
      SECTION("HTTP/2") {
        auto r = run_command("curl -sS -N --max-time 0.3 --http2-prior-knowledge '" + s.url("/quiet") + "' > /dev/null 2>&1");
        (void)r;
      }
      // The handler would poll for 5 s if nobody told it; the hang-up ends it well before.
      REQUIRE(eventually([&] { return feed.quiet_ended.load() == 1; }, 4s));
      CHECK(std::chrono::steady_clock::now() - t0 < 2s);
      CHECK(feed.quiet_saw_closed.load() == 1);
    }
  }
}

TEST_CASE("sse server: a stream still open at the drain deadline learns it is closed (HTTP/1.1)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Feed feed;
      TestServer s(transport, {.exit_wait_timeout = 200ms});
      feed.add_routes(s.server);
      s.start();
      khz::test::RawClient c(s.port());
      c.send("GET /quiet HTTP/1.1\r\nHost: x\r\n\r\n");
      REQUIRE(eventually([&] { return feed.quiet_running.load() == 1; }));
      // The handler polls closed() for 5 s; the connection closed at the deadline tells it.
      auto t0 = std::chrono::steady_clock::now();
      s.server.shutdown();
      CHECK(std::chrono::steady_clock::now() - t0 < 3s);
      CHECK(feed.quiet_ended.load() == 1);
      CHECK(feed.quiet_saw_closed.load() == 1);
    }
  }
}

TEST_CASE("sse client in a handler: the downstream client leaving cancels the reader (ambient signal)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      struct Front {
        Feed feed;
        TestServer server;
        khz::Client client;  // after the server: destroyed first
        std::atomic<int> outcome{0};  // 1 cancelled, 2 another error, 3 an event
        explicit Front(const std::string& t) : server(t), client(client_options(t)) {}
      } f(transport);
      f.feed.add_routes(f.server.server);
      f.server.server.get("/relay", [&f](khz::RequestContext& ctx) -> khz::Task<> {
        khz::SseReader upstream = f.client.sse(f.server.url("/quiet"), {.retry = 10ms});
        auto ev = co_await upstream.next();
        f.outcome = ev ? 3 : ev.error() == khz::client::errc::cancelled ? 1 : 2;
        ctx.string(200, "over");
      });
      f.server.start();
      {
        khz::test::RawClient c(f.server.port());
        c.send("GET /relay HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(eventually([&] { return f.feed.quiet_running.load() == 1; }));  // the upstream stream is open
      }
      REQUIRE(eventually([&] { return f.outcome.load() != 0; }, 3s));
      CHECK(f.outcome.load() == 1);
      // And the upstream stream was closed with it: its handler sees closed().
      REQUIRE(eventually([&] { return f.feed.quiet_ended.load() == 1; }, 3s));
      CHECK(f.feed.quiet_saw_closed.load() == 1);
    }
  }
}

TEST_CASE("sse server: heartbeats and sends interleave without tearing an event") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Feed feed;
      TestServer s(transport);
      feed.add_routes(s.server);
      s.start();
      for (bool h2 : {false, true}) {
        INFO((h2 ? "h2c" : "http/1.1"));
        khz::ClientOptions o = client_options(transport);
        o.http2_prior_knowledge = h2;
        khz::BlockingClient c(o);
        Read r = read_events(c, s.url("/busy?n=100"), 100, {.max_reconnects = 0});
        REQUIRE(!r.error);
        REQUIRE(r.events.size() == 100);
        bool in_order = true;
        for (int i = 0; i < 100; ++i) {
          in_order = in_order && r.events[i].id == std::to_string(i + 1) && r.events[i].data == "busy " + std::to_string(i + 1);
        }
        CHECK(in_order);
        CHECK(r.connections == 1);

        auto raw = run_command(std::string("curl -sS -N --max-time 5 ") + (h2 ? "--http2-prior-knowledge " : "") + "'" +
                               s.url("/busy?n=60") + "'");
        std::string stripped;  // the body without its heartbeat lines
        std::size_t beats = 0;
        for (std::size_t at = 0; at < raw.output.size();) {
          std::size_t end = raw.output.find('\n', at);
          if (end == std::string::npos) end = raw.output.size() - 1;
          std::string_view line(raw.output.data() + at, end - at + 1);
          if (line == ": keep-alive\n") ++beats; else stripped += line;
          at = end + 1;
        }
        std::string want;
        for (int i = 1; i <= 60; ++i) want += "id: " + std::to_string(i) + "\ndata: busy " + std::to_string(i) + "\n\n";
        CHECK(stripped == want);
        CHECK(beats > 0);
      }
    }
  }
}
