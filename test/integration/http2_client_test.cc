// SPDX-License-Identifier: Apache-2.0
// Http2ClientConnection (protocol layer) end to end: against khz's own HTTP/2 server over h2c on
// every transport (100 concurrent streams on one connection, 8 MiB bodies both ways with flow
// control, receive-window backpressure, the server's stream limit, cancelling one stream), and
// against raw scripted servers writing frames by hand (REFUSED_STREAM, other resets, GOAWAY
// mid-flight, a close mid-response, oversized heads, no :status, content-length mismatch, a body
// over the limit, trailers and 1xx, malformed fields in a head or trailers, a silent server): each
// ends in the right error, never a hang.
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/protocol/error.h>
#include <khz/protocol/http2_client.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include "support/script_server.h"
#include "support/test_server.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::Http2ClientConnection;
using khz::Http2ClientOptions;
using khz::Http2Stream;
using khz::Request;
using khz::Response;
using khz::Task;
using khz::test::ScriptServer;
using Clock = std::chrono::steady_clock;

namespace {

Clock::time_point in(std::chrono::milliseconds d) { return Clock::now() + d; }

Request get_request(std::string_view path, std::string_view method = "GET") {
  Request r;
  r.set_method(method);
  r.set_target(path);
  r.headers().add("Host", "127.0.0.1");
  r.headers().add("Connection", "keep-alive");  // connection-specific: must not be sent
  r.headers().add("X-Test", "yes");
  return r;
}

Task<std::unique_ptr<Http2ClientConnection>> connect(std::uint16_t port, Http2ClientOptions o = {}) {
  auto conn = co_await khz::transport::dial("127.0.0.1", port, 2s);
  REQUIRE(conn);
  co_return Http2ClientConnection::make(std::move(*conn), o);
}

// One exchange: GET `path`, the whole response.
struct Outcome {
  std::error_code ec;
  Response resp;
};
Task<void> fetch(Http2ClientConnection* c, std::string path, Outcome* out, std::atomic<int>* left) {
  if (auto ec = co_await c->wait_for_slot(in(5s))) {
    out->ec = ec;
  } else {
    Request r = get_request(path);
    auto s = c->open(r, out->resp, {.scheme = "http", .authority = "127.0.0.1"});
    if (!s) {
      out->ec = s.error();
    } else {
      out->ec = co_await s->read_head(in(5s));
      if (!out->ec) out->ec = co_await s->read_all(in(5s));
    }
  }
  --*left;
}

// Waits (on the loop) until `left` reaches zero.
Task<void> until_zero(std::atomic<int>& left, std::chrono::milliseconds limit = 10s) {
  auto end = in(limit);
  while (left.load() > 0 && Clock::now() < end) co_await khz::sleep_for(1ms);
  REQUIRE(left.load() == 0);
}

// ---- raw HTTP/2 frames for the scripted servers
std::string frame(int type, int flags, std::uint32_t sid, std::string_view payload = {}) {
  std::string f;
  std::size_t n = payload.size();
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift : {24, 16, 8, 0}) f.push_back(static_cast<char>((sid >> shift) & 0xff));
  f.append(payload);
  return f;
}
enum { DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, GOAWAY = 7, WINDOW_UPDATE = 8 };
enum { END_STREAM = 1, ACK = 1, END_HEADERS = 4 };

void hpack_int(std::string& out, std::size_t v, int prefix_bits, unsigned char first) {
  std::size_t max = (1u << prefix_bits) - 1;
  if (v < max) {
    out.push_back(static_cast<char>(first | v));
    return;
  }
  out.push_back(static_cast<char>(first | max));
  v -= max;
  while (v >= 128) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
// Literal fields without indexing, no Huffman (RFC 7541 §6.2.2).
std::string hpack(std::vector<std::pair<std::string, std::string>> fields) {
  std::string out;
  for (auto& [n, v] : fields) {
    out.push_back(0);
    hpack_int(out, n.size(), 7, 0);
    out += n;
    hpack_int(out, v.size(), 7, 0);
    out += v;
  }
  return out;
}
std::string u32(std::uint32_t v) {
  std::string s;
  for (int shift : {24, 16, 8, 0}) s.push_back(static_cast<char>((v >> shift) & 0xff));
  return s;
}

// The server side of a raw connection: reads the preface and frames, answers SETTINGS.
struct RawH2 {
  ScriptServer::Peer& p;
  std::vector<std::uint32_t> opened;  // stream ids of the requests seen, in order
  bool closed = false;
  explicit RawH2(ScriptServer::Peer& peer, std::string settings = {}) : p(peer) {
    if (p.read_exact(24) != "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") closed = true;
    p.send(frame(SETTINGS, 0, 0, settings));
  }
  // Reads frames until `n` requests were opened (false on close/timeout).
  bool wait_requests(std::size_t n) {
    while (opened.size() < n) {
      std::string h = p.read_exact(9);
      if (h.size() != 9) return false;
      std::size_t len = (std::size_t(std::uint8_t(h[0])) << 16) | (std::size_t(std::uint8_t(h[1])) << 8) | std::uint8_t(h[2]);
      int type = std::uint8_t(h[3]);
      int flags = std::uint8_t(h[4]);
      std::uint32_t sid = (std::uint32_t(std::uint8_t(h[5])) << 24 | std::uint32_t(std::uint8_t(h[6])) << 16 |
                           std::uint32_t(std::uint8_t(h[7])) << 8 | std::uint8_t(h[8])) & 0x7fffffff;
      if (len > 0 && p.read_exact(len).size() != len) return false;
      if (type == SETTINGS && !(flags & ACK)) p.send(frame(SETTINGS, ACK, 0));
      if (type == HEADERS) opened.push_back(sid);
    }
    return true;
  }
  void head(std::uint32_t sid, std::vector<std::pair<std::string, std::string>> fields, bool end = false) {
    p.send(frame(HEADERS, END_HEADERS | (end ? END_STREAM : 0), sid, hpack(std::move(fields))));
  }
  void data(std::uint32_t sid, std::string_view bytes, bool end = false) {
    p.send(frame(DATA, end ? END_STREAM : 0, sid, bytes));
  }
};

// One GET against a scripted server; returns the outcome of head + whole body.
Outcome raw_get(const ScriptServer& s, Http2ClientOptions o = {}) {
  Outcome out;
  auto loop = khz::transport::ClientLoop::make("");
  loop->run([&]() -> Task<void> {
    auto c = co_await connect(s.port(), o);
    std::atomic<int> left{1};
    spawn(fetch(c.get(), "/", &out, &left));
    co_await until_zero(left);
    c.reset();
    co_await khz::sleep_for(5ms);  // let the session's coroutines see the close
  });
  return out;
}

void h2_routes(khz::Server& s, std::atomic<int>& busy, std::atomic<int>& peak) {
  s.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong " + std::string(c.header("X-Test")) + " " +
                                                                 std::string(c.header("Connection"))); });
  s.get("/slow/:ms", [&busy, &peak](khz::RequestContext& c) -> Task<> {
    int now = ++busy;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    co_await khz::sleep_for(std::chrono::milliseconds(std::stoi(std::string(c.param("ms")))));
    --busy;
    c.string(200, "slept");
  });
  s.get("/big/:n", [](khz::RequestContext& c) {
    std::string body(std::stoul(std::string(c.param("n"))), 'b');
    for (std::size_t i = 0; i < body.size(); i += 4096) body[i] = static_cast<char>('a' + (i / 4096) % 26);
    c.data(200, "application/octet-stream", body);
  });
  s.post("/count", [](khz::RequestContext& c) -> Task<> {
    std::size_t n = 0;
    std::size_t sum = 0;
    for (;;) {
      auto piece = co_await c.read_body_chunk();
      if (!piece) {
        c.string(400, "broken");
        co_return;
      }
      if (piece->empty()) break;
      n += piece->size();
      for (char ch : *piece) sum += static_cast<unsigned char>(ch);
    }
    c.string(200, std::to_string(n) + " " + std::to_string(sum));
  }).stream_body();
  s.post("/echo", [](khz::RequestContext& c) { c.data(200, "application/octet-stream", c.body()); });
  s.get("/stream/:n", [](khz::RequestContext& c) -> Task<> {
    std::size_t n = std::stoul(std::string(c.param("n")));
    std::string piece(64 * 1024, 's');
    for (std::size_t sent = 0; sent < n; sent += piece.size()) {
      if (!co_await c.write(piece)) co_return;
    }
  });
}

}  // namespace

TEST_CASE("http2 client: against khz's HTTP/2 server (h2c)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::ServerOptions so;
      so.http2.max_body_bytes = 16 * 1024 * 1024;
      so.http2.initial_window_size = 256 * 1024;
      khz::test::TestServer server(transport, so);
      std::atomic<int> busy{0};
      std::atomic<int> peak{0};
      h2_routes(server.server, busy, peak);
      server.start();
      auto loop = khz::transport::ClientLoop::make(transport);

      SECTION("100 concurrent streams on one connection") {
        loop->run([&]() -> Task<void> {
          auto c = co_await connect(server.port());
          std::vector<Outcome> out(100);
          std::atomic<int> left{100};
          for (int i = 0; i < 100; ++i) spawn(fetch(c.get(), i % 2 ? "/ping" : "/slow/50", &out[i], &left));
          co_await until_zero(left);
          for (int i = 0; i < 100; ++i) {
            INFO("stream " << i);
            REQUIRE_FALSE(out[i].ec);
            CHECK(out[i].resp.status() == 200);
            CHECK(out[i].resp.body() == (i % 2 ? "pong yes " : "slept"));  // Connection never sent
          }
          CHECK(peak.load() > 1);  // they really overlapped
          CHECK(c->active_streams() == 0);
          CHECK(c->can_open_stream());
          CHECK_FALSE(c->closed());
          c.reset();  // the session ends once its coroutines saw the close: give them a turn
          co_await khz::sleep_for(5ms);
        });
      }

      SECTION("8 MiB request body streamed with flow control, 8 MiB response") {
        loop->run([&]() -> Task<void> {
          auto c = co_await connect(server.port());
          const std::size_t total = 8 * 1024 * 1024;
          std::string piece(100 * 1000, '\0');
          for (std::size_t i = 0; i < piece.size(); ++i) piece[i] = static_cast<char>(i * 7);
          std::size_t want_sum = 0;
          std::size_t sent = 0;
          {
            auto ec_ = co_await c->wait_for_slot(in(5s));
            REQUIRE_FALSE(ec_);
          }
          Request r = get_request("/count", "POST");
          Response resp;
          auto s = c->open(r, resp, {.scheme = "http", .streamed_body = true});
          REQUIRE(s);
          while (sent < total) {
            std::string_view p(piece.data(), std::min(piece.size(), total - sent));
            for (char ch : p) want_sum += static_cast<unsigned char>(ch);
            {
              auto ec_ = co_await s->write(p, in(10s));
              REQUIRE_FALSE(ec_);
            }
            sent += p.size();
          }
          {
            auto ec_ = co_await s->write_end(in(5s));
            REQUIRE_FALSE(ec_);
          }
          {
            auto ec_ = co_await s->read_head(in(10s));
            REQUIRE_FALSE(ec_);
          }
          {
            auto ec_ = co_await s->read_all(in(10s));
            REQUIRE_FALSE(ec_);
          }
          CHECK(resp.status() == 200);
          CHECK(resp.body() == std::to_string(total) + " " + std::to_string(want_sum));

          // A whole 8 MiB body sent with the head, echoed back.
          std::string big(total, 'x');
          for (std::size_t i = 0; i < big.size(); i += 1000) big[i] = static_cast<char>('0' + i % 10);
          {
            auto ec_ = co_await c->wait_for_slot(in(5s));
            REQUIRE_FALSE(ec_);
          }
          Request e = get_request("/echo", "POST");
          Response echoed;
          auto s2 = c->open(e, echoed, {.scheme = "http", .body = big});
          REQUIRE(s2);
          {
            auto ec_ = co_await s2->read_head(in(10s));
            REQUIRE_FALSE(ec_);
          }
          {
            auto ec_ = co_await s2->read_all(in(10s));
            REQUIRE_FALSE(ec_);
          }
          CHECK(echoed.status() == 200);
          CHECK(echoed.body().size() == big.size());
          CHECK(echoed.body() == big);

          Outcome down;
          std::atomic<int> left{1};
          spawn(fetch(c.get(), "/big/" + std::to_string(total), &down, &left));
          co_await until_zero(left);
          REQUIRE_FALSE(down.ec);
          CHECK(down.resp.body().size() == total);
          CHECK(down.resp.body().substr(4096, 1) == "b");
          c.reset();  // the session ends once its coroutines saw the close: give them a turn
          co_await khz::sleep_for(5ms);
        });
      }

      SECTION("the receive window opens only as the caller reads") {
        loop->run([&]() -> Task<void> {
          Http2ClientOptions o;
          o.initial_window_size = 128 * 1024;
          auto c = co_await connect(server.port(), o);
          {
            auto ec_ = co_await c->wait_for_slot(in(5s));
            REQUIRE_FALSE(ec_);
          }
          Request r = get_request("/stream/4194304");
          Response resp;
          auto s = c->open(r, resp, {.scheme = "http"});
          REQUIRE(s);
          {
            auto ec_ = co_await s->read_head(in(5s));
            REQUIRE_FALSE(ec_);
          }
          co_await khz::sleep_for(300ms);  // not reading: the server must stop at the window
          CHECK(resp.body().size() <= 128 * 1024);
          std::size_t got = 0;
          while (!s->body_done()) {
            {
              auto ec_ = co_await s->read_body(in(5s));
              REQUIRE_FALSE(ec_);
            }
            got += resp.body().size();
            resp.body_buffer().clear();
          }
          CHECK(got == 4194304);
          // Meanwhile other streams on the connection are not held back.
          Outcome other;
          std::atomic<int> left{1};
          spawn(fetch(c.get(), "/ping", &other, &left));
          co_await until_zero(left);
          CHECK_FALSE(other.ec);
          c.reset();  // the session ends once its coroutines saw the close: give them a turn
          co_await khz::sleep_for(5ms);
        });
      }

      SECTION("the server's SETTINGS_MAX_CONCURRENT_STREAMS is respected") {
        // A second server whose limit is 3.
        khz::ServerOptions limited;
        limited.http2.max_concurrent_streams = 3;
        khz::test::TestServer small(transport, limited);
        std::atomic<int> busy2{0};
        std::atomic<int> peak2{0};
        h2_routes(small.server, busy2, peak2);
        small.start();
        loop->run([&]() -> Task<void> {
          auto c = co_await connect(small.port());
          co_await khz::sleep_for(20ms);  // the server's SETTINGS are in
          CHECK(c->stream_limit() == 3);
          std::vector<Outcome> out(12);
          std::atomic<int> left{12};
          for (int i = 0; i < 12; ++i) spawn(fetch(c.get(), "/slow/30", &out[i], &left));
          co_await until_zero(left);
          for (auto& o : out) CHECK_FALSE(o.ec);
          CHECK(peak2.load() <= 3);
          CHECK(peak2.load() >= 2);
          c.reset();  // the session ends once its coroutines saw the close: give them a turn
          co_await khz::sleep_for(5ms);
        });
      }

      SECTION("streams cancelled and dropped before their HEADERS went out cost the connection nothing") {
        loop->run([&]() -> Task<void> {
          auto c = co_await connect(server.port());
          {
            auto ec_ = co_await c->wait_for_slot(in(5s));
            REQUIRE_FALSE(ec_);
          }
          for (int i = 0; i < 20; ++i) {
            Request r = get_request("/ping");
            Response resp;
            auto s = c->open(r, resp, {.scheme = "http"});
            REQUIRE(s);
            s->cancel();  // its HEADERS are still queued: they must never go out after an RST
          }  // the handle goes too, before the writer's turn: nothing may reach the server for a stream it never saw
          co_await khz::sleep_for(50ms);
          std::vector<Outcome> out(1);
          std::atomic<int> left{1};
          spawn(fetch(c.get(), "/ping", &out[0], &left));
          co_await until_zero(left);
          CHECK_FALSE(out[0].ec);
          CHECK(out[0].resp.status() == 200);
          CHECK_FALSE(c->goaway_received());
          CHECK_FALSE(c->closed());
          CHECK(c->active_streams() == 0);
          c.reset();  // the session ends once its coroutines saw the close: give them a turn
          co_await khz::sleep_for(5ms);
        });
      }

      SECTION("cancelling one stream leaves the others alone") {
        loop->run([&]() -> Task<void> {
          auto c = co_await connect(server.port());
          std::vector<Outcome> out(3);
          std::atomic<int> left{3};
          spawn(fetch(c.get(), "/slow/200", &out[0], &left));
          spawn(fetch(c.get(), "/slow/200", &out[2], &left));
          {
            auto ec_ = co_await c->wait_for_slot(in(5s));
            REQUIRE_FALSE(ec_);
          }
          Request r = get_request("/slow/5000");
          Response resp;
          auto s = c->open(r, resp, {.scheme = "http"});
          REQUIRE(s);
          Http2Stream* sp = &*s;
          struct Canceller {
            static Task<void> run(Http2Stream* s) {
              co_await khz::sleep_for(50ms);
              s->cancel();
            }
          };
          spawn(Canceller::run(sp));
          auto t0 = Clock::now();
          auto ec = co_await s->read_head(in(5s));
          CHECK(ec == khz::protocol::errc::cancelled);
          CHECK(Clock::now() - t0 < 1s);
          --left;
          co_await until_zero(left);
          CHECK_FALSE(out[0].ec);
          CHECK_FALSE(out[2].ec);
          CHECK_FALSE(c->closed());
          c.reset();  // the session ends once its coroutines saw the close: give them a turn
          co_await khz::sleep_for(5ms);
        });
      }
    }
  }
}

TEST_CASE("http2 client: connection-specific request fields stay out of HTTP/2 (RFC 9113 §8.2.2)") {
  // khz's server (nghttp2) resets a stream whose request carries one: a field let through
  // fails the exchange; one dropped is missing from the echo.
  const std::string transport = khz::test::transports().front();
  khz::test::TestServer server(transport);
  server.server.get("/fields", [](khz::RequestContext& c) {
    std::string names;
    for (const auto& f : c.request().headers()) names += std::string(f.name) + "=" + std::string(f.value) + "\n";
    c.string(200, names);
  });
  server.start();
  auto loop = khz::transport::ClientLoop::make(transport);
  struct Row {
    std::string name;
    std::string value;
    std::string echoed;  // as the server sees it; "" when the client must drop it
  };
  const std::vector<Row> rows = {
      {"Connection", "keep-alive", ""},
      {"Keep-Alive", "timeout=5", ""},
      {"Proxy-Connection", "keep-alive", ""},
      {"Transfer-Encoding", "chunked", ""},
      {"Upgrade", "h2c", ""},
      {"TE", "trailers", "te=trailers"},
      {"TE", "gzip", ""},
      {"Host", "ignored.example", ""},  // :authority wins
      {"Content-Length", "7", ""},      // no body: the client sets none
      {"Date", "Thu, 01 Jan 1970 00:00:00 GMT", "date=Thu, 01 Jan 1970 00:00:00 GMT"},
      {"Server", "test-client", "server=test-client"},
  };
  loop->run([&]() -> Task<void> {
    auto c = co_await connect(server.port());
    for (const Row& row : rows) {
      INFO(row.name << ": " << row.value);
      {
        auto ec_ = co_await c->wait_for_slot(in(5s));
        REQUIRE_FALSE(ec_);
      }
      Request r;
      r.set_method("GET");
      r.set_target("/fields");
      r.headers().add(row.name, row.value);
      Response resp;
      auto s = c->open(r, resp, {.scheme = "http", .authority = "127.0.0.1"});
      REQUIRE(s);
      {
        auto ec_ = co_await s->read_head(in(5s));
        REQUIRE_FALSE(ec_);
      }
      {
        auto ec_ = co_await s->read_all(in(5s));
        REQUIRE_FALSE(ec_);
      }
      CHECK(resp.status() == 200);
      std::string want = row.echoed.empty() ? "" : row.echoed + "\n";
      want += "Host=127.0.0.1\n";  // from :authority, added last
      CHECK(resp.body() == want);
    }
    c.reset();  // the session ends once its coroutines saw the close: give them a turn
    co_await khz::sleep_for(5ms);
  });
}

TEST_CASE("http2 client: hostile and failing servers") {
  SECTION("REFUSED_STREAM is told apart (safe to retry); other resets are stream_reset") {
    ScriptServer s([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      p.send(frame(RST_STREAM, 0, h.opened[0], u32(7)));  // REFUSED_STREAM
      p.hold(1s);
    });
    CHECK(raw_get(s).ec == khz::protocol::errc::stream_refused);
    ScriptServer s2([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      h.head(h.opened[0], {{":status", "200"}});
      p.send(frame(RST_STREAM, 0, h.opened[0], u32(2)));  // INTERNAL_ERROR
      p.hold(1s);
    });
    CHECK(raw_get(s2).ec == khz::protocol::errc::stream_reset);
  }

  SECTION("a malformed response field ends the exchange with an error, never a response (RFC 9113 §8.2)") {
    const std::vector<std::pair<std::string, std::string>> bad_fields{
        {"x-split", "a\r\nx-injected: 1"}, {"x-nul", std::string("a\0b", 3)}, {"X-Upper", "1"},
        {"connection", "close"}, {"transfer-encoding", "chunked"}, {":path", "/"}, {"x-edge", " padded"},
        {"bad name", "1"}};
    for (const auto& field : bad_fields) {
      INFO("field " << field.first);
      ScriptServer s([&field](ScriptServer::Peer& p) {
        RawH2 h(p);
        if (!h.wait_requests(1)) return;
        h.head(h.opened[0], {{":status", "200"}, field, {"content-length", "2"}});
        h.data(h.opened[0], "ok", true);
        p.hold(1s);
      });
      const Outcome out = raw_get(s);
      CHECK(out.ec);
      CHECK(out.resp.body().empty());
      // The same field in the trailers: the body came, the exchange still fails
      ScriptServer t([&field](ScriptServer::Peer& p) {
        RawH2 h(p);
        if (!h.wait_requests(1)) return;
        h.head(h.opened[0], {{":status", "200"}});
        h.data(h.opened[0], "ok");
        h.head(h.opened[0], {field}, /*end=*/true);
        p.hold(1s);
      });
      CHECK(raw_get(t).ec);
    }
  }

  SECTION("GOAWAY mid-flight: streams above last_stream_id are refused, the rest finish, then it closes") {
    ScriptServer s([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(2)) return;
      p.send(frame(GOAWAY, 0, 0, u32(h.opened[0]) + u32(0)));
      std::this_thread::sleep_for(50ms);
      h.head(h.opened[0], {{":status", "200"}, {"content-length", "2"}});
      h.data(h.opened[0], "ok", true);
      p.hold(1s);
    });
    auto loop = khz::transport::ClientLoop::make("");
    loop->run([&]() -> Task<void> {
      auto c = co_await connect(s.port());
      std::vector<Outcome> out(2);
      std::atomic<int> left{2};
      spawn(fetch(c.get(), "/a", &out[0], &left));
      spawn(fetch(c.get(), "/b", &out[1], &left));
      co_await until_zero(left);
      CHECK_FALSE(out[0].ec);
      CHECK(out[0].resp.body() == "ok");
      CHECK(out[1].ec == khz::protocol::errc::stream_refused);
      CHECK(c->goaway_received());
      CHECK_FALSE(c->can_open_stream());
      CHECK_FALSE(c->usable());
      Request r = get_request("/c");
      Response resp;
      auto s3 = c->open(r, resp, {});
      CHECK(s3.error() == khz::protocol::errc::connection_closed);
      {
        auto ec_ = co_await c->wait_for_slot(in(1s)) == khz::protocol::errc::connection_closed;
        CHECK(ec_);
      }
      auto end = in(2s);
      while (!c->closed() && Clock::now() < end) co_await khz::sleep_for(5ms);
      CHECK(c->closed());  // no stream left: the connection closed by itself
      c.reset();  // the session ends once its coroutines saw the close: give them a turn
      co_await khz::sleep_for(5ms);
    });
  }

  SECTION("the server closes the socket mid-response: truncated_response; before it: the transport error") {
    ScriptServer s([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      h.head(h.opened[0], {{":status", "200"}, {"content-length", "10"}});
      h.data(h.opened[0], "12345");
    });
    CHECK(raw_get(s).ec == khz::protocol::errc::truncated_response);
    ScriptServer s2([](ScriptServer::Peer& p) {
      RawH2 h(p);
      h.wait_requests(1);
    });
    auto ec = raw_get(s2).ec;
    CHECK(ec);
    CHECK(ec != khz::protocol::errc::truncated_response);
  }

  SECTION("oversized response head: header_too_large") {
    ScriptServer s([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      std::vector<std::pair<std::string, std::string>> fields{{":status", "200"}};
      for (int i = 0; i < 40; ++i) fields.emplace_back("x-filler-" + std::to_string(i), std::string(1000, 'f'));
      std::string block = hpack(fields);
      p.send(frame(HEADERS, END_STREAM, h.opened[0], block.substr(0, 16000)));
      for (std::size_t at = 16000; at < block.size(); at += 16000) {
        p.send(frame(9 /* CONTINUATION */, at + 16000 >= block.size() ? END_HEADERS : 0, h.opened[0], block.substr(at, 16000)));
      }
      p.hold(1s);
    });
    Http2ClientOptions o;
    o.max_header_list_size = 16 * 1024;
    CHECK(raw_get(s, o).ec == khz::protocol::errc::header_too_large);
  }

  SECTION("no :status, or a content-length that does not match: malformed_response") {
    ScriptServer s([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      h.head(h.opened[0], {{"content-type", "text/plain"}}, true);
      p.hold(1s);
    });
    CHECK(raw_get(s).ec == khz::protocol::errc::malformed_response);
    ScriptServer s2([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      h.head(h.opened[0], {{":status", "200"}, {"content-length", "10"}});
      h.data(h.opened[0], "123", true);
      p.hold(1s);
    });
    CHECK(raw_get(s2).ec == khz::protocol::errc::malformed_response);
  }

  SECTION("a :status below 100 is malformed, not an interim head: its trailers never become a 200's head") {
    // nghttp2 takes "099" for a final status (not 1xx) and then a HEADERS with END_STREAM for
    // trailers; the client read it as interim and took those trailers for the response's head,
    // with the default status 200 and the DATA before it as the body.
    for (std::string status : {"099", "000", "-99"}) {
      CAPTURE(status);
      ScriptServer s([status](ScriptServer::Peer& p) {
        RawH2 h(p);
        if (!h.wait_requests(1)) return;
        h.head(h.opened[0], {{":status", status}});
        h.data(h.opened[0], "evil");
        h.head(h.opened[0], {{"set-cookie", "sid=attacker"}}, true);
        p.hold(1s);
      });
      auto out = raw_get(s);
      CHECK(out.ec == khz::protocol::errc::malformed_response);
      CHECK(out.resp.header("set-cookie").empty());
    }
  }

  SECTION("a whole response, then the connection closes while the request body waits for window: the write ends at once") {
    // RFC 9113 §8.1: a server may answer before it read the request. When the connection then
    // closed, a stream with a whole response was not failed, so a write waiting for flow-control
    // window was never woken: it waited for its write timeout (forever without one).
    ScriptServer s([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      h.head(h.opened[0], {{":status", "200"}, {"content-length", "4"}});
      h.data(h.opened[0], "done", true);
      std::this_thread::sleep_for(200ms);  // the client takes the response, then meets the close
    });
    auto loop = khz::transport::ClientLoop::make("");
    loop->run([&]() -> Task<void> {
      Http2ClientOptions o;
      o.write_timeout = 0ms;  // no timeout: only the close can end the write
      auto c = co_await connect(s.port(), o);
      Request r = get_request("/upload", "POST");
      Response resp;
      auto opened = c->open(r, resp, {.scheme = "http", .authority = "127.0.0.1", .streamed_body = true});
      REQUIRE(opened);
      Http2Stream stream = std::move(*opened);
      const auto t0 = Clock::now();
      // more than the connection's 65,535-byte window, which this server never opens
      const std::error_code write_ec = co_await stream.write(std::string(200000, 'u'), in(10s));
      CHECK(write_ec);
      CHECK(Clock::now() - t0 < 5s);
      const std::error_code head_ec = co_await stream.read_head(in(1s));
      CHECK_FALSE(head_ec);
      CHECK(resp.status() == 200);
      const std::error_code body_ec = co_await stream.read_all(in(1s));
      CHECK_FALSE(body_ec);
      CHECK(resp.body() == "done");
    });
  }

  SECTION("a body over max_body_bytes: response_too_large") {
    ScriptServer s([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      h.head(h.opened[0], {{":status", "200"}});
      for (int i = 0; i < 4; ++i) h.data(h.opened[0], std::string(10000, 'd'));
      h.data(h.opened[0], "", true);
      p.hold(1s);
    });
    Http2ClientOptions o;
    o.max_body_bytes = 25000;
    CHECK(raw_get(s, o).ec == khz::protocol::errc::response_too_large);
  }

  SECTION("1xx heads are skipped; trailers land in Response::trailers") {
    ScriptServer s([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      h.head(h.opened[0], {{":status", "103"}, {"link", "</a.css>"}});
      h.head(h.opened[0], {{":status", "200"}, {"x-final", "1"}});
      h.data(h.opened[0], "body");
      h.head(h.opened[0], {{"x-checksum", "abc"}}, true);
      p.hold(1s);
    });
    auto out = raw_get(s);
    REQUIRE_FALSE(out.ec);
    CHECK(out.resp.status() == 200);
    CHECK(out.resp.header("x-final") == "1");
    CHECK(out.resp.header("link").empty());
    CHECK(out.resp.body() == "body");
    CHECK(out.resp.trailers().get("x-checksum") == "abc");
  }

  SECTION("a server that goes silent: the read gap ends the stream with timed_out") {
    ScriptServer s([](ScriptServer::Peer& p) {
      RawH2 h(p);
      if (!h.wait_requests(1)) return;
      h.head(h.opened[0], {{":status", "200"}});
      p.hold(3s);
    });
    Http2ClientOptions o;
    o.read_gap = 200ms;
    auto t0 = Clock::now();
    CHECK(raw_get(s, o).ec == khz::transport::errc::timed_out);
    CHECK(Clock::now() - t0 < 2s);
  }
}

namespace {

// Echoes a tunnel's bytes until the client ends its half.
Task<void> echo_tunnel(khz::transport::Connection& c) {
  while (!co_await c.fill(1)) {
    c.input().for_each_segment([&](std::string_view s) { c.output().append(s); });
    c.input().skip(c.input().size());
    c.input().release();
    if (co_await c.flush()) break;
  }
}

}  // namespace

TEST_CASE("http2 client: an extended CONNECT tunnel (RFC 8441), sent only when the server's SETTINGS allow it") {
  for (const auto& transport : khz::test::transports()) {
    for (bool enabled : {true, false}) {
      DYNAMIC_SECTION("transport " << transport << (enabled ? "" : ", server without extended CONNECT")) {
        khz::ServerOptions so;
        so.http2.enable_connect_protocol = enabled;
        khz::test::TestServer server(transport, so);
        server.server.handle("CONNECT", "/echo", [](khz::RequestContext& c) {
          if (c.connect_protocol() != "websocket") return c.string(400, "websocket only");
          c.set_status(200);
          c.hijack(&echo_tunnel);
        });
        server.start();
        auto loop = khz::transport::ClientLoop::make(transport);
        loop->run([&]() -> Task<void> {
          auto c = co_await connect(server.port());
          Request r;
          r.set_method("CONNECT");
          r.set_target("/echo");
          r.set_connect_protocol("websocket");
          Response resp;
          // Before the server's SETTINGS, no extended CONNECT goes out.
          if (!c->settings_received()) {
            auto early = c->open(r, resp, {.scheme = "http", .authority = "127.0.0.1", .streamed_body = true});
            CHECK(!early);
            if (!early) CHECK(early.error() == std::errc::resource_unavailable_try_again);
          }
          {
            auto ec_ = co_await c->wait_for_settings(in(5s));
            REQUIRE_FALSE(ec_);
          }
          CHECK(c->connect_protocol_enabled() == enabled);
          auto s = c->open(r, resp, {.scheme = "http", .authority = "127.0.0.1", .streamed_body = true});
          if (!enabled) {
            REQUIRE_FALSE(s);
            CHECK(s.error() == khz::protocol::errc::connect_protocol_disabled);
            co_return;
          }
          REQUIRE(s);
          {
            auto ec_ = co_await s->read_head(in(5s));
            REQUIRE_FALSE(ec_);
          }
          CHECK(resp.status() == 200);
          CHECK_FALSE(s->body_done());
          // Messages both ways, then 2 MiB through the windows.
          std::string echoed;
          for (int i = 0; i < 20; ++i) {
            std::string msg = "message " + std::to_string(i);
            {
              auto ec_ = co_await s->write(msg, in(5s));
              REQUIRE_FALSE(ec_);
            }
            while (resp.body().size() < msg.size()) {
              auto ec_ = co_await s->read_body(in(5s));
              REQUIRE_FALSE(ec_);
            }
            echoed += resp.body();
            resp.body_buffer().clear();
            CHECK(echoed.substr(echoed.size() - msg.size()) == msg);
          }
          std::string big(2 << 20, 'b');
          std::size_t back = 0;
          std::atomic<int> left{1};
          spawn([](Http2Stream* st, const std::string* data, std::atomic<int>* done) -> Task<void> {
            auto ec = co_await st->write(*data, in(10s));
            CHECK_FALSE(ec);
            --*done;
          }(&*s, &big, &left));
          while (back < big.size()) {
            auto ec_ = co_await s->read_body(in(10s));
            REQUIRE_FALSE(ec_);
            back += resp.body().size();
            resp.body_buffer().clear();
          }
          co_await until_zero(left);
          CHECK(back == big.size());
          // END_STREAM: the server's handler sees eof and ends the stream.
          {
            auto ec_ = co_await s->write_end(in(5s));
            REQUIRE_FALSE(ec_);
          }
          {
            auto ec_ = co_await s->read_all(in(5s));
            REQUIRE_FALSE(ec_);
          }
          CHECK(s->body_done());
          c.reset();
          co_await khz::sleep_for(5ms);
        });
      }
    }
  }
}

TEST_CASE("http2 client: open_tunnel gives an extended CONNECT stream as a transport::Connection") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer server(transport);
      server.server.handle("CONNECT", "/echo", [](khz::RequestContext& c) {
        if (c.connect_protocol() != "websocket") return c.string(400, "websocket only");
        c.upgrade("websocket", &echo_tunnel);  // 200 on HTTP/2
      });
      server.start();
      auto loop = khz::transport::ClientLoop::make(transport);
      loop->run([&]() -> Task<void> {
        auto c = co_await connect(server.port());
        Request r;
        r.set_method("CONNECT");
        r.set_target("/echo");
        r.headers().add("Host", "127.0.0.1");
        Response refused;
        {
          auto none = co_await c->open_tunnel(r, refused, {.connect_protocol = "chat"}, in(5s));
          INFO((none ? std::string("ok") : none.error().message()));
          REQUIRE(none);
          CHECK(*none == nullptr);
          CHECK(refused.status() == 400);
          CHECK(refused.body() == "websocket only");
        }
        r.set_connect_protocol("websocket");
        Response head;
        auto opened = co_await c->open_tunnel(r, head, {}, in(5s));
        REQUIRE(opened);
        REQUIRE(*opened != nullptr);
        CHECK(head.status() == 200);
        khz::transport::Connection& t = **opened;
        CHECK(t.negotiated_protocol() == "websocket");
        // 1 MiB out in pieces, read back as it comes.
        std::string sent, got;
        for (int i = 0; i < 64; ++i) {
          std::string piece(16 * 1024, static_cast<char>('a' + i % 26));
          sent += piece;
          t.output().append(piece);
          {
            auto ec_ = co_await t.flush();
            REQUIRE_FALSE(ec_);
          }
          while (got.size() < sent.size()) {
            auto ec_ = co_await t.fill(1);
            REQUIRE_FALSE(ec_);
            t.input().for_each_segment([&](std::string_view s) { got += s; });
            t.input().skip(t.input().size());
            t.input().release();
          }
        }
        CHECK(got == sent);
        // close(): END_STREAM; the server's handler sees eof and ends its half.
        t.close();
        t.output().append("late");
        {
          auto ec_ = co_await t.flush();
          CHECK(ec_ == khz::transport::errc::cancelled);
        }
        opened->reset();
        co_await khz::sleep_for(20ms);
        CHECK(c->active_streams() == 0);
        c.reset();
        co_await khz::sleep_for(5ms);
      });
    }
  }
}
