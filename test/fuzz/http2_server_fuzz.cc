// SPDX-License-Identifier: Apache-2.0
// libFuzzer: the sans-I/O HTTP/2 server session (protocol/http2/server_session.h) driven from
// both sides by one program read from the input. The client side writes frames (http2_wire.h:
// raw ones, and header blocks encoded with a real HPACK encoder from a dictionary of the field
// names and values that matter or bytes of the input, split into CONTINUATIONs, padded or not);
// the bytes reach the session in pieces of a chosen size. The handler side starts the streams the
// session hands over and answers them as the connection driver would (a buffered or file body,
// a streamed one chunk by chunk, reading a streamed request body, an RFC 8441 tunnel), and the
// clock moves for the deadlines. Checked, besides ASan/UBSan/LSan:
//   - every request handed to a handler is well formed (RFC 9113 §8.2, §8.3): a method, a target
//     that is "*" or starts with "/" (or an authority for CONNECT) with no whitespace, field
//     names in lower case as sent (but the session's own Host and Cookie), no pseudo-field or
//     connection-specific field among them, no NUL, CR or LF in a value, a collected body no
//     longer than its limit and as long as a Content-Length that announced it, a streamed one
//     likewise;
//   - the session takes bytes, or says why not (input dropped, ACKs owed): a driver never spins;
//   - what the server sends is checked by http2_wire.h's FrameReader: whole frames, SETTINGS
//     first, header blocks that decode into a 3-digit :status first, no connection-specific
//     field, DATA and HEADERS only on client (odd) streams.
// Input program: see `Op` below; each operation reads its arguments from the bytes after it.
#include "http2/server_session.h"
#include "http2_wire.h"

#include <khz/common/log.h>
#include <khz/transport/error.h>

#include <nghttp2/nghttp2.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
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

using khz::fuzz::FrameReader;
using khz::fuzz::FrameWriter;
using khz::fuzz::FuzzInput;
using khz::fuzz::trace;

// ---- the handler side

struct Active;

struct FuzzStream final : ServerStream {
  Task<std::error_code> write(std::string_view) override { co_return khz::transport::errc::cancelled; }
  Task<Result<std::string_view>> read() override { co_return std::error_code(khz::transport::errc::cancelled); }
  Active* active = nullptr;
};

// A handler running on a stream.
struct Active {
  FuzzStream* s;
  std::string chunk;  // being written (stays put until taken)
  bool tunnel_open = false;
  bool woken = false;
  std::error_code wake_error;
  std::size_t body_read = 0;
  LinkedBuffer tunnel_in, tunnel_out;
};

struct Driver final : ServerSession::Driver {
  std::vector<FuzzStream*> queued;
  BodyPolicy policy;
  std::unique_ptr<ServerStream> new_stream() override { return std::make_unique<FuzzStream>(); }
  void start(ServerStream& s) override { queued.push_back(static_cast<FuzzStream*>(&s)); }
  void wake(ServerStream& stream, std::error_code ec) override {
    auto& s = static_cast<FuzzStream&>(stream);
    if (s.active == nullptr) return;
    if (s.active->tunnel_open) return;  // a tunnel looks at its state on the next operation
    if (s.waiting == ServerStream::WaitKind::none) return;  // nobody waits: as the driver's null waiter
    s.waiting = ServerStream::WaitKind::none;
    s.active->woken = true;
    s.active->wake_error = ec;
  }
  BodyPolicy body_policy(Exchange&) override { return policy; }
  std::string_view date() override { return "Thu, 01 Jan 2026 00:00:00 GMT"; }
  std::string peer_address() const override { return "fuzz"; }
};

bool is_digits(std::string_view v) {
  if (v.empty() || v.size() > 18) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// What a handler may rely on about the request it is given (RFC 9113 §8.2, §8.3).
void check_request(const ServerStream& s, const Http2Options& options) {
  const khz::Request& req = s.exchange.request;
  if (trace()) {
    std::fprintf(stderr, "  request on stream %d: %.*s %.*s, body %zu bytes%s\n", s.id, static_cast<int>(req.method().size()),
                 req.method().data(), static_cast<int>(req.target().size()), req.target().data(), req.body().size(),
                 s.request_complete ? ", complete" : "");
    for (const auto& f : req.headers()) {
      std::fprintf(stderr, "    %.*s: %.*s\n", static_cast<int>(f.name.size()), f.name.data(), static_cast<int>(f.value.size()),
                   f.value.data());
    }
  }
  FUZZ_CHECK(!req.method().empty());
  if (req.method() != "CONNECT" || !req.connect_protocol().empty()) {  // a plain CONNECT has an authority only
    FUZZ_CHECK(!req.target().empty());
    FUZZ_CHECK(req.target()[0] == '/' || (req.target() == "*" && req.method() == "OPTIONS"));
  }
  for (char c : req.target()) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);  // no whitespace, no CTL
  for (const auto& f : req.headers()) {
    FUZZ_CHECK(!f.name.empty() && f.name[0] != ':');
    // as sent, lower case (nghttp2 checks); Host (from :authority) and Cookie (the crumbs
    // joined) are the session's own
    if (f.name != "Host" && f.name != "Cookie") {
      for (char c : f.name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
    }
    for (std::string_view banned : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
      FUZZ_CHECK(f.name != banned);
    }
    if (f.name == "te") FUZZ_CHECK(f.value == "trailers");
    // RFC 9113 §8.2.1: never a NUL, CR or LF (an HTTP/1.1 upstream would read a CRLF as a line end)
    FUZZ_CHECK(f.value.find_first_of(std::string_view("\0\r\n", 3)) == std::string_view::npos);
  }
  for (const auto& f : req.trailers()) {
    FUZZ_CHECK(!f.name.empty() && f.name[0] != ':');
    FUZZ_CHECK(f.value.find_first_of(std::string_view("\0\r\n", 3)) == std::string_view::npos);
  }
  if (s.exchange.body_reader == nullptr && s.request_complete && !s.tunnel) {
    FUZZ_CHECK(req.body().size() <= (s.body_limit != 0 ? s.body_limit : options.max_body_bytes));  // the policy's, or the server's
    std::string_view cl = req.header("content-length");
    if (is_digits(cl)) FUZZ_CHECK(req.body().size() == std::stoull(std::string(cl)));
  }
}

enum Op : std::uint8_t {
  kControl,    // kind, its arguments: a frame without a header block (FrameWriter::control)
  kRequest,    // a request from a template: sel (method, '*', content-length, te, plain CONNECT, a
               // field more), flags (END_STREAM, CONTINUATIONs, unfinished, padded, priority, stream)
  kHeaders,    // a header block from the dictionary: stream, flags, count, fields
  kFeed,       // piece size: the pending client bytes to the session
  kStart,      // the next queued stream's handler begins
  kRespond,    // active, status sel, body length: a buffered (or file) response, handler done
  kWrite,      // active, length: a streamed chunk
  kRead,       // active: a streamed request body read
  kFinish,     // active: the handler returns
  kTunnel,     // active: answer an extended CONNECT 200 and open the tunnel
  kTunnelIo,   // active, length, what: receive, send, end
  kSend,       // the session's frames to the output (and checked)
  kTick,       // milliseconds8: the deadlines
  kGraceful,   // graceful GOAWAY
  kPolicy,     // body policy: stream bit, limit
  kOpCount
};

class Fuzz {
 public:
  explicit Fuzz(const Http2Options& options) : options_(options), session_(driver_, out_, options_) {}

  void run(FuzzInput& in) {
    FUZZ_CHECK(!session_.start());
    now_ = std::chrono::steady_clock::now();
    if ((in.u8() & 7) != 0) client_.pending.assign("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    if ((in.u8() & 3) != 0) client_.frame(NGHTTP2_SETTINGS, 0, 0, {});
    int steps = 0;
    while (!in.empty() && !session_.ended() && ++steps < 400) step(in);
    finish();
  }

 private:
  void step(FuzzInput& in) {
    const auto op = static_cast<Op>(in.u8() % kOpCount);
    if (trace()) std::fprintf(stderr, "op %d (%zu streams active, %zu queued)\n", op, active_.size(), driver_.queued.size());
    switch (op) {
      case kControl: client_.control(in.u8(), in); break;
      case kRequest: {
        std::uint8_t sel = in.u8();
        std::uint8_t flags = in.u8();
        khz::fuzz::Fields f;
        static constexpr std::string_view methods[] = {"GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS"};
        std::string_view method = methods[(sel & 7) % 6];
        f.emplace_back(":method", method);
        if (method == "CONNECT" && (sel & 0x40) != 0) {  // a plain CONNECT, else an extended one
          f.emplace_back(":authority", "example.com:443");
        } else {
          f.emplace_back(":scheme", "https");
          f.emplace_back(":authority", "example.com");
          f.emplace_back(":path", (sel & 0x08) ? "*" : "/p?q=1");
          if (method == "CONNECT") f.emplace_back(":protocol", "websocket");
        }
        if (sel & 0x10) f.emplace_back("content-length", std::to_string(in.u8()));
        if (sel & 0x20) f.emplace_back("te", "trailers");
        if (sel & 0x80) f.push_back(khz::fuzz::field_from(in));
        client_.headers(client_.stream(6 + (flags >> 6) % 3), f, flags & 1, (flags >> 1) & 3, (flags & 0x08) != 0,
                        (flags & 0x10) != 0, (flags & 0x20) != 0);
        break;
      }
      case kHeaders: {
        std::uint32_t id = client_.stream(in.u8());
        std::uint8_t flags = in.u8();
        std::size_t count = in.u8() % 12;
        khz::fuzz::Fields f;
        for (std::size_t i = 0; i < count; ++i) f.push_back(khz::fuzz::field_from(in));
        client_.headers(id, f, flags & 1, (flags >> 1) & 3, (flags & 0x08) != 0, (flags & 0x10) != 0, (flags & 0x20) != 0);
        break;
      }
      case kFeed: feed(in.u8()); break;
      case kStart: begin_next(); break;
      case kRespond: {
        Active* a = pick(in.u8());
        std::uint8_t sel = in.u8();
        std::size_t len = in.u16() % 40000;
        if (a == nullptr || a->s->waiting != ServerStream::WaitKind::none || a->s->writer_started || a->tunnel_open) break;
        static constexpr int statuses[] = {200, 204, 304, 404, 500, 101, 103, 199};
        Exchange& ex = a->s->exchange;
        ex.response.set_status(statuses[sel % 8]);
        if (sel & 0x08) ex.response.headers().add("Connection", "close");
        if (sel & 0x10) ex.response.trailers().add("x-t", "1");
        if (sel & 0x20) ex.response.headers().add("X-Upper", "v");
        if ((sel & 0x40) && file_ >= 0) {
          khz::FileBody& body = ex.response.set_file_body(file_, nullptr);
          // a range that may run past the file's end (a file shorter than its range)
          body.pieces.push_back({std::string(sel & 0x80 ? "--part\r\n" : ""), len % 997, len % 9000});
          body.tail = (sel & 0x80) ? "--end" : "";
        } else {
          ex.response.set_body(std::string(len, 'b'), "text/plain");
        }
        end_handler(*a);
        break;
      }
      case kWrite: {
        Active* a = pick(in.u8());
        std::size_t len = in.u16() % 40000;
        if (a == nullptr || a->s->waiting != ServerStream::WaitKind::none || a->tunnel_open) break;
        a->chunk.assign(len, 'c');
        Result<bool> wait = session_.write_body(*a->s, a->chunk);
        if (!wait) {
          end_handler(*a);  // the handler sees the error and returns
        } else if (*wait) {
          a->s->waiting = ServerStream::WaitKind::send;
          a->s->wait_since = now_;
        }
        break;
      }
      case kRead: {
        Active* a = pick(in.u8());
        // a handler reads through Exchange::body_reader: there is none for a collected body
        if (a == nullptr || a->s->waiting != ServerStream::WaitKind::none || a->tunnel_open ||
            a->s->exchange.body_reader == nullptr) {
          break;
        }
        ServerSession::BodyRead got = session_.read_body(*a->s);
        if (got.error) break;  // the handler may go on and answer
        if (got.wait) {
          a->s->waiting = ServerStream::WaitKind::body;
          a->s->wait_since = now_;
          break;
        }
        a->body_read += got.bytes.size();
        FUZZ_CHECK(a->body_read <= a->s->body_limit);
        if (got.bytes.empty()) {
          std::string_view cl = a->s->exchange.request.header("content-length");
          if (is_digits(cl)) FUZZ_CHECK(a->body_read == std::stoull(std::string(cl)));
        }
        break;
      }
      case kFinish: {
        Active* a = pick(in.u8());
        if (a == nullptr || a->s->waiting != ServerStream::WaitKind::none || a->tunnel_open) break;
        end_handler(*a);
        break;
      }
      case kTunnel: {
        Active* a = pick(in.u8());
        std::uint8_t status = in.u8();
        if (a == nullptr || a->s->waiting != ServerStream::WaitKind::none || a->tunnel_open || a->s->writer_started) break;
        Exchange& ex = a->s->exchange;
        ex.response.set_status(status & 1 ? 200 : 403);
        ex.hijack = [](khz::transport::Connection&) -> Task<void> { co_return; };
        if (!a->s->tunnel || !session_.begin_tunnel(*a->s, a->tunnel_out)) {
          end_handler(*a);
          break;
        }
        a->tunnel_open = true;
        break;
      }
      case kTunnelIo: {
        Active* a = pick(in.u8());
        std::size_t len = in.u16() % 40000;
        std::uint8_t what = in.u8() % 4;
        if (a == nullptr || !a->tunnel_open) break;
        if (what == 0) {
          session_.tunnel_receive(*a->s, a->tunnel_in);
          a->tunnel_in.skip(a->tunnel_in.size());
          a->tunnel_in.release();
        } else if (what == 1) {
          a->tunnel_out.append(std::string(len, 't'));
          (void)session_.tunnel_send(*a->s);
        } else {
          session_.end_tunnel(*a->s, what == 3);
          a->tunnel_open = false;
          handler_done(*a);
        }
        break;
      }
      case kSend: send(); break;
      case kTick: {
        now_ += std::chrono::milliseconds(std::uint32_t{in.u8()} * 200);
        session_.check_deadlines(now_);
        after_wakes();
        break;
      }
      case kGraceful: session_.send_graceful_goaway(); break;
      case kPolicy: {
        std::uint8_t p = in.u8();
        driver_.policy.stream = (p & 1) != 0;
        driver_.policy.max_bytes = (p & 2) ? std::size_t{p} * 64 : 0;
        break;
      }
      case kOpCount: break;
    }
    after_wakes();
  }

  // The pending client bytes into the session, `piece` bytes at a time, as the driver feeds them.
  void feed(std::uint8_t piece_sel) {
    const std::size_t piece = piece_sel == 0 ? client_.pending.size() : piece_sel;
    std::string bytes = std::move(client_.pending);
    client_.pending.clear();
    std::string_view left = bytes;
    while (!left.empty() && !session_.input_dropped() && !session_.ended()) {
      if (session_.acks_owed() >= session_.max_acks()) send();
      std::string copy(left.substr(0, piece));  // its own buffer: the session keeps no view
      Result<std::size_t> n = session_.receive(copy);
      if (!n) {
        session_.end();  // as the driver: a fatal error ends the connection
        break;
      }
      FUZZ_CHECK(*n <= copy.size());
      left.remove_prefix(*n);
      for (std::size_t i = seen_; i < driver_.queued.size(); ++i) check_request(*driver_.queued[i], options_);
      seen_ = driver_.queued.size();
      // No progress only for a reason the driver acts on (else its read loop would spin).
      if (*n == 0) FUZZ_CHECK(session_.input_dropped() || session_.ended() || session_.acks_owed() >= session_.max_acks());
    }
  }

  void send() {
    if (session_.ended()) return;
    if (session_.send()) {
      session_.end();
      return;
    }
    out_.for_each_segment([&](std::string_view bytes) { output_.take(bytes); });
    out_.skip(out_.size());
    out_.release();
  }

  void begin_next() {
    if (driver_.queued.empty()) return;
    FuzzStream* s = driver_.queued.front();
    driver_.queued.erase(driver_.queued.begin());
    if (seen_ > 0) --seen_;
    if (!session_.begin_handler(*s)) return;
    check_request(*s, options_);
    active_.push_back(std::make_unique<Active>());
    Active& a = *active_.back();
    a.s = s;
    s->active = &a;
  }

  Active* pick(std::uint8_t sel) {
    if (active_.empty()) return nullptr;
    return active_[sel % active_.size()].get();
  }

  // The handler returned: its response goes out.
  void end_handler(Active& a) {
    session_.finish_handler(*a.s);
    handler_done(a);
  }

  void handler_done(Active& a) {
    FuzzStream* s = a.s;
    s->active = nullptr;
    auto it = std::find_if(active_.begin(), active_.end(), [&](const auto& p) { return p.get() == &a; });
    std::unique_ptr<Active> owned = std::move(*it);
    active_.erase(it);
    session_.handler_done(*s);
  }

  // Streams woken from a wait go on as their coroutines would.
  void after_wakes() {
    for (std::size_t i = 0; i < active_.size(); ++i) {
      Active& a = *active_[i];
      if (!a.woken) continue;
      a.woken = false;
      if (!a.chunk.empty() || a.s->writer_started) {
        const bool taken = session_.chunk_taken(*a.s);
        a.chunk.clear();
        if (a.wake_error || !taken) {
          end_handler(a);
          --i;
        }
      }
    }
  }

  // The connection ends: every handler goes on to its end, as the driver's do.
  void finish() {
    if (!session_.ended()) {
      send();
      session_.end();
    }
    for (FuzzStream* s : std::exchange(driver_.queued, {})) {
      if (session_.begin_handler(*s)) {
        session_.finish_handler(*s);
        session_.handler_done(*s);
      }
    }
    while (!active_.empty()) {
      Active& a = *active_.back();
      a.s->waiting = ServerStream::WaitKind::none;
      if (a.tunnel_open) {
        session_.end_tunnel(*a.s, true);
        handler_done(a);
      } else {
        end_handler(a);
      }
    }
  }

  const Http2Options& options_;
  Driver driver_;
  LinkedBuffer out_;
  ServerSession session_;
  FrameWriter client_;
  FrameReader output_{FrameReader::Role::server};
  std::vector<std::unique_ptr<Active>> active_;
  std::size_t seen_ = 0;  // queued requests checked
  std::chrono::steady_clock::time_point now_;

 public:
  int file_ = -1;
};

int make_file() {
  int fd = memfd_create("http2_server_fuzz", 0);
  if (fd < 0) return -1;
  std::string content(4096, 'f');
  if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) return -1;
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  khz::fuzz::quiet_logs();
  static const int file = make_file();
  FuzzInput in{data, size};
  // Small limits, so the protections are within reach.
  Http2Options options;
  const std::uint8_t shape = in.u8();
  options.max_concurrent_streams = 1 + shape % 8;
  options.initial_window_size = (shape & 0x08) ? 1024 : 65535;
  options.max_header_list_size = (shape & 0x10) ? 256 : 8192;
  options.max_body_bytes = (shape & 0x20) ? 100 : 100000;
  options.enable_connect_protocol = (shape & 0x40) == 0;
  options.max_continuations = 3;
  options.max_resets_per_second = 20;
  options.max_outbound_control_frames = 50;
  options.max_settings_entries = 4;
  options.idle_timeout = std::chrono::seconds(2);
  options.read_timeout = std::chrono::seconds(1);
  options.stall_timeout = std::chrono::seconds(1);
  options.tunnel_close_grace = std::chrono::milliseconds(300);
  Fuzz fuzz(options);
  fuzz.file_ = file;
  fuzz.run(in);
  return 0;
}
