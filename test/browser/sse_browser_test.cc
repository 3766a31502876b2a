// SPDX-License-Identifier: Apache-2.0
// A browser's EventSource against a khz server, on every transport, over HTTP/1.1 (plain) and
// h2 (https, by ALPN): headless Chromium loads a page whose script collects typed, multi-line
// events from a stream the server ends after every two events (so the browser reconnects on
// its own, with Last-Event-ID, after the "retry:" delay the server set), then closes the
// EventSource and writes what it got into the DOM.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "browser/browser.h"
#include "support/test_server.h"

#include <charconv>
#include <mutex>
#include <string>
#include <vector>

using khz::test::TestServer;

namespace {

constexpr std::string_view kPage = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>khz sse</title></head>
<body><pre id="result">pending</pre>
<script>
const got = [];
const out = document.getElementById('result');
const source = new EventSource('/events?n=5');
source.addEventListener('tick', (e) => {
  got.push(e.lastEventId + '=' + e.data.split('\n').join('/'));
  if (got.length === 5) {
    source.close();
    out.textContent = 'done ' + got.join(' ');
  }
});
source.onmessage = (e) => { got.push('untyped:' + e.data); };
source.onerror = () => { if (source.readyState === EventSource.CLOSED) out.textContent = 'failed ' + got.join(' '); };
</script></body></html>
)";

struct Feed {
  std::mutex mutex;
  std::vector<std::string> last_ids;  // the Last-Event-ID of each /events request
  std::vector<std::string> versions;  // and its HTTP version

  void add_routes(khz::Server& server) {
    server.get("/", [](khz::RequestContext& ctx) { ctx.html_raw(200, kPage); });
    server.get("/events", [this](khz::RequestContext& ctx) -> khz::Task<> {
      int n = 0;
      std::string_view q = ctx.query("n");
      std::from_chars(q.data(), q.data() + q.size(), n);
      auto sse = co_await ctx.sse({.retry = std::chrono::milliseconds(100)});
      int from = 0;
      std::string_view last = sse.last_event_id();
      std::from_chars(last.data(), last.data() + last.size(), from);
      {
        std::lock_guard lock(mutex);
        last_ids.emplace_back(last);
        versions.emplace_back(khz::to_string(ctx.request().version()));
      }
      int sent = 0;
      for (int id = from + 1; id <= n && sent < 2; ++id, ++sent) {
        khz::SseEvent ev{.id = std::to_string(id), .event = "tick", .data = "event " + std::to_string(id) + "\nline 2"};
        std::error_code ec = co_await sse.send(ev);
        if (ec) co_return;
      }
    });
  }
};

}  // namespace

TEST_CASE("browser: Chromium's EventSource reads a khz event stream and reconnects with Last-Event-ID") {
  for (const auto& transport : khz::test::transports()) {
    for (bool tls : {false, true}) {
      DYNAMIC_SECTION("transport " << transport << (tls ? " https (h2)" : " http/1.1")) {
        Feed feed;
        TestServer s(transport, khz::test::page_server_options(tls));
        feed.add_routes(s.server);
        s.start();
        const std::string url = khz::test::page_url(tls, s.port());
        auto run = khz::test::load_page(url);
        INFO("chromium: " << run.error);
        REQUIRE(run.ok());
        CHECK(khz::test::element_text(run.dom, "result") ==
              "done 1=event 1/line 2 2=event 2/line 2 3=event 3/line 2 4=event 4/line 2 5=event 5/line 2");
        std::lock_guard lock(feed.mutex);
        CHECK(feed.last_ids == std::vector<std::string>{"", "2", "4"});
        const std::string version = tls ? "HTTP/2" : "HTTP/1.1";
        CHECK(feed.versions == std::vector<std::string>{version, version, version});
      }
    }
  }
}
