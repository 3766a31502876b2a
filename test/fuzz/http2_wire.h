// SPDX-License-Identifier: Apache-2.0
// What the HTTP/2 fuzz targets (http2_server_fuzz, http2_client_fuzz) share: the program read
// from the input, a frame writer for the peer the target plays (header blocks encoded with
// nghttp2's HPACK encoder, split into CONTINUATIONs, padded or not), and a reader that checks
// what the session under test sends: whole frames, header blocks that decode (one HPACK
// decoder over the connection), fields as RFC 9113 §8.2–8.3 want them.
//
//   FuzzInput in{data, size};
//   FrameWriter peer;                         // peer.pending: bytes for the session to read
//   peer.headers(peer.stream(in.u8()), {{":status", "200"}}, true, 0, false, false, false);
//   FrameReader sent(FrameReader::Role::server);
//   sent.take(bytes_the_session_wrote);      // aborts on a broken rule (FUZZ_CHECK)
#pragma once

#include <khz/common/log.h>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz::fuzz {

// A broken expectation: what and where, then abort (the fuzzer keeps the input).
[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: expected %s\n", file, line, what);
  std::abort();
}
#define FUZZ_CHECK(expr) ((expr) ? void() : ::khz::fuzz::fail(#expr, __FILE__, __LINE__))

// KHZ_FUZZ_TRACE=1: the program's operations and the fields sent, on stderr (to read a crash's input).
inline bool trace() {
  static const bool on = std::getenv("KHZ_FUZZ_TRACE") != nullptr;
  return on;
}

// khz's log lines off, unless KHZ_LOG_LEVEL asks for them (once per process).
inline void quiet_logs() {
  static const bool once = [] {
    if (std::getenv("KHZ_LOG_LEVEL") == nullptr) khz::log::set_level(khz::log::Level::off);
    return true;
  }();
  (void)once;
}

// The program: bytes read in order; zeros past the end.
struct FuzzInput {
  const std::uint8_t* p;
  std::size_t n;
  bool empty() const noexcept { return n == 0; }
  std::uint8_t u8() noexcept {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::uint32_t u16() noexcept { return (static_cast<std::uint32_t>(u8()) << 8) | u8(); }
  std::uint32_t u32() noexcept { return (u16() << 16) | u16(); }
  std::string bytes(std::size_t want) {
    std::size_t k = std::min(want, n);
    std::string s(reinterpret_cast<const char*>(p), k);
    p += k;
    n -= k;
    return s;
  }
};

using Fields = std::vector<std::pair<std::string, std::string>>;

// Field names and values that matter to HTTP/2's rules (pseudo-fields, connection-specific and
// framing fields, bytes a value must not hold, statuses in and out of range).
inline constexpr std::string_view kNames[] = {
    ":method", ":path", ":scheme", ":authority", ":protocol", ":status", "content-length", "te",
    "connection", "host", "content-type", "cookie", "x-a", "transfer-encoding", "upgrade", "keep-alive",
    "proxy-connection", "Upper", "", "sec-websocket-version", "trailer", "expect", ":", "x\x01y", "set-cookie"};
inline constexpr std::string_view kValues[] = {
    "GET", "POST", "HEAD", "CONNECT", "PUT", "OPTIONS", "/", "/a?b=1", "*", "http", "https",
    "example.com", "websocket", "0", "5", "100", "-1", "trailers", "close", "1", " x", "a\r\nb",
    std::string_view("\0", 1), "18446744073709551616", "a b", "example.com:443", "//x", "/%2e%2e/",
    "200", "204", "304", "101", "103", "999", "099", "2000", "20x"};

// A field from two program bytes: from the dictionaries, or (200 and up) bytes of the input.
inline std::pair<std::string, std::string> field_from(FuzzInput& in) {
  const std::uint8_t a = in.u8(), b = in.u8();
  std::string name = a < 200 ? std::string(kNames[a % std::size(kNames)]) : in.bytes(a - 200);
  std::string value = b < 200 ? std::string(kValues[b % std::size(kValues)]) : in.bytes(b - 200);
  return {std::move(name), std::move(value)};
}

// The frames of the peer the target plays.
class FrameWriter {
 public:
  FrameWriter() { FUZZ_CHECK(nghttp2_hd_deflate_new(&deflater_, 4096) == 0); }
  ~FrameWriter() { nghttp2_hd_deflate_del(deflater_); }
  FrameWriter(const FrameWriter&) = delete;
  FrameWriter& operator=(const FrameWriter&) = delete;

  std::string pending;       // written, not yet read by the session
  std::int64_t next_id = 1;  // past the largest odd stream id in use (may pass 2^31)

  void frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload) {
    const std::size_t len = payload.size();
    const char head[9] = {static_cast<char>(len >> 16),    static_cast<char>(len >> 8),     static_cast<char>(len),
                          static_cast<char>(type),         static_cast<char>(flags),        static_cast<char>(stream >> 24),
                          static_cast<char>(stream >> 16), static_cast<char>(stream >> 8), static_cast<char>(stream)};
    pending.append(head, sizeof head);
    pending.append(payload);
  }

  // A stream id from a program byte: 0, fixed ones, even, the largest, the next new one, the
  // last ones in use, one with the reserved bit set.
  std::uint32_t stream(std::uint8_t sel) const {
    const auto back = [&](std::int64_t n) { return static_cast<std::uint32_t>(std::max<std::int64_t>(1, next_id - n)); };
    switch (sel % 10) {
      case 0: return 0;
      case 1: return 1;
      case 2: return 3;
      case 3: return 5;
      case 4: return 2;
      case 5: return 0x7fffffff;
      case 6: return static_cast<std::uint32_t>(next_id);
      case 7: return back(2);
      case 8: return back(4);
      default: return 0x80000000u | back(2);
    }
  }

  // A header block of `fields` in a HEADERS frame and `continuations` CONTINUATION frames; the
  // last carries END_HEADERS unless `unfinished`.
  void headers(std::uint32_t id, const Fields& fields, bool end_stream, int continuations, bool unfinished, bool padded,
               bool priority) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [n, v] : fields) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                     reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string block(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
    ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<std::uint8_t*>(block.data()), block.size(), nva.data(),
                                      nva.size());
    if (n < 0) return;  // a field the encoder refuses
    block.resize(static_cast<std::size_t>(n));
    if ((id & 0x7fffffff) >= next_id && (id & 1) != 0) next_id = std::int64_t{id & 0x7fffffff} + 2;
    const std::size_t pieces = static_cast<std::size_t>(continuations) + 1;
    const std::size_t step = block.size() / pieces + 1;
    std::size_t at = 0;
    for (std::size_t i = 0; i < pieces; ++i) {
      std::string_view piece = std::string_view(block).substr(std::min(at, block.size()), step);
      at += step;
      const bool last = i + 1 == pieces;
      std::uint8_t flags = (last && !unfinished) ? NGHTTP2_FLAG_END_HEADERS : 0;
      if (i != 0) {
        frame(NGHTTP2_CONTINUATION, flags, id, piece);
        continue;
      }
      std::string payload;
      if (end_stream) flags |= NGHTTP2_FLAG_END_STREAM;
      if (padded) {
        flags |= NGHTTP2_FLAG_PADDED;
        payload.push_back(3);
      }
      if (priority) {
        flags |= NGHTTP2_FLAG_PRIORITY;
        payload.append("\0\0\0\0\x10", 5);  // depends on stream 0, weight 17
      }
      payload.append(piece);
      if (padded) payload.append(3, '\0');
      frame(NGHTTP2_HEADERS, flags, id, payload);
    }
  }

  // One of the frames without a header block, its arguments from the program: DATA, SETTINGS,
  // WINDOW_UPDATE, RST_STREAM, PING, GOAWAY, PRIORITY, or any type with raw payload bytes.
  void control(std::uint8_t kind, FuzzInput& in) {
    switch (kind % 8) {
      case 0: {
        const std::uint32_t id = stream(in.u8());
        const std::uint8_t flags = in.u8() & (NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_PADDED);
        const std::size_t len = in.u16() % 20000;
        std::string payload;
        if (flags & NGHTTP2_FLAG_PADDED) payload.push_back(static_cast<char>(len % 7));
        payload.append(len, 'd');
        frame(NGHTTP2_DATA, flags, id, payload);
        break;
      }
      case 1: {
        const std::size_t count = in.u8() % 6;
        std::string payload;
        for (std::size_t i = 0; i < count; ++i) {
          const std::uint8_t id = in.u8() % 10;
          const std::uint32_t v = in.u32();
          const char entry[6] = {0, static_cast<char>(id), static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                                 static_cast<char>(v >> 8), static_cast<char>(v)};
          payload.append(entry, 6);
        }
        frame(NGHTTP2_SETTINGS, in.u8() & 1, 0, payload);
        break;
      }
      case 2: {
        const std::uint32_t id = stream(in.u8());
        const std::uint32_t v = in.u32() & 0x7fffffffu;
        const char p[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
        frame(NGHTTP2_WINDOW_UPDATE, 0, id, {p, 4});
        break;
      }
      case 3: {
        const std::uint32_t id = stream(in.u8());
        const char p[4] = {0, 0, 0, static_cast<char>(in.u8() % 14)};
        frame(NGHTTP2_RST_STREAM, 0, id, {p, 4});
        break;
      }
      case 4: frame(NGHTTP2_PING, in.u8() & 1, 0, std::string(8, 'p')); break;
      case 5: {
        const std::uint32_t last = stream(in.u8()) & 0x7fffffffu;
        const char p[8] = {static_cast<char>(last >> 24), static_cast<char>(last >> 16), static_cast<char>(last >> 8),
                           static_cast<char>(last), 0, 0, 0, static_cast<char>(in.u8() % 14)};
        frame(NGHTTP2_GOAWAY, 0, 0, {p, 8});
        break;
      }
      case 6: {
        const std::uint32_t id = stream(in.u8());
        const std::uint32_t dep = stream(in.u8());
        const char p[5] = {static_cast<char>(dep >> 24), static_cast<char>(dep >> 16), static_cast<char>(dep >> 8),
                           static_cast<char>(dep), 16};
        frame(NGHTTP2_PRIORITY, 0, id, {p, 5});
        break;
      }
      default: {
        const std::size_t len = in.u16() % 2048;
        const std::uint8_t type = in.u8() % 12;
        const std::uint8_t flags = in.u8();
        const std::uint32_t id = stream(in.u8());
        frame(type, flags, id, in.bytes(len));
        break;
      }
    }
  }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

// Reads what the session under test sends and checks it.
class FrameReader {
 public:
  enum class Role { server, client };  // whose bytes

  explicit FrameReader(Role role) : role_(role) {
    FUZZ_CHECK(nghttp2_hd_inflate_new(&inflater_) == 0);
    if (role_ == Role::client) magic_left_ = 24;  // the client connection preface
  }
  ~FrameReader() { nghttp2_hd_inflate_del(inflater_); }
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  void take(std::string_view bytes) {
    bytes_.append(bytes);
    parse();
  }

 private:
  void parse() {
    std::size_t at = 0;
    if (magic_left_ != 0) {
      const std::size_t k = std::min(magic_left_, bytes_.size());
      FUZZ_CHECK(std::string_view(bytes_).substr(0, k) == std::string_view("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").substr(24 - magic_left_, k));
      magic_left_ -= k;
      at = k;
    }
    while (bytes_.size() - at >= 9) {
      const auto* h = reinterpret_cast<const std::uint8_t*>(bytes_.data() + at);
      const std::size_t len = (std::size_t{h[0]} << 16) | (std::size_t{h[1]} << 8) | h[2];
      if (bytes_.size() - at < 9 + len) break;
      const std::uint8_t type = h[3];
      const std::uint8_t flags = h[4];
      const std::uint32_t id =
          ((std::uint32_t{h[5]} << 24) | (std::uint32_t{h[6]} << 16) | (std::uint32_t{h[7]} << 8) | h[8]) & 0x7fffffffu;
      const std::string_view payload(bytes_.data() + at + 9, len);
      at += 9 + len;
      if (!first_) FUZZ_CHECK(type == NGHTTP2_SETTINGS);  // the preface's SETTINGS
      first_ = true;
      if (in_block_) FUZZ_CHECK(type == NGHTTP2_CONTINUATION && id == block_stream_);
      switch (type) {
        case NGHTTP2_DATA: FUZZ_CHECK(id % 2 == 1); break;
        case NGHTTP2_HEADERS: {
          FUZZ_CHECK(id % 2 == 1);
          std::size_t skip = 0, pad = 0;
          if (flags & NGHTTP2_FLAG_PADDED) {
            FUZZ_CHECK(!payload.empty());
            pad = static_cast<std::uint8_t>(payload[0]);
            skip = 1;
          }
          if (flags & NGHTTP2_FLAG_PRIORITY) skip += 5;
          FUZZ_CHECK(payload.size() >= skip + pad);
          block_.assign(payload.substr(skip, payload.size() - skip - pad));
          block_stream_ = id;
          in_block_ = true;
          trailers_ = heads_.count(id) != 0;
          if (flags & NGHTTP2_FLAG_END_HEADERS) end_block();
          break;
        }
        case NGHTTP2_CONTINUATION:
          FUZZ_CHECK(in_block_);
          block_.append(payload);
          if (flags & NGHTTP2_FLAG_END_HEADERS) end_block();
          break;
        case NGHTTP2_PUSH_PROMISE: FUZZ_CHECK(false); break;  // never enabled, never sent by a client
        default: break;
      }
    }
    bytes_.erase(0, at);
  }

  void end_block() {
    in_block_ = false;
    const auto* in = reinterpret_cast<const std::uint8_t*>(block_.data());
    std::size_t left = block_.size();
    bool first = true;
    bool pseudo_done = false;
    bool informational = false;
    for (;;) {
      nghttp2_nv nv;
      int inflate_flags = 0;
      const ssize_t used = nghttp2_hd_inflate_hd2(inflater_, &nv, &inflate_flags, in, left, 1);
      FUZZ_CHECK(used >= 0);  // the session's HPACK decodes
      in += used;
      left -= static_cast<std::size_t>(used);
      if (inflate_flags & NGHTTP2_HD_INFLATE_EMIT) {
        const std::string_view name(reinterpret_cast<const char*>(nv.name), nv.namelen);
        const std::string_view value(reinterpret_cast<const char*>(nv.value), nv.valuelen);
        if (trace()) {
          std::fprintf(stderr, "  sent on stream %u: %.*s: %.*s\n", block_stream_, static_cast<int>(name.size()), name.data(),
                       static_cast<int>(value.size()), value.data());
        }
        check_field(name, value, first, pseudo_done, informational);
        first = false;
      }
      if (inflate_flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inflater_);
        break;
      }
      if (used == 0 && left == 0) break;
    }
    if (!trailers_ && !informational) heads_.insert(block_stream_);
  }

  void check_field(std::string_view name, std::string_view value, bool first, bool& pseudo_done, bool& informational) const {
    FUZZ_CHECK(!name.empty());
    const bool pseudo = name[0] == ':';
    if (trailers_) {
      FUZZ_CHECK(!pseudo);
    } else if (role_ == Role::server) {
      if (first) {  // RFC 9113 §8.3.2: :status, three digits
        FUZZ_CHECK(name == ":status" && value.size() == 3 && value[0] >= '1' && value[0] <= '5');
        informational = value[0] == '1';
      } else {
        FUZZ_CHECK(!pseudo);
      }
    } else {  // RFC 9113 §8.3.1: the request's pseudo-fields first
      if (first) FUZZ_CHECK(pseudo);
      if (!pseudo) pseudo_done = true;
      if (pseudo) FUZZ_CHECK(!pseudo_done && (name == ":method" || name == ":scheme" || name == ":authority" ||
                                               name == ":path" || name == ":protocol"));
    }
    // RFC 9113 §8.2.2: no connection-specific field; te only as "trailers"; names in lower case
    for (std::string_view banned : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
      FUZZ_CHECK(name != banned);
    }
    if (name == "te") FUZZ_CHECK(value == "trailers");
    for (char c : name) {
      const auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK(!(c >= 'A' && c <= 'Z') && u > 0x20 && u < 0x7f);
    }
    // RFC 9113 §8.2.1, RFC 9110 §5.5: no control byte but HTAB, no DEL in a value
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK((u >= 0x20 || c == '\t') && u != 0x7f);
    }
  }

  Role role_;
  nghttp2_hd_inflater* inflater_ = nullptr;
  std::size_t magic_left_ = 0;
  std::string bytes_;
  std::string block_;
  std::uint32_t block_stream_ = 0;
  bool in_block_ = false;
  bool trailers_ = false;
  bool first_ = false;
  std::set<std::uint32_t> heads_;  // streams whose final head (a request's, a response's) went out
};

}  // namespace khz::fuzz
