// SPDX-License-Identifier: Apache-2.0
// libFuzzer: khz's HTTP/2 client connection (protocol/http2_client.h) against a server played by
// a program read from the input: the requests the client makes (GET, HEAD, POST with a whole or
// a streamed body, cancelled or not) and the frames the server answers with (http2_wire.h:
// response heads from a template, header blocks from a dictionary, DATA, SETTINGS, RST_STREAM,
// GOAWAY, raw frames), reaching the client in pieces of a chosen size, then the server's close.
// The client runs on a ManualLoop over a scripted connection: no sockets, no threads, no timers.
// Checked, besides ASan/UBSan/LSan:
//   - a response head handed to a caller has a final status the server sent on that stream
//     (200..999), and no pseudo-field among its fields or trailers;
//   - a body read whole is no longer than the limit and as long as its content-length says
//     (but for HEAD, 204 and 304);
//   - what the client sends is checked by http2_wire.h's FrameReader: the preface, whole frames,
//     header blocks that decode with the request's pseudo-fields first, no connection-specific
//     field and no control byte (a request may carry a caller's field with a CR or LF: left out);
//   - once the connection closes, every caller's wait ends, and once its handle is gone the
//     session (and its connection) is freed: nothing hangs, nothing leaks.
// Input program: see `Op` below; each operation reads its arguments from the bytes after it.
#include "http2_wire.h"
#include "support/memory_connection.h"

#include <khz/common/log.h>
#include <khz/protocol/http2_client.h>
#include <khz/transport/error.h>

#include <charconv>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using khz::fuzz::FrameReader;
using khz::fuzz::FrameWriter;
using khz::fuzz::FuzzInput;
using khz::fuzz::trace;

namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

// The server's side of the wire, shared by the program and the client's connection (which the
// client owns and frees with its session).
struct Wire {
  std::string to_client;  // delivered, not yet read by the client
  bool server_closed = false;
  FrameReader from_client{FrameReader::Role::client};
  class ScriptConnection* conn = nullptr;  // while it lives
  void deliver(std::string_view bytes);
  void close();
};

// The client's transport: reads what the program delivered, writes into the checker. Fills
// complete on a later turn of the loop, flushes at once.
class ScriptConnection final : public khz::transport::Connection {
 public:
  ScriptConnection(khz::test::ManualLoop& loop, Wire& wire) : loop_(loop), wire_(wire) { wire_.conn = this; }
  ~ScriptConnection() override { wire_.conn = nullptr; }

  void close() noexcept override {
    closed_ = true;
    pump();
  }
  std::string peer_address() const override { return "fuzz-server:443"; }
  std::string local_address() const override { return "fuzz-client:50000"; }

  // More bytes from the server, or its close: a waiting fill may complete.
  void pump() noexcept {
    if (!fill_) return;
    std::error_code ec;
    if (closed_) {
      ec = khz::transport::errc::cancelled;
    } else {
      if (!wire_.to_client.empty()) {
        input().append(wire_.to_client);
        wire_.to_client.clear();
      }
      if (input().size() < want_ && !wire_.server_closed) return;
      if (input().size() < want_) ec = khz::transport::errc::eof;
    }
    fill_error_ = ec;
    loop_.post([h = std::exchange(fill_, {})] { h.resume(); });
  }

 private:
  void start_fill(std::size_t n, std::coroutine_handle<> h) override {
    fill_ = h;
    want_ = n;
    pump();
  }
  bool start_flush(std::coroutine_handle<>) override {
    output().for_each_segment([&](std::string_view s) { wire_.from_client.take(s); });
    output().skip(output().size());
    output().release();
    flush_error_ = closed_ ? std::error_code(khz::transport::errc::cancelled) : std::error_code();
    return false;  // done at once
  }
  void on_idle_while_draining() noexcept override {}

  khz::test::ManualLoop& loop_;
  Wire& wire_;
  std::coroutine_handle<> fill_;
  std::size_t want_ = 0;
  bool closed_ = false;
};

void Wire::deliver(std::string_view bytes) {
  to_client.append(bytes);
  if (conn != nullptr) conn->pump();
}

void Wire::close() {
  server_closed = true;
  if (conn != nullptr) conn->pump();
}

// One request and what came of it.
struct Call {
  std::string method;
  khz::Http2Stream* stream = nullptr;  // while the call holds it
  std::int32_t id = 0;
  khz::Response response;
  bool done = false;
};

struct Server {
  FrameWriter frames;
  std::set<std::pair<std::int32_t, int>> statuses;  // (stream, status) sent as a :status field

  void headers(std::uint32_t id, const khz::fuzz::Fields& fields, std::uint8_t flags) {
    for (const auto& [n, v] : fields) {
      int status = 0;
      if (n == ":status" && std::from_chars(v.data(), v.data() + v.size(), status).ec == std::errc()) {
        statuses.emplace(static_cast<std::int32_t>(id & 0x7fffffff), status);
      }
    }
    frames.headers(id, fields, flags & 1, (flags >> 1) & 3, (flags & 0x08) != 0, (flags & 0x10) != 0, (flags & 0x20) != 0);
  }
};

khz::Task<void> run_call(khz::Http2ClientConnection* client, Call* call, std::string body, bool streamed,
                         std::string injected, const Server* server, std::uint64_t max_body) {
  std::error_code ec = co_await client->wait_for_slot(kNever);
  if (!ec) {
    khz::HeaderMap fields;
    fields.add("X-A", "1");
    fields.add("Connection", "keep-alive");  // connection-specific: never sent (RFC 9113 §8.2.2)
    if (!injected.empty()) fields.add("X-Echo", injected);  // a caller's input: never sent with a control byte
    khz::Http2RequestInfo info{.scheme = "https", .authority = "example.com", .body = body, .streamed_body = streamed};
    khz::Result<khz::Http2Stream> opened = client->open(call->method, "/p?q=1", fields, {}, call->response, info);
    if (opened) {
      khz::Http2Stream stream = std::move(*opened);
      call->stream = &stream;
      call->id = stream.id();
      if (streamed) {
        if (trace()) std::fprintf(stderr, "  call on stream %d: writes %zu bytes\n", call->id, body.size());
        ec = co_await stream.write(body, kNever);
        if (!ec) ec = co_await stream.write_end(kNever);
      }
      if (!ec) ec = co_await stream.read_head(kNever);
      if (!ec) {
        const khz::Response& r = call->response;
        FUZZ_CHECK(r.status() >= 200 && r.status() <= 999);
        FUZZ_CHECK(server->statuses.count({call->id, r.status()}) != 0);  // the server sent it
        for (const auto& f : r.headers()) FUZZ_CHECK(!f.name.empty() && f.name[0] != ':');
        ec = co_await stream.read_all(kNever);
        if (!ec) {
          for (const auto& f : r.trailers()) FUZZ_CHECK(!f.name.empty() && f.name[0] != ':');
          FUZZ_CHECK(r.body().size() <= max_body);
          std::uint64_t length = 0;
          const std::string_view cl = r.header("content-length");
          const bool bodiless = call->method == "HEAD" || r.status() == 204 || r.status() == 304;
          if (!bodiless && !cl.empty() && std::from_chars(cl.data(), cl.data() + cl.size(), length).ptr == cl.data() + cl.size()) {
            FUZZ_CHECK(r.body().size() == length);
          }
        }
      }
      call->stream = nullptr;
    }
  }
  if (trace()) std::fprintf(stderr, "  call on stream %d: %s\n", call->id, ec ? ec.message().c_str() : "ok");
  call->done = true;
}

enum Op : std::uint8_t {
  kControl,   // kind, its arguments: a frame without a header block (FrameWriter::control)
  kResponse,  // stream, sel (status, content-length, a field more), flags: a response head
  kHeaders,   // stream, flags, count, fields: a header block from the dictionary
  kDeliver,   // piece size: the server's pending bytes to the client, a piece a turn
  kPoll,      // the loop runs what is ready
  kOpen,      // method sel, body length: a request (whole or streamed body)
  kCancel,    // call: its stream is cancelled
  kClose,     // the client closes the connection
  kShutdown,  // the client's GOAWAY
  kEof,       // the server closes the connection
  kOpCount
};

class Fuzz {
 public:
  Fuzz() {
    auto conn = std::make_unique<ScriptConnection>(loop_, wire_);
    client_ = khz::Http2ClientConnection::make(std::move(conn), options_);
  }

  void run(FuzzInput& in) {
    if ((in.u8() & 3) != 0) server_.frames.frame(NGHTTP2_SETTINGS, 0, 0, {});  // the server's preface
    int steps = 0;
    while (!in.empty() && ++steps < 300) step(in);
    finish();
  }

 private:
  void step(FuzzInput& in) {
    const auto op = static_cast<Op>(in.u8() % kOpCount);
    if (trace()) std::fprintf(stderr, "op %d (%zu calls)\n", op, calls_.size());
    switch (op) {
      case kControl: server_.frames.control(in.u8(), in); break;
      case kResponse: {
        const std::uint32_t id = server_.frames.stream(in.u8());
        const std::uint8_t sel = in.u8();
        const std::uint8_t flags = in.u8();
        static constexpr std::string_view statuses[] = {"200", "204", "304", "404", "100", "103", "099", "999"};
        khz::fuzz::Fields f{{":status", std::string(statuses[sel % 8])}};
        if (sel & 0x08) f.emplace_back("content-length", std::to_string(in.u8()));
        if (sel & 0x10) f.push_back(khz::fuzz::field_from(in));
        server_.headers(id, f, flags);
        break;
      }
      case kHeaders: {
        const std::uint32_t id = server_.frames.stream(in.u8());
        const std::uint8_t flags = in.u8();
        const std::size_t count = in.u8() % 8;
        khz::fuzz::Fields f;
        for (std::size_t i = 0; i < count; ++i) f.push_back(khz::fuzz::field_from(in));
        server_.headers(id, f, flags);
        break;
      }
      case kDeliver: {
        const std::size_t piece = in.u8();
        std::string bytes = std::exchange(server_.frames.pending, {});
        for (std::size_t at = 0; at < bytes.size(); at += piece == 0 ? bytes.size() : piece) {
          wire_.deliver(std::string_view(bytes).substr(at, piece == 0 ? bytes.size() : piece));
          loop_.poll();
        }
        break;
      }
      case kPoll: loop_.poll(); break;
      case kOpen: {
        const std::uint8_t sel = in.u8();
        const std::size_t body = in.u16() % 70000;
        if (calls_.size() >= 16) break;
        static constexpr std::string_view methods[] = {"GET", "HEAD", "POST", "PUT"};
        auto call = std::make_unique<Call>();
        call->method = methods[sel % 4];
        const bool has_body = call->method == "POST" || call->method == "PUT";
        static constexpr std::string_view kInjected[] = {"", "plain", "a\r\nset-cookie: x=1", std::string_view("a\0b", 3), "\x1b[0m"};
        khz::spawn(run_call(client_.get(), call.get(), has_body ? std::string(body, 'u') : std::string(), has_body && (sel & 4),
                            std::string(kInjected[(sel >> 3) % 5]), &server_, options_.max_body_bytes));
        calls_.push_back(std::move(call));
        loop_.poll();
        // the server's frames may name the streams opened
        for (const auto& c : calls_) {
          if (c->id > 0 && c->id + 2 > server_.frames.next_id) server_.frames.next_id = c->id + 2;
        }
        break;
      }
      case kCancel: {
        const std::uint8_t sel = in.u8();
        if (calls_.empty()) break;
        Call& c = *calls_[sel % calls_.size()];
        if (c.stream != nullptr) c.stream->cancel();
        loop_.poll();
        break;
      }
      case kClose:
        client_->close();
        loop_.poll();
        break;
      case kShutdown:
        client_->shutdown();
        loop_.poll();
        break;
      case kEof:
        wire_.close();
        loop_.poll();
        break;
      case kOpCount: break;
    }
  }

  // The connection ends: every call must end, and the session must go.
  void finish() {
    wire_.deliver(std::exchange(server_.frames.pending, {}));
    loop_.poll();
    client_->close();
    for (int i = 0; i < 8; ++i) loop_.poll();
    for (const auto& c : calls_) FUZZ_CHECK(c->done);  // no wait outlives the connection
    client_.reset();
    for (int i = 0; i < 8; ++i) loop_.poll();
    FUZZ_CHECK(wire_.conn == nullptr);  // the session freed its connection
  }

  khz::test::ManualLoop loop_;
  Wire wire_;
  Server server_;
  khz::Http2ClientOptions options_{.max_header_list_size = 2048,
                                   .max_body_bytes = 50000,
                                   .initial_window_size = 32768,
                                   .connection_window_size = 65535,
                                   .max_concurrent_streams = 8,
                                   .read_gap = std::chrono::milliseconds(0)};
  std::unique_ptr<khz::Http2ClientConnection> client_;
  std::vector<std::unique_ptr<Call>> calls_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  khz::fuzz::quiet_logs();
  FuzzInput in{data, size};
  Fuzz fuzz;
  fuzz.run(in);
  return 0;
}
