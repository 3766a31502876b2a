// SPDX-License-Identifier: Apache-2.0
// WebSocket end to end, on every transport: khz's client against khz's server (echo of text
// and binary, empty and large messages, fragments both ways, limits → 1009, close codes both
// ways, keepalive, backpressure with a slow peer, permessage-deflate with each parameter, wss,
// through a CONNECT proxy, cancellation), and raw sockets for what a correct client never sends
// (bad handshakes, invalid UTF-8 → 1007, unmasked frames → 1002, a peer that never pongs).
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/app/websocket.h>
#include <khz/common/cancel.h>
#include <khz/protocol/websocket.h>
#include <khz/protocol/websocket_handshake.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include "support/connect_proxy.h"
#include "support/raw_client.h"
#include "support/script_server.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::WebSocket;
using khz::WebSocketMessage;
using khz::WebSocketOptions;
using khz::test::RawClient;
using khz::test::TestServer;
namespace ws = khz::protocol::websocket;

namespace {

khz::ClientOptions client_options(const std::string& transport) {
  khz::ClientOptions o;
  o.transport = transport;
  o.proxy_from_environment = false;
  o.dial_timeout = 2s;
  return o;
}

// Runs `body` as a coroutine on a loop of `transport` driven by this thread.
void run_on(const std::string& transport, std::function<khz::Task<void>()> body) {
  auto loop = khz::transport::ClientLoop::make_on_caller(transport);
  loop->run(std::move(body));
}

std::string ws_url(const TestServer& ts, std::string_view path) { return "ws://127.0.0.1:" + std::to_string(ts.port()) + std::string(path); }

// Echoes each message as the same type until the peer closes.
khz::Task<> echo(WebSocket& socket) {
  for (;;) {
    auto m = co_await socket.receive();
    if (!m) co_return;
    auto sent = co_await socket.send(*m);
    if (!sent) co_return;
  }
}

// The same, receiving every message into one kept message (receive(into)).
khz::Task<> echo_reusing(WebSocket& socket) {
  WebSocketMessage m;
  for (;;) {
    auto got = co_await socket.receive(m);
    if (!got) co_return;
    auto sent = co_await socket.send(m);
    if (!sent) co_return;
  }
}

// On every transport, with the server's permessage-deflate off and on: serves `handler` at
// /echo and runs `body` with a client socket to it (the client offers permessage-deflate).
void with_echo_socket(khz::Task<> (*handler)(WebSocket&),
                      const std::function<khz::Task<>(WebSocket&, bool deflate)>& body) {
  for (const auto& transport : khz::test::transports()) {
    for (bool deflate : {false, true}) {
      DYNAMIC_SECTION("transport " << transport << " deflate " << deflate) {
        TestServer ts(transport);
        ts.server.websocket("/echo", handler, {.permessage_deflate = deflate});
        ts.start();
        khz::Client client(client_options(transport));
        run_on(transport, [&]() -> khz::Task<> {
          const std::string url = ws_url(ts, "/echo");
          const WebSocketOptions options{.permessage_deflate = true};
          auto opened = co_await client.websocket(url, options);
          REQUIRE(opened);
          WebSocket socket = std::move(*opened);
          co_await body(socket, deflate);
        });
      }
    }
  }
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return s;
}

// ---- raw frames for the raw-socket cases

std::string handshake_request(std::string_view path, std::string_view extra = {}) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + std::string(extra) + "\r\n";
}

std::string client_frame(ws::Opcode op, std::string_view payload, bool fin = true, bool masked = true) {
  char head[ws::kMaxHeaderBytes];
  std::uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
  std::size_t n = ws::write_header(head, op, fin, false, payload.size(), masked ? key : nullptr);
  std::string body(payload);
  if (masked) ws::apply_mask(body.data(), body.size(), key, 0);
  return std::string(head, n) + body;
}

struct ServerFrame {
  ws::Opcode opcode;
  std::string payload;
};
std::vector<ServerFrame> server_frames(const std::string& bytes) {
  ws::FrameParser p({.role = ws::Role::client});
  std::vector<ServerFrame> out;
  std::string data, control;
  std::string_view rest = bytes;
  for (;;) {
    auto step = p.feed(rest, data, control);
    rest.remove_prefix(step.consumed);
    if (step.event != ws::FrameParser::Event::frame) break;
    const bool ctl = ws::is_control(p.header().opcode);
    out.push_back({p.header().opcode, ctl ? control : data});
    if (!ctl) data.clear();
  }
  return out;
}

std::uint16_t close_code_of(const ServerFrame& f) {
  ws::ClosePayload c;
  REQUIRE(f.opcode == ws::Opcode::close);
  REQUIRE(!ws::parse_close(f.payload, c));
  return c.code;
}

}  // namespace

TEST_CASE("websocket: echo of text and binary, empty and large messages, with and without permessage-deflate") {
  with_echo_socket(&echo, [](WebSocket& socket, bool deflate) -> khz::Task<> {
    REQUIRE(socket.compressed() == deflate);
    REQUIRE(socket.extensions() == (deflate ? "permessage-deflate" : ""));
    const std::string big = pattern(3 * 1024 * 1024 + 17);
    std::vector<WebSocketMessage> sent{
        {WebSocketMessage::Type::text, "hello"},
        {WebSocketMessage::Type::binary, std::string("\0\x01\xff", 3)},
        {WebSocketMessage::Type::text, ""},
        {WebSocketMessage::Type::text, "κόσμε"},
        {WebSocketMessage::Type::binary, big},
        {WebSocketMessage::Type::text, big},
    };
    for (const auto& m : sent) {
      auto r = co_await socket.send(m);
      REQUIRE(r);
      auto back = co_await socket.receive();
      REQUIRE(back);
      REQUIRE(back->type == m.type);
      REQUIRE(back->data == m.data);
    }
    auto closed = co_await socket.close(4000, "done");
    REQUIRE(closed);
    REQUIRE(socket.close_code() == 4000);  // echoed by the server
  });
}

TEST_CASE("websocket: receive into a kept message: each message whole, nothing left from a longer one before") {
  with_echo_socket(&echo_reusing, [](WebSocket& socket, bool) -> khz::Task<> {
    const std::string big = pattern(200 * 1024 + 3);
    std::vector<WebSocketMessage> sent{
        {WebSocketMessage::Type::binary, big},
        {WebSocketMessage::Type::text, "short"},
        {WebSocketMessage::Type::text, ""},
        {WebSocketMessage::Type::binary, pattern(5000)},
        {WebSocketMessage::Type::text, "κόσμε"},
        {WebSocketMessage::Type::binary, std::string("\0\x01", 2)},
    };
    WebSocketMessage back{WebSocketMessage::Type::binary, "stale bytes the first receive replaces"};
    for (const auto& m : sent) {
      auto r = co_await socket.send(m);
      REQUIRE(r);
      auto got = co_await socket.receive(back);
      REQUIRE(got);
      REQUIRE(back.type == m.type);
      REQUIRE(back.data == m.data);
    }
    auto closed = co_await socket.close(4000, "done");
    REQUIRE(closed);
    auto after = co_await socket.receive(back);  // the session is over: an error, not a message
    REQUIRE(!after);
    REQUIRE(after.error() == ws::errc::closed);
  });
}

TEST_CASE("websocket: fragments both ways (streamed messages), control frames between them") {
  for (const auto& transport : khz::test::transports()) {
    for (bool deflate : {false, true}) {
      DYNAMIC_SECTION("transport " << transport << " deflate " << deflate) {
        TestServer ts(transport);
        // Streams back each message in 1000-byte pieces, with a ping between pieces.
        ts.server.websocket("/chunks", [](WebSocket& socket) -> khz::Task<> {
          for (;;) {
            auto m = co_await socket.receive();
            if (!m) co_return;
            auto w = socket.stream(m->type);
            for (std::size_t off = 0; off < m->data.size(); off += 1000) {
              auto r = co_await w.write(std::string_view(m->data).substr(off, 1000));
              if (!r) co_return;
              auto p = co_await socket.ping("between");
              if (!p) co_return;
            }
            auto f = co_await w.finish();
            if (!f) co_return;
          }
        }, {.permessage_deflate = deflate});
        ts.start();
        khz::Client client(client_options(transport));
        run_on(transport, [&]() -> khz::Task<> {
          const std::string opened_url = ws_url(ts, "/chunks");
          auto opened = co_await client.websocket(opened_url);
          REQUIRE(opened);
          WebSocket socket = std::move(*opened);
          const std::string text = pattern(10500);
          auto w = socket.stream(WebSocket::Type::text);
          for (std::size_t off = 0; off < text.size(); off += 777) {
            auto r = co_await w.write(std::string_view(text).substr(off, 777));
            REQUIRE(r);
          }
          auto f = co_await w.finish("!");
          REQUIRE(f);
          auto back = co_await socket.receive();
          REQUIRE(back);
          REQUIRE(back->is_text());
          REQUIRE(back->data == text + "!");
          (void)co_await socket.close();
        });
      }
    }
  }
}

TEST_CASE("websocket: limits close with 1009; close codes and reasons both ways") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer ts(transport);
      std::mutex mutex;
      std::vector<std::pair<std::uint16_t, std::string>> seen;  // what the server's receive saw
      std::vector<std::error_code> errors;
      auto recorder = [&](WebSocket& socket) -> khz::Task<> {
        for (;;) {
          auto m = co_await socket.receive();
          if (!m) {
            std::lock_guard lock(mutex);
            errors.push_back(m.error());
            seen.emplace_back(socket.close_code(), std::string(socket.close_reason()));
            co_return;
          }
          if (m->data == "close please") {
            (void)co_await socket.close(4001, "as asked");
            co_return;
          }
        }
      };
      ts.server.websocket("/small", recorder, {.max_message_bytes = 1000});
      ts.start();
      khz::Client client(client_options(transport));
      run_on(transport, [&]() -> khz::Task<> {
        // Over the server's limit: the server fails the connection with 1009.
        const std::string a_url = ws_url(ts, "/small");
        auto a = co_await client.websocket(a_url);
        REQUIRE(a);
        const std::string over(1001, 'x');
        auto sent = co_await a->send_binary(over);
        REQUIRE(sent);
        auto r = co_await a->receive();
        REQUIRE(!r);
        REQUIRE(r.error() == ws::errc::closed);
        REQUIRE(a->close_code() == ws::close_code::message_too_big);
        // Our own limit: the client fails it with 1009 and the server sees that code.
        const std::string b_url = ws_url(ts, "/small");
        const WebSocketOptions b_options{.max_message_bytes = 10};
        auto b = co_await client.websocket(b_url, b_options);
        REQUIRE(b);
        // The server never sends 11 bytes by itself; ask it to close with a long reason instead.
        auto asked = co_await b->send_text("close please");
        REQUIRE(asked);
        auto r2 = co_await b->receive();
        REQUIRE(!r2);
        REQUIRE(r2.error() == ws::errc::closed);
        REQUIRE(b->close_code() == 4001);
        REQUIRE(b->close_reason() == "as asked");
        // A client close with a code and a reason reaches the server's handler.
        const std::string c_url = ws_url(ts, "/small");
        auto c = co_await client.websocket(c_url);
        REQUIRE(c);
        auto closed = co_await c->close(4002, "bye now");
        REQUIRE(closed);
        REQUIRE(!c->is_open());
      });
      (void)khz::test::eventually([&] { std::lock_guard lock(mutex); return seen.size() >= 2; }, 3s);
      std::lock_guard lock(mutex);
      REQUIRE(errors[0] == ws::errc::message_too_large);
      bool saw_client_close = false;
      for (const auto& [code, reason] : seen) saw_client_close = saw_client_close || (code == 4002 && reason == "bye now");
      REQUIRE(saw_client_close);
    }
  }
}

TEST_CASE("websocket: a client with a small limit fails the connection with 1009") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer ts(transport);
      std::atomic<int> server_code{0};
      ts.server.websocket("/big", [&](WebSocket& socket) -> khz::Task<> {
        const std::string hundred(100, 'b');
        (void)co_await socket.send_text(hundred);
        auto m = co_await socket.receive();
        if (!m) server_code = socket.close_code();
      });
      ts.start();
      khz::Client client(client_options(transport));
      run_on(transport, [&]() -> khz::Task<> {
        const std::string s_url = ws_url(ts, "/big");
        const WebSocketOptions s_options{.max_message_bytes = 10};
        auto s = co_await client.websocket(s_url, s_options);
        REQUIRE(s);
        auto r = co_await s->receive();
        REQUIRE(!r);
        REQUIRE(r.error() == ws::errc::message_too_large);
      });
      (void)khz::test::eventually([&] { return server_code.load() != 0; }, 3s);
      REQUIRE(server_code.load() == ws::close_code::message_too_big);
    }
  }
}

TEST_CASE("websocket: bad handshakes get 400, 426 or 403 with a reason") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer ts(transport);
      ts.server.websocket("/ws", &echo, {.allowed_origins = {"https://good.example"}});
      ts.start();
      struct Case {
        std::string request;
        int status;
        const char* header;
        const char* value;
      };
      const std::string key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
      std::vector<Case> cases{
          {"GET /ws HTTP/1.1\r\nHost: t\r\n\r\n", 426, "Upgrade", "websocket"},
          {"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, nullptr, nullptr},
          {"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, nullptr, nullptr},
          {"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n" + key + "Sec-WebSocket-Version: 13\r\n\r\n", 400, nullptr, nullptr},
          {"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "Sec-WebSocket-Version: 8\r\n\r\n", 426,
           "Sec-WebSocket-Version", "13"},
          {"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "\r\n", 426, "Sec-WebSocket-Version", "13"},
          {handshake_request("/ws", "Origin: https://evil.example\r\n"), 403, nullptr, nullptr},
          {handshake_request("/ws"), 403, nullptr, nullptr},  // no Origin at all, with a list
          {handshake_request("/ws", "Origin: https://GOOD.example\r\n"), 101, "Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
      };
      for (const auto& c : cases) {
        INFO(c.request);
        RawClient raw(ts.port());
        raw.send(c.request);
        std::string head = raw.read_response(c.status == 101);
        REQUIRE(khz::test::status_of(head) == c.status);
        if (c.header != nullptr) REQUIRE(khz::test::header_of(head, c.header) == c.value);
      }
    }
  }
}

TEST_CASE("websocket: invalid UTF-8 closes with 1007, unmasked and reserved frames with 1002") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer ts(transport);
      ts.server.websocket("/ws", &echo, {.permessage_deflate = false});
      ts.start();
      struct Case {
        const char* name;
        std::string frames;
        std::uint16_t code;
      };
      std::vector<Case> cases{
          {"invalid UTF-8", client_frame(ws::Opcode::text, "ok \xC0\xAF"), ws::close_code::invalid_payload},
          // Refused at the first fragment, before the message is complete.
          {"invalid UTF-8 in a first fragment", client_frame(ws::Opcode::text, "\xED\xA0\x80", false),
           ws::close_code::invalid_payload},
          {"a text cut inside a sequence", client_frame(ws::Opcode::text, "\xCE"), ws::close_code::invalid_payload},
          {"invalid close reason", client_frame(ws::Opcode::close, std::string("\x03\xE8\xFF", 3)), ws::close_code::invalid_payload},
          {"unmasked frame", client_frame(ws::Opcode::text, "hi", true, false), ws::close_code::protocol_error},
          {"reserved opcode", client_frame(static_cast<ws::Opcode>(3), ""), ws::close_code::protocol_error},
          {"close code 1005 on the wire", client_frame(ws::Opcode::close, std::string("\x03\xED", 2)), ws::close_code::protocol_error},
      };
      for (const auto& c : cases) {
        INFO(c.name);
        RawClient raw(ts.port());
        raw.send(handshake_request("/ws"));
        REQUIRE(khz::test::status_of(raw.read_response(true)) == 101);
        raw.send(c.frames);
        auto frames = server_frames(raw.read_until_close());
        REQUIRE(!frames.empty());
        REQUIRE(close_code_of(frames.back()) == c.code);
      }
    }
  }
}

TEST_CASE("websocket: keepalive pings; a peer that never answers is closed") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer ts(transport);
      std::atomic<int> outcome{0};  // 1: keepalive_timeout
      ts.server.websocket("/ws", [&](WebSocket& socket) -> khz::Task<> {
        auto m = co_await socket.receive();
        outcome = !m && m.error() == ws::errc::keepalive_timeout ? 1 : 2;
      }, {.ping_interval = 100ms, .pong_timeout = 80ms});
      ts.server.websocket("/alive", [&](WebSocket& socket) -> khz::Task<> {
        auto m = co_await socket.receive();  // the client's "done", 400 ms of pings later
        if (m) (void)co_await socket.send(*m);
      }, {.ping_interval = 50ms, .pong_timeout = 40ms});
      ts.start();
      // A raw peer reads the pings and never pongs: closed after about 180 ms.
      RawClient raw(ts.port());
      raw.send(handshake_request("/ws"));
      REQUIRE(khz::test::status_of(raw.read_response(true)) == 101);
      const auto t0 = std::chrono::steady_clock::now();
      auto frames = server_frames(raw.read_until_close());
      const auto waited = std::chrono::steady_clock::now() - t0;
      REQUIRE(!frames.empty());
      REQUIRE(frames.front().opcode == ws::Opcode::ping);
      REQUIRE(waited < 2s);
      (void)khz::test::eventually([&] { return outcome.load() != 0; }, 2s);
      REQUIRE(outcome.load() == 1);
      // khz's client answers pings while a receive waits: the connection stays up.
      khz::Client client(client_options(transport));
      run_on(transport, [&]() -> khz::Task<> {
        const std::string s_url = ws_url(ts, "/alive");
        auto s = co_await client.websocket(s_url);
        REQUIRE(s);
        // "done" goes out 400 ms later from another coroutine; meanwhile this receive() waits and
        // answers the server's pings (8 rounds of 50 ms), so the server's keepalive holds.
        auto later = [](WebSocket& socket) -> khz::Task<> {
          co_await khz::sleep_for(400ms);
          const std::string done = "done";
          (void)co_await socket.send_text(done);
        };
        khz::spawn(later(*s));
        auto back = co_await s->receive();
        REQUIRE(back);
        REQUIRE(back->data == "done");
        (void)co_await s->close();
      });
    }
  }
}

TEST_CASE("websocket: a slow peer makes send wait (bounded memory)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer ts(transport);
      std::atomic<std::size_t> sent{0};
      std::atomic<bool> stop{false};
      ts.server.websocket("/flood", [&](WebSocket& socket) -> khz::Task<> {
        const std::string chunk = pattern(64 * 1024);
        while (!stop.load()) {
          auto r = co_await socket.send_binary(chunk);
          if (!r) co_return;
          ++sent;
        }
      }, {.permessage_deflate = false, .ping_interval = 0ms});
      ts.start();
      RawClient raw(ts.port());
      raw.send(handshake_request("/flood"));
      REQUIRE(khz::test::status_of(raw.read_response(true)) == 101);
      // The peer reads nothing: the socket buffers fill and the handler stops in send().
      std::this_thread::sleep_for(500ms);
      const std::size_t early = sent.load();
      std::this_thread::sleep_for(500ms);
      const std::size_t later = sent.load();
      INFO("sent " << early << " then " << later << " messages of 64 KiB");
      REQUIRE(later == early);                   // stalled: nothing is queued in memory
      REQUIRE(later * 64 * 1024 < 64u << 20);    // only what the socket buffers hold
      stop = true;
    }
  }
}

TEST_CASE("websocket: permessage-deflate with each parameter") {
  struct Case {
    const char* name;
    ws::DeflateOptions server;
    ws::DeflateOptions client;
    const char* answer;
  };
  std::vector<Case> cases{
      {"defaults", {}, {}, "permessage-deflate"},
      {"server_no_context_takeover (asked by the client)", {}, {.server_no_context_takeover = true},
       "permessage-deflate; server_no_context_takeover"},
      {"client_no_context_takeover (asked by the server)", {.client_no_context_takeover = true}, {},
       "permessage-deflate; client_no_context_takeover"},
      {"server_max_window_bits", {}, {.server_max_window_bits = 10}, "permessage-deflate; server_max_window_bits=10"},
      {"client_max_window_bits", {.client_max_window_bits = 9}, {}, "permessage-deflate; client_max_window_bits=9"},
      {"all of them", {.server_no_context_takeover = true, .client_no_context_takeover = true, .server_max_window_bits = 11, .client_max_window_bits = 12},
       {}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=12"},
  };
  const auto transport = khz::test::transports().front();
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      TestServer ts(transport);
      ts.server.websocket("/echo", &echo, {.deflate = c.server});
      ts.start();
      khz::Client client(client_options(transport));
      run_on(transport, [&]() -> khz::Task<> {
        const std::string s_url = ws_url(ts, "/echo");
        const WebSocketOptions s_options{.deflate = c.client};
        auto s = co_await client.websocket(s_url, s_options);
        REQUIRE(s);
        REQUIRE(s->extensions() == c.answer);
        const std::string text = pattern(200000);
        for (int i = 0; i < 3; ++i) {  // several messages: the contexts carry over (or reset)
          auto r = co_await s->send_text(text);
          REQUIRE(r);
          auto back = co_await s->receive();
          REQUIRE(back);
          REQUIRE(back->data == text);
        }
        (void)co_await s->close();
      });
    }
  }
}

TEST_CASE("websocket: subprotocols, request info in the handler, ctx.websocket") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer ts(transport);
      ts.server.websocket("/rooms/:room", [](WebSocket& socket) -> khz::Task<> {
        const auto& req = socket.request();
        const std::string info = std::string(socket.subprotocol()) + " " + std::string(req.param("room")) + " " +
                                 std::string(req.query("user")) + " " + std::string(req.header("X-Token"));
        (void)co_await socket.send_text(info);
        (void)co_await socket.receive();
      }, {.subprotocols = {"v2.chat", "v1.chat"}});
      ts.server.get("/manual", [](khz::RequestContext& ctx) {
        if (ctx.query("token") != "ok") return ctx.string(401, "no");
        ctx.websocket(&echo);
      });
      ts.start();
      khz::Client client(client_options(transport));
      run_on(transport, [&]() -> khz::Task<> {
        const std::string s_url = ws_url(ts, "/rooms/blue?user=ann");
        const WebSocketOptions s_options{.subprotocols = {"v1.chat", "v2.chat"}, .headers = {{"X-Token", "t0k"}}};
        auto s = co_await client.websocket(s_url, s_options);
        REQUIRE(s);
        REQUIRE(s->subprotocol() == "v2.chat");  // the server's preference
        auto m = co_await s->receive();
        REQUIRE(m);
        REQUIRE(m->data == "v2.chat blue ann t0k");
        (void)co_await s->close();
        const std::string none_url = ws_url(ts, "/rooms/red");
        const WebSocketOptions none_options{.subprotocols = {"v3"}};
        auto none = co_await client.websocket(none_url, none_options);
        REQUIRE(none);
        REQUIRE(none->subprotocol().empty());
        (void)co_await none->close();
        const std::string refused_url = ws_url(ts, "/manual?token=no");
        auto refused = co_await client.websocket(refused_url);
        REQUIRE(!refused);
        REQUIRE(refused.error() == ws::errc::handshake_failed);
        const std::string manual_url = ws_url(ts, "/manual?token=ok");
        auto manual = co_await client.websocket(manual_url);
        REQUIRE(manual);
        auto sent = co_await manual->send_text("x");
        REQUIRE(sent);
        auto back = co_await manual->receive();
        REQUIRE(back);
        REQUIRE(back->data == "x");
        (void)co_await manual->close();
      });
    }
  }
}

TEST_CASE("websocket: wss, and through an HTTP proxy (CONNECT) for ws and wss") {
  const auto& pki = khz::test::TestPki::get();
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer plain(transport);
      plain.server.websocket("/echo", &echo);
      plain.start();
      khz::ServerOptions tls;
      tls.tls_cert_file = pki.alpha_cert;
      tls.tls_key_file = pki.alpha_key;
      TestServer secure(transport, tls);
      secure.server.websocket("/echo", &echo);
      secure.start();
      khz::test::ConnectProxy proxy;
      auto direct = client_options(transport);
      direct.tls_ca_file = pki.ca_cert;
      auto proxied = direct;
      proxied.proxy = "http://127.0.0.1:" + std::to_string(proxy.server.port());
      khz::Client client(direct);
      khz::Client via_proxy(proxied);
      run_on(transport, [&]() -> khz::Task<> {
        const std::string wss = "wss://localhost:" + std::to_string(secure.port()) + "/echo";
        const std::string ws_plain = "ws://localhost:" + std::to_string(plain.port()) + "/echo";
        const std::vector<khz::Client*> clients{&client, &via_proxy};
        const std::vector<std::string> urls{wss, ws_plain};
        for (khz::Client* c : clients) {
          for (const std::string& url : urls) {
            INFO(url << (c == &via_proxy ? " via the proxy" : ""));
            auto s = co_await c->websocket(url);
            REQUIRE(s);
            const std::string text = pattern(100000);
            auto r = co_await s->send_text(text);
            REQUIRE(r);
            auto back = co_await s->receive();
            REQUIRE(back);
            REQUIRE(back->data == text);
            (void)co_await s->close();
          }
        }
      });
      REQUIRE(proxy.count() == 2);
    }
  }
}

TEST_CASE("websocket client: handshake timeout and cancellation") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      // A server that accepts and never answers.
      khz::test::ScriptServer silent([](khz::test::ScriptServer::Peer& p) { p.hold(3s); });
      khz::Client client(client_options(transport));
      run_on(transport, [&]() -> khz::Task<> {
        const std::string url = "ws://127.0.0.1:" + std::to_string(silent.port()) + "/";
        const auto t0 = std::chrono::steady_clock::now();
        const std::string s_url = url;
        const WebSocketOptions s_options{.handshake_timeout = 200ms};
        auto s = co_await client.websocket(s_url, s_options);
        REQUIRE(!s);
        REQUIRE(s.error() == khz::transport::errc::timed_out);
        REQUIRE(std::chrono::steady_clock::now() - t0 < 2s);
        // The ambient cancel signal stops it.
        khz::CancelSignal signal;
        khz::transport::LoopTimer timer;
        timer.start(100ms, [](void* sig) { static_cast<khz::CancelSignal*>(sig)->trigger(); }, &signal);
        khz::Task<khz::Result<WebSocket>> attempt = client.websocket(url, {.handshake_timeout = 5s});
        attempt.set_cancel_signal(&signal);
        const auto t1 = std::chrono::steady_clock::now();
        auto c = co_await std::move(attempt);
        REQUIRE(!c);
        REQUIRE(c.error() == khz::client::errc::cancelled);
        REQUIRE(std::chrono::steady_clock::now() - t1 < 2s);
      });
    }
  }
}

TEST_CASE("websocket: a graceful server shutdown closes open sessions with 1001") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::ServerOptions options;
      options.exit_wait_timeout = 10s;
      auto ts = std::make_unique<TestServer>(transport, options);
      ts->server.websocket("/echo", &echo);
      ts->start();
      RawClient raw(ts->port());
      raw.send(handshake_request("/echo"));
      REQUIRE(khz::test::status_of(raw.read_response(true)) == 101);
      const auto t0 = std::chrono::steady_clock::now();
      std::thread stopper([&] { ts.reset(); });   // shutdown: drains, then stops
      auto frames = server_frames(raw.read_until_close());
      stopper.join();
      REQUIRE(std::chrono::steady_clock::now() - t0 < 5s);  // not the 10 s drain deadline
      REQUIRE(!frames.empty());
      REQUIRE(close_code_of(frames.back()) == ws::close_code::going_away);
    }
  }
}

TEST_CASE("websocket: a GET over HTTP/2 is refused with 400 (RFC 8441 opens with CONNECT)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer ts(transport);
      ts.server.websocket("/ws", &echo);
      ts.start();
      auto o = client_options(transport);
      o.http2_prior_knowledge = true;
      khz::BlockingClient c(o);
      auto r = c.get("http://127.0.0.1:" + std::to_string(ts.port()) + "/ws");
      REQUIRE(r);
      REQUIRE(r->status() == 400);
      REQUIRE(r->body() == "a WebSocket over HTTP/2 is opened with an extended CONNECT (:protocol websocket)\n");
    }
  }
}

TEST_CASE("websocket client: refuses a server answer it cannot trust") {
  struct Case {
    const char* name;
    std::string answer;  // after the status line; "{accept}" is replaced with the right key
  };
  std::vector<Case> cases{
      {"not 101", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {"wrong Sec-WebSocket-Accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"},
      {"no Upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"},
      {"a subprotocol not offered", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: other\r\n\r\n"},
      {"an extension not offered", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: x-unknown\r\n\r\n"},
  };
  const auto transport = khz::test::transports().front();
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      khz::test::ScriptServer server([&](khz::test::ScriptServer::Peer& p) {
        std::string head = p.read_head();
        const std::string key = khz::test::header_of(head, "Sec-WebSocket-Key");
        std::string answer = c.answer;
        if (auto at = answer.find("{accept}"); at != std::string::npos) answer.replace(at, 8, ws::accept_key(key));
        p.send(answer);
        p.hold(1s);
      });
      khz::Client client(client_options(transport));
      run_on(transport, [&]() -> khz::Task<> {
        const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/";
        const WebSocketOptions options{.subprotocols = {"chat"}, .permessage_deflate = false};
        auto s = co_await client.websocket(url, options);
        REQUIRE(!s);
        REQUIRE(s.error() == ws::errc::handshake_failed);
      });
    }
  }
}
