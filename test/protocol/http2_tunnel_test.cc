// SPDX-License-Identifier: Apache-2.0
// RFC 8441 tunnels through the HTTP/2 connection driver (serve_http2) over the in-memory
// connection pair, with an nghttp2 client session on the other end: a hijacked extended CONNECT
// as a transport::Connection (echo, 16 MiB each way with flow control, END_STREAM and
// RST_STREAM from the client, a client that does not read, an ordinary request beside the
// tunnel, a graceful shutdown, the connection dying).
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/protocol/http2.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include "http2/nghttp2_glue.h"
#include "support/memory_connection.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using khz::Exchange;
using khz::Task;
using khz::test::ManualLoop;
using khz::test::MemoryPair;
using khz::transport::Connection;
namespace h2 = khz::protocol::http2;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// ---- the server: a ServerCore whose CONNECT routes open tunnels

struct Record {
  std::string protocol;            // connect_protocol() of the last tunnel
  std::error_code fill_error;      // how the handler's last fill ended
  std::error_code flush_error;
  std::size_t largest_input = 0;   // the most bytes input() held after a fill
  std::size_t received = 0;        // bytes the handler read
  bool flushed = false;            // /source: its flush completed
  bool draining = false;           // is_draining() when the fill ended
  int finished = 0;                // tunnel handlers that returned
};

// Echoes until fill or flush fails.
Task<void> echo(Connection& c, Record* rec) {
  for (;;) {
    auto& in = c.input();
    if (in.empty()) {
      std::error_code ec = co_await c.fill(1);
      if (ec) {
        rec->fill_error = ec;
        break;
      }
    }
    rec->largest_input = std::max(rec->largest_input, in.size());
    rec->received += in.size();
    in.for_each_segment([&](std::string_view s) { c.output().append(s); });
    in.skip(in.size());
    in.release();
    std::error_code ec = co_await c.flush();
    if (ec) {
      rec->flush_error = ec;
      break;
    }
  }
  ++rec->finished;
}

// Writes 1 MiB in one flush, then returns.
Task<void> source(Connection& c, Record* rec) {
  c.output().append(std::string(1 << 20, 's'));
  rec->flush_error = co_await c.flush();
  rec->flushed = true;
  ++rec->finished;
}

// Waits idle (a graceful shutdown ends the wait), then says goodbye.
Task<void> idle(Connection& c, Record* rec) {
  c.set_idle(true);
  std::error_code ec = co_await c.fill(1);
  c.set_idle(false);
  rec->fill_error = ec;
  rec->draining = c.is_draining();
  c.output().append("bye");
  rec->flush_error = co_await c.flush();
  ++rec->finished;
}

// With a 100 ms read timeout: waits for bytes that do not come; then, with a 100 ms write
// timeout, sends more than the client's window lets out.
Task<void> timeouts(Connection& c, Record* rec) {
  c.set_read_timeout(100ms);
  rec->fill_error = co_await c.fill(1);
  c.set_write_timeout(100ms);
  c.output().append(std::string(256 * 1024, 't'));
  rec->flush_error = co_await c.flush();
  ++rec->finished;
}

// Says goodbye without waiting for the flush: returns (the tunnel closes as the handler ends),
// or closes the connection itself first.
Task<void> unflushed(Connection& c, Record* rec, bool close) {
  c.output().append("last words");
  if (close) c.close();
  ++rec->finished;
  co_return;
}

class TunnelCore final : public khz::ServerCore {
 public:
  Task<void> serve(Exchange& ex) override {
    auto& r = ex.response;
    std::string_view path = ex.request.path();
    if (ex.request.method() != "CONNECT") {
      r.set_body("plain " + std::string(path));
      co_return;
    }
    rec.protocol = std::string(ex.request.connect_protocol());
    if (path == "/refuse") {
      r.set_status(403);
      r.set_body("refused");
      ex.hijack = [this](Connection& c) { return echo(c, &rec); };  // ignored: not 2xx
      co_return;
    }
    r.set_status(200);
    r.headers().add("sec-websocket-protocol", "chat");
    if (path == "/echo") ex.hijack = [this](Connection& c) { return echo(c, &rec); };
    if (path == "/source") ex.hijack = [this](Connection& c) { return source(c, &rec); };
    if (path == "/idle") ex.hijack = [this](Connection& c) { return idle(c, &rec); };
    if (path == "/timeouts") ex.hijack = [this](Connection& c) { return timeouts(c, &rec); };
    if (path == "/unflushed") ex.hijack = [this](Connection& c) { return unflushed(c, &rec, false); };
    if (path == "/unflushed-close") ex.hijack = [this](Connection& c) { return unflushed(c, &rec, true); };
  }
  Record rec;
};

// ---- the client: an nghttp2 client session pumped over the client end

class Client {
 public:
  struct Stream {
    Fields headers;
    std::string body;
    bool closed = false;
    std::uint32_t close_code = 0;
    bool end_received = false;
    // what to send: a data provider reads it from `sent`
    std::string out;
    std::size_t sent = 0;
    bool end = false;
    bool providing = false;
    std::string field(std::string_view name) const {
      for (const auto& [n, v] : headers) {
        if (n == name) return v;
      }
      return "<none>";
    }
  };

  Client(ManualLoop& loop, Connection& conn, bool manual_window = false) : loop_(loop), conn_(conn) {
    h2::OptionPtr option = h2::new_option();
    REQUIRE(option);
    if (manual_window) nghttp2_option_set_no_auto_window_update(option.get(), 1);
    ng_ = h2::new_session(h2::Role::client,
                          {.header = &on_header, .frame_recv = &on_frame_recv, .data_chunk_recv = &on_data, .stream_close = &on_close},
                          this, option.get());
    REQUIRE(ng_);
    REQUIRE(nghttp2_submit_settings(ng_.get(), NGHTTP2_FLAG_NONE, nullptr, 0) == 0);
    conn_.set_read_timeout(2ms);  // the pump looks at what the test submitted this often
    stage();
    khz::spawn(pump(this));
  }
  ~Client() {
    stop_ = true;
    conn_.close();
    loop_.run_until([&] { return !pumping_; });
  }

  std::int32_t open(std::string_view path, std::string_view protocol = "websocket") {
    Fields f = {{":method", "CONNECT"}, {":protocol", std::string(protocol)}, {":scheme", "http"}, {":path", std::string(path)},
                {":authority", "example.com"}};
    std::vector<nghttp2_nv> nva;
    for (const auto& [n, v] : f) nva.push_back(h2::make_nv(n, v));
    std::int32_t id = nghttp2_submit_headers(ng_.get(), NGHTTP2_FLAG_NONE, -1, nullptr, nva.data(), nva.size(), nullptr);
    REQUIRE(id > 0);
    stage();  // the stream exists once its HEADERS is serialized
    return id;
  }
  std::int32_t get(std::string_view path) {
    std::vector<nghttp2_nv> nva = {h2::make_nv(":method", "GET"), h2::make_nv(":scheme", "http"),
                                   h2::make_nv(":authority", "example.com"), h2::make_nv(":path", path)};
    std::int32_t id = nghttp2_submit_request(ng_.get(), nullptr, nva.data(), nva.size(), nullptr, nullptr);
    REQUIRE(id > 0);
    return id;
  }
  // Queues bytes on the stream (END_STREAM after them with `end`).
  void send(std::int32_t id, std::string_view bytes, bool end = false) {
    Stream& s = streams[id];
    s.out.append(bytes);
    s.end = end;
    if (!s.providing) {
      s.providing = true;
      nghttp2_data_provider provider{};
      provider.source.ptr = &s;
      provider.read_callback = &read_out;
      // END_STREAM goes with the provider's EOF, which it signals only once `end` is set.
      REQUIRE(nghttp2_submit_data(ng_.get(), NGHTTP2_FLAG_END_STREAM, id, &provider) == 0);
    } else {
      nghttp2_session_resume_data(ng_.get(), id);
    }
  }
  void reset(std::int32_t id, std::uint32_t code = NGHTTP2_CANCEL) {
    REQUIRE(nghttp2_submit_rst_stream(ng_.get(), NGHTTP2_FLAG_NONE, id, code) == 0);
  }
  // With manual_window: opens the stream's window by `n` bytes read.
  void consume(std::int32_t id, std::size_t n) { REQUIRE(nghttp2_session_consume(ng_.get(), id, n) == 0); }
  void consume_connection(std::size_t n) { REQUIRE(nghttp2_session_consume_connection(ng_.get(), n) == 0); }

  // Runs the loop until `done` holds (or 20 s pass: the caller's REQUIRE fails then).
  bool run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    loop_.run_until([&] { return done() || std::chrono::steady_clock::now() > deadline; });
    return done();
  }
  // Runs the loop for `d`.
  void run_for(std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    loop_.run_until([&] { return std::chrono::steady_clock::now() >= until; });
  }

  nghttp2_session* ng() const noexcept { return ng_.get(); }
  std::map<std::int32_t, Stream> streams;
  std::map<std::int32_t, std::uint32_t> settings;  // the server's
  std::vector<std::pair<std::uint8_t, std::int32_t>> frames;  // type, stream
  bool goaway = false;
  bool eof = false;  // the server closed the connection

 private:
  static Client& self(void* p) { return *static_cast<Client*>(p); }

  void stage() {
    for (;;) {
      const std::uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(ng_.get(), &data);
      REQUIRE(n >= 0);
      if (n == 0) return;
      staged_.append(h2::sv(data, static_cast<std::size_t>(n)));
    }
  }

  static Task<void> pump(Client* c) {
    c->pumping_ = true;
    Connection& conn = c->conn_;
    while (!c->stop_) {
      c->stage();
      if (!c->staged_.empty()) {
        conn.output().append(c->staged_);
        c->staged_.clear();
        if (co_await conn.flush()) break;
      }
      std::error_code ec = co_await conn.fill(1);
      if (ec == khz::transport::errc::timed_out) continue;
      if (ec) {
        c->eof = ec == khz::transport::errc::eof;
        break;
      }
      auto& in = conn.input();
      while (!in.empty()) {
        std::string_view seg = in.segment(0);
        ssize_t n = nghttp2_session_mem_recv(c->ng_.get(), h2::bytes_of(seg), seg.size());
        REQUIRE(n == static_cast<ssize_t>(seg.size()));
        in.skip(seg.size());
      }
      in.release();
    }
    c->pumping_ = false;
  }

  static ssize_t read_out(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                          nghttp2_data_source* source, void*) {
    Stream& s = *static_cast<Stream*>(source->ptr);
    std::size_t n = std::min(length, s.out.size() - s.sent);
    std::memcpy(buf, s.out.data() + s.sent, n);
    s.sent += n;
    if (s.sent == s.out.size()) {
      s.out.clear();
      s.sent = 0;
      if (s.end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    Client& c = self(user);
    c.frames.emplace_back(frame->hd.type, frame->hd.stream_id);
    if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
      for (std::size_t i = 0; i < frame->settings.niv; ++i) c.settings[frame->settings.iv[i].settings_id] = frame->settings.iv[i].value;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) c.goaway = true;
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      c.streams[frame->hd.stream_id].end_received = true;
    }
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    self(user).streams[frame->hd.stream_id].headers.emplace_back(h2::sv(name, namelen), h2::sv(value, valuelen));
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len, void* user) {
    self(user).streams[id].body.append(h2::sv(data, len));
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
    Client::Stream& s = self(user).streams[id];
    s.closed = true;
    s.close_code = code;
    return 0;
  }

  ManualLoop& loop_;
  Connection& conn_;
  h2::SessionPtr ng_;
  std::string staged_;
  bool stop_ = false;
  bool pumping_ = false;
};

// serve_http2 on the server end, as a transporter runs it.
struct Served {
  Served(ManualLoop& loop, MemoryPair& pair, khz::Http2Options options = {})
      : loop(loop), options(std::make_shared<const khz::Http2Options>(std::move(options))) {
    khz::spawn(run(this, &pair));
  }
  static Task<void> run(Served* self, MemoryPair* pair) {
    khz::transport::ConnectionHandler handler = [self](Connection& c) { return khz::serve_http2(c, self->core, self->options); };
    Task<void> serving = khz::test::serve_connection(pair->server, std::move(handler));
    co_await serving;
    self->done = true;
  }
  ~Served() {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    loop.run_until([&] { return done || std::chrono::steady_clock::now() > deadline; });
    CHECK(done);
  }
  ManualLoop& loop;
  std::shared_ptr<const khz::Http2Options> options;
  TunnelCore core;
  bool done = false;
};

std::string pattern(std::size_t n, std::size_t seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

}  // namespace

TEST_CASE("http2 tunnel: SETTINGS_ENABLE_CONNECT_PROTOCOL, then an echo tunnel with many messages both ways") {
  ManualLoop loop;
  MemoryPair pair(loop);
  Served served(loop, pair);
  {
    Client c(loop, pair.client);
    std::int32_t id = c.open("/echo");
    REQUIRE(c.run_until([&] { return c.streams[id].field(":status") != "<none>"; }));
    CHECK(c.settings[NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL] == 1);
    Client::Stream& s = c.streams[id];
    CHECK(s.field(":status") == "200");
    CHECK(s.field("sec-websocket-protocol") == "chat");
    CHECK(s.field("content-length") == "<none>");
    CHECK(served.core.rec.protocol == "websocket");
    std::string expected;
    for (std::size_t i = 0; i < 300; ++i) {
      std::string message = pattern(1 + (i * 37) % 3000, i);
      expected += message;
      c.send(id, message);
      REQUIRE(c.run_until([&] { return s.body.size() == expected.size(); }));
    }
    CHECK(s.body == expected);
    CHECK_FALSE(s.closed);
    // The client's END_STREAM: the handler's fill ends with eof, it returns, the stream ends.
    c.send(id, "last", true);
    REQUIRE(c.run_until([&] { return s.closed; }));
    CHECK(s.close_code == NGHTTP2_NO_ERROR);
    CHECK(s.body == expected + "last");
    CHECK(s.end_received);
    CHECK(served.core.rec.fill_error == khz::transport::errc::eof);
    CHECK(served.core.rec.finished == 1);
  }
}

TEST_CASE("http2 tunnel: closing drops what was never flushed, as a socket's close does, and ends the stream") {
  // The tunnel keeps the Connection contract (HTTP/1.1's socket drops an unflushed output()
  // on close too): a handler that wants its last bytes sent awaits flush() first, as
  // WebSocket's close handshake does. The client sees a clean END_STREAM, not a reset.
  for (const char* path : {"/unflushed", "/unflushed-close"}) {
    CAPTURE(path);
    ManualLoop loop;
    MemoryPair pair(loop);
    Served served(loop, pair);
    Client c(loop, pair.client);
    std::int32_t id = c.open(path);
    Client::Stream& s = c.streams[id];
    REQUIRE(c.run_until([&] { return s.end_received || s.closed; }));
    CHECK(s.field(":status") == "200");
    CHECK(s.body.empty());
    CHECK(s.end_received);
    CHECK(served.core.rec.finished == 1);
  }
}

TEST_CASE("http2 tunnel: 16 MiB each way through the flow-control windows, bounded on the server") {
  ManualLoop loop;
  MemoryPair pair(loop, {.capacity = 256 * 1024});
  Served served(loop, pair);
  Client c(loop, pair.client);
  std::int32_t id = c.open("/echo");
  const std::string big = pattern(16 << 20, 3);
  c.send(id, big, true);
  Client::Stream& s = c.streams[id];
  REQUIRE(c.run_until([&] { return s.closed; }));
  CHECK(s.close_code == NGHTTP2_NO_ERROR);
  CHECK(s.body.size() == big.size());
  CHECK(s.body == big);
  const Record& rec = served.core.rec;
  CHECK(rec.received == big.size());
  // What the server holds of the tunnel's input is bounded by the stream's window (65535).
  CHECK(rec.largest_input <= 65535);
  CHECK(rec.largest_input > 0);
  CHECK(rec.fill_error == khz::transport::errc::eof);
}

TEST_CASE("http2 tunnel: a client that does not open its window makes the handler's flush wait") {
  ManualLoop loop;
  MemoryPair pair(loop);
  Served served(loop, pair);
  Client c(loop, pair.client, /*manual_window=*/true);
  std::int32_t id = c.open("/source");
  Client::Stream& s = c.streams[id];
  c.run_for(300ms);
  // The stream's window (65535 by default on the client) is all the server could send.
  CHECK(s.body.size() == 65535);
  CHECK_FALSE(served.core.rec.flushed);
  std::size_t consumed = 0;
  while (!s.closed) {
    const std::size_t read = s.body.size() - consumed;
    if (read != 0) c.consume(id, read);
    consumed += read;
    REQUIRE(c.run_until([&] { return s.closed || s.body.size() > consumed; }));
  }
  CHECK(served.core.rec.flushed);
  CHECK_FALSE(served.core.rec.flush_error);
  CHECK(s.body == std::string(1 << 20, 's'));
  // The server ended first and gave the client tunnel_close_grace to end its half: it did not.
  CHECK(s.end_received);
  CHECK(s.close_code == NGHTTP2_CANCEL);
}

TEST_CASE("http2 tunnel: RST_STREAM from the client ends the handler; other streams go on") {
  ManualLoop loop;
  MemoryPair pair(loop);
  Served served(loop, pair);
  Client c(loop, pair.client);
  std::int32_t id = c.open("/echo");
  c.send(id, "ping");
  Client::Stream& s = c.streams[id];
  REQUIRE(c.run_until([&] { return s.body == "ping"; }));
  // An ordinary request on the same connection while the tunnel is open.
  std::int32_t get = c.get("/plain");
  REQUIRE(c.run_until([&] { return c.streams[get].closed; }));
  CHECK(c.streams[get].field(":status") == "200");
  CHECK(c.streams[get].body == "plain /plain");
  c.send(id, "pong");
  REQUIRE(c.run_until([&] { return s.body == "pingpong"; }));
  c.reset(id);
  REQUIRE(c.run_until([&] { return served.core.rec.finished == 1; }));
  CHECK(served.core.rec.fill_error == std::errc::connection_reset);
  // And the connection still serves.
  std::int32_t again = c.get("/after");
  REQUIRE(c.run_until([&] { return c.streams[again].closed; }));
  CHECK(c.streams[again].body == "plain /after");
  std::int32_t second = c.open("/echo");
  c.send(second, "two", true);
  REQUIRE(c.run_until([&] { return c.streams[second].closed; }));
  CHECK(c.streams[second].body == "two");
}

TEST_CASE("http2 tunnel: a non-2xx answer is an ordinary response; hijack is ignored") {
  ManualLoop loop;
  MemoryPair pair(loop);
  Served served(loop, pair);
  Client c(loop, pair.client);
  std::int32_t id = c.open("/refuse", "something");
  Client::Stream& s = c.streams[id];
  REQUIRE(c.run_until([&] { return s.closed; }));
  CHECK(s.field(":status") == "403");
  CHECK(s.body == "refused");
  CHECK(served.core.rec.protocol == "something");
  CHECK(served.core.rec.finished == 0);
}

TEST_CASE("http2 tunnel: a graceful shutdown ends an idle tunnel's fill with shutting_down") {
  ManualLoop loop;
  MemoryPair pair(loop);
  Served served(loop, pair);
  Client c(loop, pair.client);
  std::int32_t id = c.open("/idle");
  Client::Stream& s = c.streams[id];
  REQUIRE(c.run_until([&] { return s.field(":status") == "200"; }));
  c.run_for(20ms);
  CHECK(served.core.rec.finished == 0);
  pair.server.start_draining();
  REQUIRE(c.run_until([&] { return s.end_received; }));
  c.send(id, "", true);  // the client ends its half too, as a WebSocket client answers a close
  REQUIRE(c.run_until([&] { return s.closed; }));
  CHECK(c.goaway);
  CHECK(served.core.rec.fill_error == khz::transport::errc::shutting_down);
  CHECK(served.core.rec.draining);
  CHECK(s.body == "bye");
  CHECK(s.close_code == NGHTTP2_NO_ERROR);
}

TEST_CASE("http2 tunnel: the connection dying ends the tunnel's handler") {
  ManualLoop loop;
  MemoryPair pair(loop);
  Served served(loop, pair);
  {
    Client c(loop, pair.client);
    std::int32_t id = c.open("/echo");
    c.send(id, "x");
    REQUIRE(c.run_until([&] { return c.streams[id].body == "x"; }));
  }  // closes the client's end
  REQUIRE([&] {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    loop.run_until([&] { return served.done || std::chrono::steady_clock::now() > deadline; });
    return served.done;
  }());
  CHECK(served.core.rec.finished == 1);
  CHECK(served.core.rec.fill_error == khz::transport::errc::cancelled);
}

TEST_CASE("http2 tunnel: the tunnel's read and write timeouts") {
  ManualLoop loop;
  MemoryPair pair(loop);
  Served served(loop, pair);
  Client c(loop, pair.client, /*manual_window=*/true);  // never opens its window
  std::int32_t id = c.open("/timeouts");
  Client::Stream& s = c.streams[id];
  REQUIRE(c.run_until([&] { return served.core.rec.finished == 1; }));
  CHECK(served.core.rec.fill_error == khz::transport::errc::timed_out);
  CHECK(served.core.rec.flush_error == khz::transport::errc::timed_out);
  // The flush that timed out broke the stream: it is reset, with what fitted the window sent.
  REQUIRE(c.run_until([&] { return s.closed; }));
  CHECK(s.close_code == NGHTTP2_CANCEL);
  CHECK(s.body.size() == 65535);
  // The connection goes on (once the client gives its connection window back).
  c.consume_connection(s.body.size());
  std::int32_t get = c.get("/plain");
  REQUIRE(c.run_until([&] { return c.streams[get].closed; }));
  CHECK(c.streams[get].body == "plain /plain");
}
