// SPDX-License-Identifier: Apache-2.0
// The sans-I/O HTTP/2 server session (protocol/http2/server_session.h), without sockets. A
// client made with nghttp2 (or frames made by hand) writes the bytes; they go to the session
// whole and split at every byte boundary (each piece from its own buffer); the frames the
// session sends are decoded by that same client. GET and POST, request trailers, flow control,
// RST_STREAM both ways, the preface check, the flood protections, 431, the connection-specific
// fields, and a sweep that fails each of nghttp2's allocations in turn.
#include "http2/server_session.h"

#include <khz/common/log.h>
#include <khz/protocol/error.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include <unistd.h>

#include "support/fail_counter.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <thread>
#include <vector>

using khz::BodyPolicy;
using khz::Exchange;
using khz::Http2Options;
using khz::LinkedBuffer;
using khz::Result;
using khz::Task;
using khz::protocol::http2::ServerSession;
using khz::protocol::http2::ServerStream;

namespace {

constexpr std::string_view kDate = "Thu, 01 Jan 2026 00:00:00 GMT";
using Fields = std::vector<std::pair<std::string, std::string>>;

// ---- the server side: the session with a driver that records its events

// The handler side is played by the test itself, through the session's calls.
struct TestStream final : ServerStream {
  Task<std::error_code> write(std::string_view) override { co_return khz::transport::errc::cancelled; }
  Task<Result<std::string_view>> read() override { co_return std::error_code(khz::transport::errc::cancelled); }
};

struct Events final : ServerSession::Driver {
  std::vector<ServerStream*> started;
  std::vector<std::pair<std::int32_t, std::error_code>> woken;
  BodyPolicy policy;

  std::unique_ptr<ServerStream> new_stream() override { return std::make_unique<TestStream>(); }
  void start(ServerStream& s) override { started.push_back(&s); }
  void wake(ServerStream& s, std::error_code ec) override {
    s.waiting = ServerStream::WaitKind::none;
    woken.emplace_back(s.id, ec);
  }
  BodyPolicy body_policy(Exchange&) override { return policy; }
  std::string_view date() override { return kDate; }
  std::string peer_address() const override { return "test"; }
};

struct Server {
  explicit Server(Http2Options o = {}, nghttp2_mem* mem = nullptr) : options(std::move(o)), session(events, out, options, mem) {}

  // Feeds `bytes` as the connection driver does: the ACKs owed go out whenever the session
  // owes as many as it allows.
  std::error_code feed(std::string_view bytes) {
    while (!bytes.empty() && !session.input_dropped()) {
      if (session.acks_owed() >= session.max_acks()) {
        if (auto ec = session.send()) return ec;
      }
      Result<std::size_t> n = session.receive(bytes);
      if (!n) return n.error();
      bytes.remove_prefix(*n);
    }
    return {};
  }

  // What the session sends now.
  std::string output() {
    (void)session.send();
    std::string bytes;
    out.for_each_segment([&](std::string_view s) { bytes += s; });
    out.skip(out.size());
    out.release();
    return bytes;
  }

  // Plays the handler of each stream started so far, as the driver runs them.
  void serve(const std::function<void(Exchange&)>& handler) {
    for (ServerStream* s : std::exchange(events.started, {})) {
      if (!session.begin_handler(*s)) continue;
      handler(s->exchange);
      session.finish_handler(*s);
      session.handler_done(*s);
    }
  }

  Http2Options options;
  Events events;
  LinkedBuffer out;
  ServerSession session;
};

void respond_hello(Exchange& ex) {
  ex.response.set_status(200);
  ex.response.headers().add("X-Path", ex.request.target());
  ex.response.set_body("hello " + std::string(ex.request.body()), "text/plain");
}

// ---- the client side: an nghttp2 client session that writes requests and decodes frames

class Client {
 public:
  struct Frame {
    std::uint8_t type;
    std::uint8_t flags;
    std::int32_t stream;
    std::uint32_t error_code = 0;   // RST_STREAM, GOAWAY
    std::int32_t last_stream = 0;   // GOAWAY
    std::int32_t increment = 0;     // WINDOW_UPDATE
    std::map<std::int32_t, std::uint32_t> settings;
  };
  struct Stream {
    Fields headers;
    Fields trailers;
    std::string body;
    bool head_done = false;
    bool closed = false;
    std::uint32_t close_code = 0;
    std::string field(std::string_view name) const {
      for (const auto& [n, v] : headers) {
        if (n == name) return v;
      }
      return "<none>";
    }
  };

  // `window`: the client's receive window for each stream and for the connection (0: RFC 9113's
  // 65,535 bytes).
  explicit Client(std::uint32_t window = 0) {
    ng_ = khz::protocol::http2::new_session(khz::protocol::http2::Role::client,
                                  {.header = &on_header, .frame_recv = &on_frame_recv, .data_chunk_recv = &on_data,
                                   .stream_close = &on_close},
                                  this, nullptr);
    REQUIRE(ng_);
    const nghttp2_settings_entry wide[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window}};
    REQUIRE(nghttp2_submit_settings(ng_.get(), NGHTTP2_FLAG_NONE, wide, window != 0 ? 1 : 0) == 0);
    if (window != 0) khz::protocol::http2::raise_connection_window(ng_.get(), window);
  }

  // Submits a request (END_STREAM on its HEADERS without a body and trailers); returns its id.
  std::int32_t request(std::string_view method, std::string_view path, const Fields& fields = {},
                       std::optional<std::string> body = {}, Fields trailers = {}) {
    std::vector<nghttp2_nv> nva = {khz::protocol::http2::make_nv(":method", method), khz::protocol::http2::make_nv(":scheme", "http"),
                                   khz::protocol::http2::make_nv(":authority", "example.com"), khz::protocol::http2::make_nv(":path", path)};
    for (const auto& [n, v] : fields) nva.push_back(khz::protocol::http2::make_nv(n, v));
    nghttp2_data_provider provider{};
    if (body) {
      uploads_.push_back({std::move(*body), 0, std::move(trailers)});
      provider.source.ptr = &uploads_.back();
      provider.read_callback = &read_upload;
    }
    std::int32_t id = nghttp2_submit_request(ng_.get(), nullptr, nva.data(), nva.size(), body ? &provider : nullptr, nullptr);
    REQUIRE(id > 0);
    return id;
  }

  // Opens a stream with exactly `fields` (pseudo-fields included, in order): an extended CONNECT,
  // or a malformed request. END_STREAM on the HEADERS when `end_stream`.
  std::int32_t open(const Fields& fields, bool end_stream = false) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [n, v] : fields) nva.push_back(khz::protocol::http2::make_nv(n, v));
    std::int32_t id = nghttp2_submit_headers(ng_.get(), end_stream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE, -1, nullptr,
                                             nva.data(), nva.size(), nullptr);
    REQUIRE(id > 0);
    held_ += output();  // the stream exists once its HEADERS is out: DATA may follow
    return id;
  }
  // DATA on stream `id`; END_STREAM after it when `end_stream`.
  void send(std::int32_t id, std::string bytes, bool end_stream) {
    uploads_.push_back({std::move(bytes), 0, {}, end_stream});
    nghttp2_data_provider provider{};
    provider.source.ptr = &uploads_.back();
    provider.read_callback = &read_upload;
    REQUIRE(nghttp2_submit_data(ng_.get(), end_stream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE, id, &provider) == 0);
  }

  // The bytes the client has to send now.
  std::string output() {
    std::string bytes = std::exchange(held_, {});
    for (;;) {
      const std::uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(ng_.get(), &data);
      REQUIRE(n >= 0);
      if (n == 0) return bytes;
      bytes.append(khz::protocol::http2::sv(data, static_cast<std::size_t>(n)));
    }
  }

  // Decodes what the server sent (a protocol error of the server's fails the test).
  void receive(std::string_view bytes) {
    ssize_t n = nghttp2_session_mem_recv(ng_.get(), khz::protocol::http2::bytes_of(bytes), bytes.size());
    INFO(nghttp2_strerror(static_cast<int>(n < 0 ? n : 0)));
    REQUIRE(n == static_cast<ssize_t>(bytes.size()));
  }

  nghttp2_session* ng() const noexcept { return ng_.get(); }

  const Frame* find(std::uint8_t type, std::int32_t stream = -1) const {
    for (const Frame& f : frames) {
      if (f.type == type && (stream < 0 || f.stream == stream)) return &f;
    }
    return nullptr;
  }
  // A GOAWAY came, with `code` (and `last_stream`, unless -1).
  void require_goaway(std::uint32_t code, std::int32_t last_stream = -1) const {
    const Frame* goaway = find(NGHTTP2_GOAWAY);
    REQUIRE(goaway != nullptr);
    CHECK(goaway->error_code == code);
    if (last_stream >= 0) CHECK(goaway->last_stream == last_stream);
  }
  std::size_t count(std::uint8_t type, std::int32_t stream = -1) const {
    return static_cast<std::size_t>(std::count_if(frames.begin(), frames.end(), [&](const Frame& f) {
      return f.type == type && (stream < 0 || f.stream == stream);
    }));
  }

  std::vector<Frame> frames;
  std::map<std::int32_t, Stream> streams;

 private:
  struct Upload {
    std::string body;
    std::size_t sent;
    Fields trailers;
    bool end_stream = true;
  };

  static Client& self(void* p) { return *static_cast<Client*>(p); }

  static ssize_t read_upload(nghttp2_session* ng, std::int32_t id, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source* source, void*) {
    Upload& u = *static_cast<Upload*>(source->ptr);
    std::size_t n = std::min(length, u.body.size() - u.sent);
    std::memcpy(buf, u.body.data() + u.sent, n);
    u.sent += n;
    if (u.sent == u.body.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!u.end_stream) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      if (!u.trailers.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nva;
        for (const auto& [name, value] : u.trailers) nva.push_back(khz::protocol::http2::make_nv(name, value));
        nghttp2_submit_trailer(ng, id, nva.data(), nva.size());
      }
    }
    return static_cast<ssize_t>(n);
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    Frame f{frame->hd.type, frame->hd.flags, frame->hd.stream_id, 0, 0, 0, {}};
    switch (frame->hd.type) {
      case NGHTTP2_RST_STREAM: f.error_code = frame->rst_stream.error_code; break;
      case NGHTTP2_GOAWAY:
        f.error_code = frame->goaway.error_code;
        f.last_stream = frame->goaway.last_stream_id;
        break;
      case NGHTTP2_WINDOW_UPDATE: f.increment = frame->window_update.window_size_increment; break;
      case NGHTTP2_SETTINGS:
        for (std::size_t i = 0; i < frame->settings.niv; ++i) f.settings[frame->settings.iv[i].settings_id] = frame->settings.iv[i].value;
        break;
      case NGHTTP2_HEADERS: self(user).streams[frame->hd.stream_id].head_done = true; break;
      default: break;
    }
    self(user).frames.push_back(std::move(f));
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    Stream& s = self(user).streams[frame->hd.stream_id];
    (s.head_done ? s.trailers : s.headers).emplace_back(khz::protocol::http2::sv(name, namelen), khz::protocol::http2::sv(value, valuelen));
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len, void* user) {
    self(user).streams[id].body.append(khz::protocol::http2::sv(data, len));
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
    Stream& s = self(user).streams[id];
    s.closed = true;
    s.close_code = code;
    return 0;
  }

  std::list<Upload> uploads_;  // stable addresses for the data providers
  std::string held_;           // serialized by open(), not yet taken by output()
  khz::protocol::http2::SessionPtr ng_;
};

// ---- running an exchange whole and split

// A started server fed `bytes` whole (`cut` npos) or in two pieces cut at `cut`, each piece from
// a buffer of its own, overwritten once fed: the session keeps nothing that points into it.
std::unique_ptr<Server> fed_server(const Http2Options& options, std::string_view bytes,
                                   std::size_t cut = std::string::npos, BodyPolicy policy = {}) {
  auto server = std::make_unique<Server>(options);
  server->events.policy = policy;
  REQUIRE_FALSE(server->session.start());
  const std::size_t at = std::min(cut, bytes.size());
  for (std::string_view piece : {bytes.substr(0, at), bytes.substr(at)}) {
    auto copy = std::make_unique<std::string>(piece);
    REQUIRE_FALSE(server->feed(*copy));
    copy->assign(copy->size(), '#');
  }
  return server;
}

// One run: the client writes `requests`; the bytes go to a fresh server (fed_server); its
// handlers run (`handler`), and its frames go back to the client.
struct Run {
  std::unique_ptr<Client> client = std::make_unique<Client>();
  std::unique_ptr<Server> server;
  std::string sent;      // the client's bytes
  std::string answered;  // the server's bytes
};

Run run_exchange(const Http2Options& options, const std::function<void(Client&)>& requests,
                 const std::function<void(Exchange&)>& handler, std::size_t cut = std::string::npos,
                 BodyPolicy policy = {}) {
  Run r;
  requests(*r.client);
  r.sent = r.client->output();
  r.server = fed_server(options, r.sent, cut, policy);
  r.server->serve(handler);
  r.answered = r.server->output();
  r.client->receive(r.answered);
  return r;
}

// Runs the exchange whole, then split at every byte boundary; `check` sees each run, and each
// split run must send the very bytes the whole one did (when `same_bytes`).
void at_every_split(const Http2Options& options, const std::function<void(Client&)>& requests,
                    const std::function<void(Exchange&)>& handler, const std::function<void(Run&)>& check,
                    BodyPolicy policy = {}, bool same_bytes = true) {
  Run whole = run_exchange(options, requests, handler, std::string::npos, policy);
  check(whole);
  for (std::size_t cut = 1; cut < whole.sent.size(); ++cut) {
    CAPTURE(cut);
    Run split = run_exchange(options, requests, handler, cut, policy);
    REQUIRE(split.sent == whole.sent);
    if (same_bytes) REQUIRE(split.answered == whole.answered);
    check(split);
  }
}

// The conversation, until neither side has anything to say: the client's bytes to the server,
// the handlers of the streams they start, the server's answer back. Returns the most the
// server sent at once.
std::size_t converse(Client& client, Server& server, const std::function<void(Exchange&)>& handler) {
  std::size_t largest = 0;
  for (int round = 0; round < 100; ++round) {
    std::string up = client.output();
    if (!up.empty()) REQUIRE_FALSE(server.feed(up));
    server.serve(handler);
    std::string down = server.output();
    largest = std::max(largest, down.size());
    if (up.empty() && down.empty()) break;
    client.receive(down);
  }
  return largest;
}

// Logs only errors while it lives (unless KHZ_LOG_LEVEL says otherwise): for the tests whose
// runs each end in an expected warning (a flood, a failed allocation).
struct QuietLog {
  QuietLog() {
    if (std::getenv("KHZ_LOG_LEVEL") == nullptr) khz::log::set_level(khz::log::Level::error);
  }
  ~QuietLog() {
    if (std::getenv("KHZ_LOG_LEVEL") == nullptr) khz::log::set_level(khz::log::Level::warn);
  }
};

// A frame made by hand (RFC 9113 §4.1).
std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload = {}) {
  std::string f;
  const std::size_t n = payload.size();
  for (int shift : {16, 8, 0}) f.push_back(static_cast<char>((n >> shift) & 0xff));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift : {24, 16, 8, 0}) f.push_back(static_cast<char>((stream >> shift) & 0xff));
  f.append(payload);
  return f;
}

// Runs the handlers of the streams started since the last call, each to its end at once; the
// ids of those the session let begin (a stream reset in the batch that opened it does not).
std::vector<std::int32_t> run_started_handlers(Server& server) {
  std::vector<std::int32_t> served;
  for (ServerStream* s : std::exchange(server.events.started, {})) {
    if (!server.session.begin_handler(*s)) continue;
    served.push_back(s->id);
    server.session.finish_handler(*s);
    server.session.handler_done(*s);
  }
  return served;
}

}  // namespace

TEST_CASE("http2 session: a GET and its response, whole and split at every byte") {
  Http2Options options;
  at_every_split(
      options, [](Client& c) { c.request("GET", "/hello?x=1", {{"accept", "*/*"}, {"cookie", "a=1"}, {"cookie", "b=2"}}); },
      [](Exchange& ex) {
        CHECK(ex.request.method() == "GET");
        CHECK(ex.request.target() == "/hello?x=1");
        CHECK(ex.request.version() == khz::Version::http2);
        CHECK(ex.request.header("Host") == "example.com");  // :authority
        CHECK(ex.request.header("Accept") == "*/*");
        CHECK(ex.request.header("Cookie") == "a=1; b=2");  // RFC 9113 §8.2.3
        respond_hello(ex);
      },
      [&](Run& r) {
        Client& c = *r.client;
        // The server's preface: its SETTINGS, and the connection window raised.
        const Client::Frame* settings = c.find(NGHTTP2_SETTINGS, 0);
        REQUIRE(settings != nullptr);
        CHECK(settings->settings.at(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) == options.max_concurrent_streams);
        CHECK(settings->settings.at(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) == options.initial_window_size);
        CHECK(settings->settings.at(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE) == options.max_header_list_size);
        const Client::Frame* window = c.find(NGHTTP2_WINDOW_UPDATE, 0);
        REQUIRE(window != nullptr);
        CHECK(window->increment == static_cast<std::int32_t>(options.connection_window_size - 65535));
        const Client::Stream& s = c.streams[1];
        CHECK(s.closed);
        CHECK(s.close_code == NGHTTP2_NO_ERROR);
        CHECK(s.field(":status") == "200");
        CHECK(s.field("server") == "khz");
        CHECK(s.field("date") == kDate);
        CHECK(s.field("content-type") == "text/plain");
        CHECK(s.field("content-length") == "6");
        CHECK(s.field("x-path") == "/hello?x=1");
        CHECK(s.body == "hello ");
        CHECK(r.server->session.stream_count() == 0);
        CHECK_FALSE(r.server->session.input_dropped());
      });
}

TEST_CASE("http2 session: a POST with a body, and request trailers, split at every byte") {
  const std::string body(3000, 'b');
  at_every_split(
      {}, [&](Client& c) { c.request("POST", "/up", {{"content-type", "text/plain"}}, body, {{"x-checksum", "42"}}); },
      [&](Exchange& ex) {
        CHECK(ex.request.method() == "POST");
        CHECK(ex.request.body() == body);
        CHECK(ex.request.trailers().get("x-checksum") == "42");
        ex.response.set_status(201);
        ex.response.set_body("got it");
        ex.response.trailers().add("X-Done", "yes");
      },
      [](Run& r) {
        const Client::Stream& s = r.client->streams[1];
        CHECK(s.field(":status") == "201");
        CHECK(s.body == "got it");
        REQUIRE(s.trailers.size() == 1);
        CHECK(s.trailers[0] == std::pair<std::string, std::string>("x-done", "yes"));
        CHECK(s.closed);
        CHECK(s.close_code == NGHTTP2_NO_ERROR);
      },
      {}, false);  // windows open by what each piece carried: WINDOW_UPDATEs may differ
}

TEST_CASE("http2 session: request bodies open the flow-control windows") {
  Http2Options options;
  options.initial_window_size = 16384;

  SECTION("a collected body: WINDOW_UPDATEs as it arrives, until the whole body is in") {
    Server server(options);
    REQUIRE_FALSE(server.session.start());
    Client client;
    const std::string body(100000, 'w');
    client.request("POST", "/big", {}, body);
    converse(client, server, respond_hello);
    const Client::Stream& s = client.streams[1];
    CHECK(s.field(":status") == "200");
    CHECK(s.body == "hello " + body);
    CHECK(client.count(NGHTTP2_WINDOW_UPDATE, 1) >= 2);  // the stream's window reopened, again and again
  }

  SECTION("a streamed body: the stream's window opens only as the handler reads") {
    Server server(options);
    server.events.policy.stream = true;
    REQUIRE_FALSE(server.session.start());
    Client client;
    client.request("POST", "/stream", {}, std::string(60000, 's'));
    std::string up = client.output();
    for (std::size_t cut = 0; cut < up.size(); cut += 1000) {
      auto piece = std::make_unique<std::string>(up.substr(cut, 1000));
      REQUIRE_FALSE(server.feed(*piece));
    }
    REQUIRE(server.events.started.size() == 1);  // at the headers, before the body
    ServerStream& s = *server.events.started[0];
    REQUIRE(server.session.begin_handler(s));
    CHECK(s.exchange.body_reader == &s);
    client.receive(server.output());
    CHECK(client.count(NGHTTP2_WINDOW_UPDATE, 1) == 0);  // nothing read yet

    std::string got;
    for (;;) {
      ServerSession::BodyRead piece = server.session.read_body(s);
      REQUIRE_FALSE(piece.error);
      if (piece.wait) {  // the client is waiting for the window
        client.receive(server.output());
        REQUIRE(client.count(NGHTTP2_WINDOW_UPDATE, 1) != 0);
        std::string more = client.output();
        REQUIRE_FALSE(more.empty());
        REQUIRE_FALSE(server.feed(more));
        continue;
      }
      if (piece.bytes.empty()) break;
      got += piece.bytes;
    }
    CHECK(got == std::string(60000, 's'));
    CHECK(s.done());
    s.exchange.response.set_status(204);
    server.session.finish_handler(s);
    server.session.handler_done(s);
    client.receive(server.output());
    CHECK(client.streams[1].field(":status") == "204");
    CHECK(client.streams[1].closed);
    CHECK(server.session.stream_count() == 0);
  }
}

TEST_CASE("http2 session: large buffered bodies go out whole from the response, past the output bound") {
  // A finished handler's body is written into the output straight from the response
  // (NGHTTP2_DATA_FLAG_NO_COPY). Three bodies of 300 KB, each its own pattern, one with
  // trailers: more than the 256 KiB the session buffers before telling nghttp2 to wait, so a
  // DATA frame is refused once and asked for again later.
  constexpr std::size_t kSize = 300 * 1000;
  auto body_of = [](int n) {
    std::string b(kSize, '\0');
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>('a' + (i * 7 + static_cast<std::size_t>(n) * 13) % 26);
    return b;
  };
  Server server;
  REQUIRE_FALSE(server.session.start());
  Client client(16 * 1024 * 1024);
  for (int n = 0; n < 3; ++n) client.request("GET", "/big/" + std::to_string(n), {{"x-n", std::to_string(n)}});
  auto handler = [&](Exchange& ex) {
    const int n = ex.request.header("X-N")[0] - '0';
    ex.response.set_body(body_of(n), "application/octet-stream");
    if (n == 1) ex.response.trailers().add("X-Sum", "done");
  };
  const std::size_t largest_send = converse(client, server, handler);
  CHECK(largest_send < 3 * kSize);  // the bound held some frames back for a later send
  for (int n = 0; n < 3; ++n) {
    const Client::Stream& st = client.streams[1 + 2 * n];
    CAPTURE(n);
    CHECK(st.field(":status") == "200");
    CHECK(st.field("content-length") == std::to_string(kSize));
    CHECK(st.body == body_of(n));
    CHECK(st.closed);
    CHECK(st.close_code == NGHTTP2_NO_ERROR);
    CHECK(st.trailers.size() == (n == 1 ? 1U : 0U));
  }
  CHECK(server.session.stream_count() == 0);
}

TEST_CASE("http2 session: file bodies are read into the output in place; one shorter than its range is reset alone") {
  // Frames of a file body are read (pread) straight into their place in the output. A file
  // that turns out shorter than the range the response announced cannot end its frame: that
  // stream is reset with INTERNAL_ERROR, nothing of the frame goes out, and the other streams
  // on the connection finish whole.
  char path[] = "/tmp/khz-h2-file-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  std::string content(50000, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('A' + (i * 11) % 26);
  REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  auto owner = std::make_shared<int>(fd);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  Server server;
  REQUIRE_FALSE(server.session.start());
  Client client(16 * 1024 * 1024);
  client.request("GET", "/ranges", {{"x-kind", "ranges"}});
  client.request("GET", "/short", {{"x-kind", "short"}});
  auto handler = [&](Exchange& ex) {
    ex.response.set_status(200);
    khz::FileBody& body = ex.response.set_file_body(fd, owner);
    if (ex.request.header("X-Kind") == "ranges") {
      body.pieces.push_back({"[head 1]", 100, 20000});   // heads between ranges, as multipart ranges have
      body.pieces.push_back({"[head 2]", 30000, 19000});
      body.tail = "[tail]";
    } else {
      body.pieces.push_back({"", 0, 80000});  // the file has 50,000 bytes
    }
  };
  converse(client, server, handler);
  const Client::Stream& ranges = client.streams[1];
  CHECK(ranges.field(":status") == "200");
  CHECK(ranges.body == "[head 1]" + content.substr(100, 20000) + "[head 2]" + content.substr(30000, 19000) + "[tail]");
  CHECK(ranges.closed);
  CHECK(ranges.close_code == NGHTTP2_NO_ERROR);
  const Client::Stream& cut = client.streams[3];
  CHECK(cut.closed);
  CHECK(cut.close_code == NGHTTP2_INTERNAL_ERROR);
  CHECK(cut.body.size() <= 50000);  // what came is the file's start, never bytes past its end
  CHECK(cut.body == content.substr(0, cut.body.size()));
  CHECK(client.find(NGHTTP2_GOAWAY) == nullptr);  // the connection lives on
  CHECK(server.session.stream_count() == 0);
}

TEST_CASE("http2 session: RST_STREAM both ways") {
  SECTION("the client resets a stream whose handler runs: its cancel signal fires") {
    Server server;
    server.events.policy.stream = true;
    REQUIRE_FALSE(server.session.start());
    Client client;
    std::int32_t id = client.request("POST", "/slow", {}, std::string(10, 'x'));
    // Headers only: the body's DATA frame comes later.
    std::string up = client.output();
    REQUIRE_FALSE(server.feed(up));
    REQUIRE(server.events.started.size() == 1);
    ServerStream& s = *server.events.started[0];
    REQUIRE(server.session.begin_handler(s));
    REQUIRE(nghttp2_submit_rst_stream(client.ng(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL) == 0);
    REQUIRE_FALSE(server.feed(client.output()));
    CHECK(s.closed);
    CHECK(s.cancel.triggered());
    server.session.finish_handler(s);  // the handler notices and returns: nothing is sent
    server.session.handler_done(s);
    CHECK(server.session.stream_count() == 0);
    client.receive(server.output());
    CHECK(client.count(NGHTTP2_HEADERS, id) == 0);
  }

  SECTION("the response ends before the request: RST_STREAM NO_ERROR (RFC 9113 §8.1)") {
    Server server;
    server.events.policy.stream = true;
    REQUIRE_FALSE(server.session.start());
    Client client;
    Fields fields = {{"content-length", "100000"}};
    std::int32_t id = client.request("POST", "/early", fields, std::string(100000, 'e'));
    REQUIRE_FALSE(server.feed(client.output()));
    server.serve([](Exchange& ex) { ex.response.set_status(403); });  // the body unread
    client.receive(server.output());
    CHECK(client.streams[id].field(":status") == "403");
    const Client::Frame* rst = client.find(NGHTTP2_RST_STREAM, id);
    REQUIRE(rst != nullptr);
    CHECK(rst->error_code == NGHTTP2_NO_ERROR);
  }
}

TEST_CASE("http2 session: not the client preface: SETTINGS, then GOAWAY PROTOCOL_ERROR") {
  struct Row {
    const char* what;
    std::string bytes;
  };
  const Row rows[] = {
      {"an HTTP/1.1 request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"a magic that differs after its first line", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"},
  };
  for (const Row& row : rows) {
    for (std::size_t cut = 0; cut < row.bytes.size(); ++cut) {
      CAPTURE(row.what, cut);
      std::unique_ptr<Server> fed = fed_server({}, row.bytes, cut);
      Server& server = *fed;
      CHECK(server.session.input_dropped());
      CHECK(server.session.goaway_sent());
      Client client;
      client.receive(server.output());
      REQUIRE(client.frames.size() >= 2);
      CHECK(client.frames[0].type == NGHTTP2_SETTINGS);
      client.require_goaway(NGHTTP2_PROTOCOL_ERROR, 0);
      CHECK(server.session.over());  // the driver closes the connection now
    }
  }
}

namespace {
// The rapid-reset sections' start: a server allowing 5 resets a second, and a client that
// opened `streams` GET streams, their HEADERS in `batch` (not yet fed).
struct ResetScenario {
  explicit ResetScenario(int streams) : server(options()) {
    REQUIRE_FALSE(server.session.start());
    for (int i = 0; i < streams; ++i) ids.push_back(client.request("GET", "/"));
    batch = client.output();
  }
  static Http2Options options() {
    Http2Options o;
    o.max_resets_per_second = 5;
    return o;
  }
  Server server;
  Client client;
  std::vector<std::int32_t> ids;
  std::string batch;
};
}  // namespace

TEST_CASE("http2 session: floods get GOAWAY ENHANCE_YOUR_CALM and their input dropped") {
  QuietLog quiet;
  SECTION("rapid reset: a stream reset in the batch that opened it never starts a handler") {
    ResetScenario r(10);
    auto& [server, client, ids, batch] = r;
    for (std::int32_t id : ids) REQUIRE(nghttp2_submit_rst_stream(client.ng(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL) == 0);
    batch += client.output();
    REQUIRE_FALSE(server.feed(batch));
    CHECK(server.session.input_dropped());
    // Streams start after the whole batch: one whose RST_STREAM was parsed never starts. The
    // RST_STREAMs after the limit reach a terminated session, which ignores them.
    const std::vector<std::int32_t> served = run_started_handlers(server);
    CHECK(served == std::vector<std::int32_t>(ids.begin() + 6, ids.end()));  // the sixth reset met the limit
    client.receive(server.output());
    client.require_goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    CHECK(client.count(NGHTTP2_HEADERS) == 0);
  }

  SECTION("rapid reset: a proxy cancelling a third of its streams is past the count but not most of its streams") {
    ResetScenario r(30);
    auto& [server, client, ids, batch] = r;
    std::vector<std::int32_t> kept;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i % 3 == 2) {
        REQUIRE(nghttp2_submit_rst_stream(client.ng(), NGHTTP2_FLAG_NONE, ids[i], NGHTTP2_CANCEL) == 0);
      } else {
        kept.push_back(ids[i]);
      }
    }
    batch += client.output();
    REQUIRE_FALSE(server.feed(batch));  // 10 resets: over 5, but a third of the 30 streams
    CHECK_FALSE(server.session.input_dropped());
    const std::vector<std::int32_t> served = run_started_handlers(server);
    CHECK(served == kept);
    client.receive(server.output());
    CHECK(client.count(NGHTTP2_GOAWAY) == 0);
    CHECK(client.count(NGHTTP2_HEADERS) == kept.size());
  }

  SECTION("CONTINUATION flood: the frame over max_continuations is never parsed") {
    Http2Options options;
    options.max_continuations = 4;
    Client client;
    std::string bytes = client.output();  // the magic and SETTINGS
    const std::string block = "\x82\x84\x86";  // :method GET, :path /, :scheme http (indexed)
    bytes += frame(NGHTTP2_HEADERS, 0, 1, block);
    for (int i = 0; i < 6; ++i) bytes += frame(NGHTTP2_CONTINUATION, 0, 1, "\x90");  // accept-encoding
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
      CAPTURE(cut);
      std::unique_ptr<Server> server = fed_server(options, bytes, cut);
      CHECK(server->session.input_dropped());
      Client decoder;
      decoder.receive(server->output());
      decoder.require_goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  SECTION("PING flood: the session parses no more once it owes max ACKs") {
    Http2Options options;
    options.max_outbound_control_frames = 3;
    Server server(options);
    REQUIRE_FALSE(server.session.start());
    Client client;
    std::string bytes = client.output();
    for (int i = 0; i < 10; ++i) bytes += frame(NGHTTP2_PING, 0, 0, std::string(8, static_cast<char>(i)));
    std::string_view rest = bytes;
    while (!rest.empty()) {
      Result<std::size_t> n = server.session.receive(rest);
      REQUIRE(n);
      if (*n == 0) break;
      rest.remove_prefix(*n);
    }
    CHECK(server.session.acks_owed() == 3);  // the client's SETTINGS and two PINGs
    CHECK_FALSE(rest.empty());
    // The driver then gives the writer a turn; if the client still does not read, calm().
    server.session.calm("3 PING/SETTINGS ACKs owed that the client does not read (flood)");
    CHECK(server.session.input_dropped());
    client.receive(server.output());
    CHECK(client.count(NGHTTP2_PING) == 0);  // a terminated session sends its GOAWAY, not the ACKs
    client.require_goaway(NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

TEST_CASE("http2 session: a header list over max_header_list_size gets 431, the connection lives") {
  Http2Options options;
  options.max_header_list_size = 1024;
  at_every_split(
      options,
      [](Client& c) {
        c.request("GET", "/big-head", {{"x-big", std::string(2000, 'h')}});
        c.request("GET", "/small");
      },
      respond_hello,
      [](Run& r) {
        CHECK(r.client->streams[1].field(":status") == "431");
        CHECK(r.client->streams[1].body == "431 request header fields too large");
        CHECK(r.client->streams[3].field(":status") == "200");
        CHECK(r.client->find(NGHTTP2_GOAWAY) == nullptr);
        CHECK_FALSE(r.server->session.input_dropped());
      });
}

TEST_CASE("http2 session: many responses submitted before one send carry their own fields (read in place)") {
  // A finished handler's fields go to nghttp2 uncopied and are read when the HEADERS are packed,
  // here all in one send() after every handler of the batch is done. Each stream's fields differ
  // (names in mixed case, values short and long), so a field read from another stream's memory,
  // or from memory a stream reused, shows.
  constexpr int kStreams = 40;
  Run r = run_exchange(
      {},
      [](Client& c) {
        for (int i = 0; i < kStreams; ++i) c.request("GET", "/s/" + std::to_string(i), {{"x-n", std::to_string(i)}});
      },
      [](Exchange& ex) {
        const std::string n(ex.request.header("X-N"));
        ex.response.set_status(200 + std::stoi(n) % 3);  // 200, 201, 202: each with a body
        ex.response.headers().add("X-Stream-" + n, "v" + n);
        ex.response.headers().add("X-Long", std::string(40 + std::stoi(n), static_cast<char>('a' + std::stoi(n) % 26)));
        ex.response.set_body("body " + n, "text/plain");
      });
  REQUIRE(r.client->streams.size() == kStreams);
  for (const auto& [id, st] : r.client->streams) {
    const int n = (id - 1) / 2;  // client streams 1, 3, 5, ...
    CAPTURE(id);
    CHECK(st.field(":status") == std::to_string(200 + n % 3));
    CHECK(st.field("x-stream-" + std::to_string(n)) == "v" + std::to_string(n));
    CHECK(st.field("x-long") == std::string(40 + n, static_cast<char>('a' + n % 26)));
    CHECK(st.field("content-length") == std::to_string(5 + std::to_string(n).size()));
    CHECK(st.field("date") == kDate);
    CHECK(st.body == "body " + std::to_string(n));
    CHECK(st.closed);
  }
  CHECK(r.server->session.stream_count() == 0);
}

TEST_CASE("http2 session: connection-specific response fields stay out of HTTP/2 (RFC 9113 §8.2.2)") {
  struct Row {
    std::string name;
    std::string value;
    std::string sent;  // the value that goes out ("<none>": dropped; the server's own for its fields)
  };
  const std::vector<Row> rows = {
      {"Connection", "close", "<none>"},
      {"Keep-Alive", "timeout=5", "<none>"},
      {"Proxy-Connection", "keep-alive", "<none>"},
      {"Transfer-Encoding", "chunked", "<none>"},
      {"Upgrade", "h2c", "<none>"},
      {"TE", "trailers", "<none>"},  // a request field
      {"TE", "gzip", "<none>"},
      {"Host", "example.com", "example.com"},
      {"Content-Length", "999", "6"},  // the server's own
      {"Date", "yesterday", std::string(kDate)},
      {"Server", "other", "khz"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name, row.value);
    Run r = run_exchange(
        {}, [](Client& c) { c.request("GET", "/"); },
        [&](Exchange& ex) {
          respond_hello(ex);
          ex.response.headers().add(row.name, row.value);
          ex.response.trailers().add(row.name, row.value);
        });
    const Client::Stream& s = r.client->streams[1];
    CHECK(s.field(":status") == "200");  // the client took the response as well-formed
    std::string lower = row.name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    CHECK(s.field(lower) == row.sent);
    CHECK(std::count_if(s.headers.begin(), s.headers.end(), [&](const auto& f) { return f.first == lower; }) <= 1);
    const bool trailer_sent = std::any_of(s.trailers.begin(), s.trailers.end(), [&](const auto& f) { return f.first == lower; });
    CHECK(trailer_sent == (lower == "host"));
    CHECK(s.body == "hello ");
  }
}

TEST_CASE("http2 session: nghttp2 allocations failing one by one end the session cleanly") {
  QuietLog quiet;
  // nghttp2's allocator, asking the fail counter before each allocation.
  struct FailingMemory {
    khz::test::FailCounter& counter;
    nghttp2_mem mem{this, &fail_malloc, &pass_free, &fail_calloc, &fail_realloc};
    static khz::test::FailCounter& of(void* user) { return static_cast<FailingMemory*>(user)->counter; }
    static void* fail_malloc(std::size_t size, void* user) { return of(user).fail() ? nullptr : std::malloc(size); }
    static void pass_free(void* p, void*) { std::free(p); }
    static void* fail_calloc(std::size_t n, std::size_t size, void* user) {
      return of(user).fail() ? nullptr : std::calloc(n, size);
    }
    static void* fail_realloc(void* p, std::size_t size, void* user) { return of(user).fail() ? nullptr : std::realloc(p, size); }
  };

  std::size_t failures = 0;
  const std::size_t runs = khz::test::sweep_failures([&](khz::test::FailCounter& counter) {
    CAPTURE(counter.nth());
    FailingMemory memory{counter};
    Client client;
    client.request("GET", "/a");
    client.request("POST", "/b", {}, std::string(5000, 'p'), {{"x-t", "1"}});
    const std::string up = client.output();
    bool failed = false;
    {
      Server server({}, &memory.mem);
      if (server.session.start()) {
        failed = true;
      } else if (server.feed(up)) {
        failed = true;
      } else {
        server.serve(respond_hello);
        failed = static_cast<bool>(server.session.send());
        std::string down;
        server.out.for_each_segment([&](std::string_view s) { down += s; });
        if (!counter.reached()) {
          client.receive(down);
          CHECK(client.streams[1].body == "hello ");
          CHECK(client.streams[3].body == "hello " + std::string(5000, 'p'));
        }
      }
      server.session.end();  // as the driver does when the connection ends
    }  // the session goes: ASan's leak check sees whatever nghttp2 or the session kept
    if (failed) ++failures;
    CHECK((failed ? counter.reached() : true));
  });
  INFO("runs " << runs << ", failed runs " << failures);
  CHECK(runs > 20);        // nghttp2 allocated that often: each allocation failed once
  CHECK(failures > 0);     // and some of them ended the session with an error
}

// ---- RFC 8441: extended CONNECT

namespace {

Fields extended_connect(std::string_view protocol = "websocket") {
  return {{":method", "CONNECT"}, {":protocol", std::string(protocol)}, {":scheme", "https"}, {":path", "/chat?room=1"},
          {":authority", "example.com"}, {"sec-websocket-version", "13"}};
}

// A stream opened with exactly `fields` (then `data` and END_STREAM, if given) is malformed: it
// gets RST_STREAM PROTOCOL_ERROR and no handler, while a request after it on the same
// connection is served (no GOAWAY).
void require_stream_error(const Http2Options& options, const Fields& fields, std::optional<std::string> data = {}) {
  Server server(options);
  REQUIRE_FALSE(server.session.start());
  Client client;
  std::int32_t bad = client.open(fields, !data);
  if (data) client.send(bad, *data, true);
  std::int32_t good = client.request("GET", "/after");
  REQUIRE_FALSE(server.feed(client.output()));
  REQUIRE(server.events.started.size() == 1);
  CHECK(server.events.started[0]->id == good);
  server.serve(respond_hello);
  client.receive(server.output());
  const Client::Frame* rst = client.find(NGHTTP2_RST_STREAM, bad);
  REQUIRE(rst != nullptr);
  CHECK(rst->error_code == NGHTTP2_PROTOCOL_ERROR);
  CHECK(client.streams[good].field(":status") == "200");
  CHECK(client.find(NGHTTP2_GOAWAY) == nullptr);
}

}  // namespace

TEST_CASE("http2 session: SETTINGS_ENABLE_CONNECT_PROTOCOL is sent unless disabled") {
  for (bool enabled : {true, false}) {
    CAPTURE(enabled);
    Http2Options options;
    options.enable_connect_protocol = enabled;
    Server server(options);
    REQUIRE_FALSE(server.session.start());
    Client client;
    client.receive(server.output());
    const Client::Frame* settings = client.find(NGHTTP2_SETTINGS, 0);
    REQUIRE(settings != nullptr);
    CHECK(settings->settings.count(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == (enabled ? 1u : 0u));
    if (enabled) CHECK(settings->settings.at(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1);
    CHECK(nghttp2_session_get_remote_settings(client.ng(), NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == (enabled ? 1u : 0u));
  }
}

TEST_CASE("http2 session: an extended CONNECT starts its handler at once and becomes a tunnel") {
  Server server;
  REQUIRE_FALSE(server.session.start());
  Client client;
  client.receive(server.output());
  std::int32_t id = client.open(extended_connect());
  client.send(id, "hello", false);
  REQUIRE_FALSE(server.feed(client.output()));
  // No END_STREAM yet, no body policy asked: the handler starts with the headers.
  REQUIRE(server.events.started.size() == 1);
  ServerStream& s = *server.events.started[0];
  Exchange& ex = s.exchange;
  CHECK(ex.request.method() == "CONNECT");
  CHECK(ex.request.path() == "/chat");
  CHECK(ex.request.query() == "room=1");
  CHECK(ex.request.connect_protocol() == "websocket");
  CHECK(ex.request.header("Host") == "example.com");
  CHECK(ex.request.header("Sec-WebSocket-Version") == "13");
  CHECK(ex.body_reader == nullptr);
  REQUIRE(server.session.begin_handler(s));
  ex.response.set_status(200);
  ex.hijack = [](khz::transport::Connection&) -> Task<void> { co_return; };

  LinkedBuffer in, out;
  REQUIRE(server.session.begin_tunnel(s, out));
  client.receive(server.output());
  Client::Stream& cs = client.streams[id];
  CHECK(cs.field(":status") == "200");
  CHECK(cs.field("content-length") == "<none>");  // RFC 9110 §8.6
  CHECK_FALSE(cs.closed);
  CHECK(client.count(NGHTTP2_HEADERS, id) == 1);
  CHECK((client.find(NGHTTP2_HEADERS, id)->flags & NGHTTP2_FLAG_END_STREAM) == 0);

  // Bytes both ways.
  CHECK(server.session.tunnel_receive(s, in) == 5);
  CHECK(std::string(in.peek(in.size())) == "hello");
  out.append("world");
  REQUIRE_FALSE(server.session.tunnel_send(s));
  client.receive(server.output());
  CHECK(cs.body == "world");
  CHECK(out.empty());
  CHECK_FALSE(cs.closed);

  // The client ends its half: the tunnel reads to the end; the server ends its own.
  client.send(id, "!", true);
  REQUIRE_FALSE(server.feed(client.output()));
  CHECK_FALSE(server.session.tunnel_at_eof(s));
  CHECK(server.session.tunnel_receive(s, in) == 1);
  CHECK(server.session.tunnel_at_eof(s));
  server.session.end_tunnel(s, false);
  client.receive(server.output());
  CHECK(cs.closed);
  CHECK(cs.close_code == NGHTTP2_NO_ERROR);
  CHECK(client.count(NGHTTP2_RST_STREAM, id) == 0);
  server.session.handler_done(s);
  CHECK(server.session.stream_count() == 0);
}

TEST_CASE("http2 session: a tunnel the server closes first waits tunnel_close_grace for the client's half") {
  Http2Options options;
  options.tunnel_close_grace = std::chrono::milliseconds(50);
  Server server(options);
  REQUIRE_FALSE(server.session.start());
  Client client;
  std::int32_t id = client.open(extended_connect());
  REQUIRE_FALSE(server.feed(client.output()));
  REQUIRE(server.events.started.size() == 1);
  ServerStream& s = *server.events.started[0];
  REQUIRE(server.session.begin_handler(s));
  s.exchange.response.set_status(200);
  s.exchange.hijack = [](khz::transport::Connection&) -> Task<void> { co_return; };
  LinkedBuffer out;
  REQUIRE(server.session.begin_tunnel(s, out));
  server.session.end_tunnel(s, false);
  server.session.handler_done(s);
  client.receive(server.output());
  CHECK(client.count(NGHTTP2_RST_STREAM, id) == 0);  // not at once: END_STREAM is a FIN
  CHECK(server.session.stream_count() == 1);
  // DATA after the server's END_STREAM is dropped (its window given back).
  client.send(id, std::string(1000, 'x'), false);
  REQUIRE_FALSE(server.feed(client.output()));
  server.session.check_deadlines(std::chrono::steady_clock::now());
  client.receive(server.output());
  CHECK(client.count(NGHTTP2_RST_STREAM, id) == 0);
  server.session.check_deadlines(std::chrono::steady_clock::now() + std::chrono::milliseconds(60));
  client.receive(server.output());
  const Client::Frame* rst = client.find(NGHTTP2_RST_STREAM, id);
  REQUIRE(rst != nullptr);
  CHECK(rst->error_code == NGHTTP2_CANCEL);
  CHECK(server.session.stream_count() == 0);
}

TEST_CASE("http2 session: an extended CONNECT answered non-2xx is an ordinary response; hijack is ignored") {
  Server server;
  REQUIRE_FALSE(server.session.start());
  Client client;
  std::int32_t id = client.open(extended_connect("nope"));
  REQUIRE_FALSE(server.feed(client.output()));
  REQUIRE(server.events.started.size() == 1);
  ServerStream& s = *server.events.started[0];
  REQUIRE(server.session.begin_handler(s));
  s.exchange.response.set_status(403);
  s.exchange.response.set_body("no");
  s.exchange.hijack = [](khz::transport::Connection&) -> Task<void> { co_return; };
  LinkedBuffer out;
  REQUIRE_FALSE(server.session.begin_tunnel(s, out));
  server.session.finish_handler(s);
  server.session.handler_done(s);
  client.receive(server.output());
  Client::Stream& cs = client.streams[id];
  CHECK(cs.field(":status") == "403");
  CHECK(cs.body == "no");
  const Client::Frame* rst = client.find(NGHTTP2_RST_STREAM, id);  // RFC 9113 §8.1: the request never ended
  REQUIRE(rst != nullptr);
  CHECK(rst->error_code == NGHTTP2_NO_ERROR);
}

TEST_CASE("http2 session: :protocol without the setting, and malformed extended CONNECTs, are stream errors") {
  struct Case {
    const char* name;
    bool enabled;
    Fields fields;
  };
  Fields no_path = {{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"}, {":authority", "example.com"}};
  Fields no_scheme = {{":method", "CONNECT"}, {":protocol", "websocket"}, {":path", "/chat"}, {":authority", "example.com"}};
  Fields no_authority = {{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"}, {":path", "/chat"}};
  Fields not_connect = {{":method", "GET"}, {":protocol", "websocket"}, {":scheme", "https"}, {":path", "/chat"},
                        {":authority", "example.com"}};
  const Case cases[] = {
      {"the setting off", false, extended_connect()},
      {"no :path", true, no_path},
      {"no :scheme", true, no_scheme},
      {"no :authority", true, no_authority},
      {":protocol on a GET", true, not_connect},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Http2Options options;
    options.enable_connect_protocol = c.enabled;
    // END_STREAM on the HEADERS: a malformed request is refused at its head either way
    require_stream_error(options, c.fields);
  }
}

TEST_CASE("http2 session: a plain CONNECT with content-length is a stream error; without, it reaches its handler") {
  // RFC 9110 §9.3.6: no content in a CONNECT. nghttp2 does not check a plain CONNECT's
  // content-length, so the handler saw one that its body (its DATA, collected) did not match.
  const Fields with_length = {{":method", "CONNECT"}, {":authority", "example.com:443"}, {"content-length", "8"}};
  require_stream_error({}, with_length);
  require_stream_error({}, with_length, "12345678");
  Server server;
  REQUIRE_FALSE(server.session.start());
  Client client;
  std::int32_t id = client.open({{":method", "CONNECT"}, {":authority", "example.com:443"}}, true);
  REQUIRE_FALSE(server.feed(client.output()));
  REQUIRE(server.events.started.size() == 1);
  CHECK(server.events.started[0]->id == id);
  CHECK(server.events.started[0]->exchange.request.method() == "CONNECT");
  CHECK(server.events.started[0]->exchange.request.header("Host") == "example.com:443");
}

TEST_CASE("http2 session: a :path with whitespace is a stream error; the connection lives") {
  // A request-target has no whitespace (RFC 9110 §4.1); a proxy forwards the target byte for
  // byte into an HTTP/1.1 request line, so the server must never hand one on (nghttp2 refuses it
  // under khz's options; HTTP/1.1 answers 400).
  for (std::string path : {"/a b", "/a\tb", "/x HTTP/1.1", "* "}) {
    CAPTURE(path);
    require_stream_error({}, {{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", path}});
  }
}

TEST_CASE("http2 session: a request field with a control byte, edge whitespace or a non-token name is a stream error") {
  // RFC 9113 §8.2.1: such a request is malformed. nghttp2 resets the stream itself under khz's
  // options (no on_invalid_header callback): never served without the field, which a proxy would
  // pass on as a request the client never sent. HTTP/1.1 answers the same fields with 400.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"x-a", "a\x01b"}, {"x-a", " padded"}, {"x-a", "padded\t"}, {"x(a)", "v"}, {"x-a", "a\x7f"}};
  for (const auto& [name, value] : bad) {
    CAPTURE(name, value);
    require_stream_error({}, {{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", "/"}, {name, value}});
  }
}

TEST_CASE("http2 session: response fields with a control byte, or a name that is not a token, are left out") {
  // nghttp2 sends what it is given: a CR or LF from a handler's input would reach the client
  // (which resets the stream) or a proxy behind it (which may write it into HTTP/1.1).
  Server server;
  REQUIRE_FALSE(server.session.start());
  Client client;
  client.request("GET", "/x");
  REQUIRE_FALSE(server.feed(client.output()));
  server.serve([](Exchange& ex) {
    ex.response.set_status(200);
    ex.response.headers().add("X-Echo", "a\r\nset-cookie: evil=1");
    ex.response.headers().add("Bad Name", "v");
    ex.response.headers().add("X-Ok", "1");
    ex.response.trailers().add("X-T", "x\ny");
    ex.response.trailers().add("X-Sum", "42");
    ex.response.set_body("body", "text/plain");
  });
  client.receive(server.output());  // the client's nghttp2 would fail the test on a malformed field
  const Client::Stream& s = client.streams[1];
  CHECK(s.field(":status") == "200");
  CHECK(s.field("x-ok") == "1");
  CHECK(s.field("x-echo") == "<none>");
  CHECK(s.field("set-cookie") == "<none>");
  CHECK(s.body == "body");
  REQUIRE(s.trailers.size() == 1);
  CHECK(s.trailers[0] == std::pair<std::string, std::string>("x-sum", "42"));
  CHECK(client.find(NGHTTP2_RST_STREAM) == nullptr);
}

TEST_CASE("http2: nghttp2's pooled allocator keeps malloc's contract") {
  nghttp2_mem* mem = khz::protocol::http2::pooled_memory();
  REQUIRE(mem != nullptr);
  void* ud = mem->mem_user_data;
  // Sizes across the pool's classes and past them (bigger than 4 KiB goes to operator new).
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{48}, std::size_t{49}, std::size_t{200},
                           std::size_t{4080}, std::size_t{4081}, std::size_t{70000}}) {
    auto* p = static_cast<unsigned char*>(mem->malloc(size, ud));
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
    std::memset(p, 0xab, size);
    // Growing keeps the bytes; shrinking keeps the block.
    auto* q = static_cast<unsigned char*>(mem->realloc(p, size + 100, ud));
    REQUIRE(q != nullptr);
    CHECK(std::all_of(q, q + size, [](unsigned char c) { return c == 0xab; }));
    std::memset(q + size, 0xcd, 100);
    CHECK(mem->realloc(q, size / 2, ud) == q);
    mem->free(q, ud);
  }
  auto* z = static_cast<unsigned char*>(mem->calloc(100, 30, ud));
  REQUIRE(z != nullptr);
  CHECK(std::all_of(z, z + 3000, [](unsigned char c) { return c == 0; }));
  mem->free(z, ud);
  CHECK(mem->calloc(SIZE_MAX / 2, 4, ud) == nullptr);  // n * size overflows
  CHECK(mem->malloc(SIZE_MAX - 4, ud) == nullptr);
  mem->free(nullptr, ud);
  void* fresh = mem->realloc(nullptr, 64, ud);  // realloc(nullptr) is malloc
  REQUIRE(fresh != nullptr);
  // A block freed on another thread joins that thread's pool.
  std::thread([&] { mem->free(fresh, ud); }).join();
}
