// SPDX-License-Identifier: Apache-2.0
// chat: one chat room over WebSocket, with a read-only Server-Sent Events feed of the same room.
// Members connect a WebSocket to /chat?name=NAME and send text messages; every member gets
// every line ("NAME: text", "* NAME joined", "* NAME left"), their own included. Viewers read
// the same lines, with ids, from /events (a viewer coming back with Last-Event-ID gets what it
// missed). The page at / watches the room (EventSource) until you join it (WebSocket).
//
//   chat [--port N]                                        (default 8892)
//   open http://127.0.0.1:8892/                            the page
//   curl -N http://127.0.0.1:8892/events                   the room, read-only
//   websocat 'ws://127.0.0.1:8892/chat?name=ann'           a member
//
// The room is a history of the last 1000 lines behind a mutex (the server's loops share it).
// Each member's connection runs a writer beside its reader on the connection's loop: the
// writer sends what is new in the room, then looks again 50 ms later, so a WebSocket is only
// ever written from its own loop and a slow member slows nobody else.
#include <khz/app/server.h>
#include <khz/app/websocket.h>
#include <khz/common/event_loop.h>

#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t kHistory = 1000;
constexpr std::size_t kMaxMessage = 4096;
constexpr std::size_t kMaxName = 32;

struct Line {
  std::uint64_t id;
  std::string text;
};

// The room's lines so far (the last kHistory of them). Thread-safe.
class Room {
 public:
  std::uint64_t say(std::string text) {
    std::lock_guard lock(mutex_);
    lines_.push_back({++last_id_, std::move(text)});
    if (lines_.size() > kHistory) lines_.pop_front();
    return last_id_;
  }
  std::uint64_t last_id() const {
    std::lock_guard lock(mutex_);
    return last_id_;
  }
  // The lines with an id above `after`, oldest first.
  std::vector<Line> since(std::uint64_t after) const {
    std::lock_guard lock(mutex_);
    std::vector<Line> out;
    for (const auto& l : lines_) {
      if (l.id > after) out.push_back(l);
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::deque<Line> lines_;
  std::uint64_t last_id_ = 0;
};

Room room;

constexpr std::string_view kPage = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>khz chat</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto} li{margin:.3em 0}</style></head>
<body>
<h1>Chat</h1>
<form id="join"><input id="name" autocomplete="off" placeholder="your name"> <button>Join</button></form>
<form id="send" hidden><input id="text" autocomplete="off" placeholder="say something"> <button>Send</button></form>
<p id="status">connecting...</p>
<ul id="lines"></ul>
<script>
const list = document.getElementById('lines');
const status = document.getElementById('status');
const show = (text) => {
  const li = document.createElement('li');
  li.textContent = text;
  list.appendChild(li);
};
// Watching: the room's feed, read-only.
const feed = new EventSource('/events');
feed.onopen = () => { status.textContent = 'watching'; };
feed.onerror = () => { status.textContent = 'reconnecting...'; };
feed.onmessage = (e) => show(e.data);
let socket = null;
document.getElementById('join').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = document.getElementById('name').value;
  if (!name || socket) return;
  // Joining: the feed gives way to a WebSocket, which carries the room's lines both ways.
  feed.close();
  list.textContent = '';
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  socket = new WebSocket(scheme + location.host + '/chat?name=' + encodeURIComponent(name));
  socket.onopen = () => {
    status.textContent = 'joined as ' + name;
    document.getElementById('join').hidden = true;
    document.getElementById('send').hidden = false;
  };
  socket.onmessage = (e) => show(e.data);
  socket.onclose = (e) => { status.textContent = 'closed (' + e.code + ' ' + e.reason + ')'; socket = null; };
});
document.getElementById('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = document.getElementById('text');
  if (text.value && socket) socket.send(text.value);
  text.value = '';
});
</script>
</body></html>
)";

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxName) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// What a member's reader and writer share; both run on the connection's loop.
struct Member {
  bool done = false;         // the reader is finished: the writer stops
  bool writer_gone = false;  // the writer has returned: the WebSocket may go
};

// Sends the room's new lines to one member until the member leaves or the socket breaks.
khz::Task<> write_room(khz::WebSocket& ws, std::shared_ptr<Member> member, std::uint64_t after) {
  while (!member->done) {
    for (const auto& line : room.since(after)) {
      auto sent = co_await ws.send_text(line.text);
      if (!sent) {
        member->writer_gone = true;
        co_return;
      }
      after = line.id;
    }
    co_await khz::sleep_for(std::chrono::milliseconds(50));
  }
  member->writer_gone = true;
}

khz::Task<> member(khz::WebSocket& ws) {
  const std::string name(ws.request().query("name"));
  auto state = std::make_shared<Member>();
  const std::uint64_t after = room.last_id();  // a member gets the lines from its own arrival on
  room.say("* " + name + " joined");
  khz::spawn(write_room(ws, state, after));
  for (;;) {
    auto msg = co_await ws.receive();
    if (!msg) break;  // closed by the member, too big (1009), broken...
    if (!msg->is_text() || msg->data.empty()) continue;
    room.say(name + ": " + msg->data);
  }
  room.say("* " + name + " left");
  state->done = true;
  while (!state->writer_gone) co_await khz::sleep_for(std::chrono::milliseconds(10));
}

khz::Task<> events(khz::RequestContext& ctx) {
  std::uint64_t after = 0;
  std::string_view last = ctx.header("Last-Event-ID");
  if (!last.empty()) {
    auto r = std::from_chars(last.data(), last.data() + last.size(), after);
    if (r.ec != std::errc() || r.ptr != last.data() + last.size()) after = 0;  // not ours: start over
  } else {
    after = room.last_id();  // a new viewer sees the room from now on
  }
  auto sse = co_await ctx.sse({.heartbeat = std::chrono::seconds(15), .retry = std::chrono::seconds(1)});
  while (!sse.closed()) {
    for (const auto& l : room.since(after)) {
      khz::SseEvent ev{.id = std::to_string(l.id), .data = l.text};
      if (co_await sse.send(ev)) co_return;  // the viewer went away
      after = l.id;
    }
    co_await khz::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string port = "8892";
  CLI::App app{"chat: a chat room over WebSocket (HTTP/1.1 and HTTP/2), its feed over SSE, and a page, on 127.0.0.1"};
  app.add_option("--port", port, "the port")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  khz::Server server({.address = "127.0.0.1:" + port});
  server.get("/", [](khz::RequestContext& ctx) { ctx.html_raw(200, kPage); });
  server.get("/events", events);
  // GET for the HTTP/1.1 upgrade, CONNECT for WebSocket over HTTP/2 (RFC 8441).
  auto join = [](khz::RequestContext& ctx) {
    if (!valid_name(ctx.query("name"))) {
      ctx.string(400, "name: 1 to 32 of A-Z a-z 0-9 _ -\n");
      return;
    }
    ctx.websocket(member, {.max_message_bytes = kMaxMessage});
  };
  server.get("/chat", join);
  server.handle("CONNECT", "/chat", join);
  std::printf("chat on http://127.0.0.1:%s\n", port.c_str());
  std::fflush(stdout);
  server.spin();
}
