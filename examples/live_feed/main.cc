// SPDX-License-Identifier: Apache-2.0
// live_feed: a live message feed over Server-Sent Events. Anyone may publish a line; every
// open page shows it at once, and a page that lost its connection picks up where it left off
// (the browser sends Last-Event-ID, the server replays what came after it).
//
//   live_feed [--port N]                                  (default 8891)
//   open http://127.0.0.1:8891/                           the page (EventSource on /events)
//   curl -N http://127.0.0.1:8891/events                  the raw stream
//   curl -d 'hello' http://127.0.0.1:8891/publish         -> 201 {"id":1}
//
// The feed is a history of the last 1000 messages behind a mutex (the server's loops share
// it); each subscriber's handler sends what is new, then looks again 100 ms later. While
// nothing happens the writer's heartbeat comment keeps proxies from closing the stream.
#include <khz/app/server.h>
#include <khz/common/event_loop.h>

#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t kHistory = 1000;
constexpr std::size_t kMaxMessage = 4096;

struct Message {
  std::uint64_t id;
  std::string text;
};

// The messages published so far (the last kHistory of them). Thread-safe.
class Feed {
 public:
  std::uint64_t publish(std::string text) {
    std::lock_guard lock(mutex_);
    messages_.push_back({++last_id_, std::move(text)});
    if (messages_.size() > kHistory) messages_.pop_front();
    return last_id_;
  }
  // The messages with an id above `after`, oldest first.
  std::vector<Message> since(std::uint64_t after) const {
    std::lock_guard lock(mutex_);
    std::vector<Message> out;
    for (const auto& m : messages_) {
      if (m.id > after) out.push_back(m);
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::deque<Message> messages_;
  std::uint64_t last_id_ = 0;
};

Feed feed;

constexpr std::string_view kPage = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>khz live feed</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto} li{margin:.3em 0}</style></head>
<body>
<h1>Live feed</h1>
<form id="send"><input id="text" autocomplete="off" placeholder="say something"> <button>Publish</button></form>
<p id="status">connecting...</p>
<ul id="messages"></ul>
<script>
const list = document.getElementById('messages');
const status = document.getElementById('status');
const source = new EventSource('/events');
source.onopen = () => { status.textContent = 'live'; };
source.onerror = () => { status.textContent = 'reconnecting...'; };
source.addEventListener('message', (e) => {
  const li = document.createElement('li');
  li.textContent = '#' + e.lastEventId + ' ' + e.data;
  list.appendChild(li);
});
document.getElementById('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = document.getElementById('text');
  if (text.value) fetch('/publish', {method: 'POST', body: text.value});
  text.value = '';
});
</script>
</body></html>
)";

khz::Task<> events(khz::RequestContext& ctx) {
  std::uint64_t after = 0;
  std::string_view last = ctx.header("Last-Event-ID");
  if (!last.empty()) {
    auto r = std::from_chars(last.data(), last.data() + last.size(), after);
    if (r.ec != std::errc() || r.ptr != last.data() + last.size()) after = 0;  // not ours: start over
  }
  auto sse = co_await ctx.sse({.heartbeat = std::chrono::seconds(15), .retry = std::chrono::seconds(1)});
  while (!sse.closed()) {
    for (const auto& m : feed.since(after)) {
      khz::SseEvent ev{.id = std::to_string(m.id), .data = m.text};
      if (co_await sse.send(ev)) co_return;  // the page went away
      after = m.id;
    }
    co_await khz::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string port = "8891";
  CLI::App app{"live_feed: a live feed over Server-Sent Events (POST /publish, GET /events) and a page, on 127.0.0.1"};
  app.add_option("--port", port, "the port")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  khz::Server server({.address = "127.0.0.1:" + port});
  server.get("/", [](khz::RequestContext& ctx) { ctx.html_raw(200, kPage); });
  server.get("/events", events);
  server.post("/publish", [](khz::RequestContext& ctx) {
    std::string_view text = ctx.body();
    if (text.empty() || text.size() > kMaxMessage) {
      ctx.string(400, "a message is 1 to 4096 bytes");
      return;
    }
    std::uint64_t id = feed.publish(std::string(text));
    ctx.json(201, khz::H{{"id", static_cast<std::int64_t>(id)}});
  });
  std::printf("live_feed on http://127.0.0.1:%s\n", port.c_str());
  std::fflush(stdout);
  server.spin();
}
