// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http1: RFC 9112 §7.1 chunked framing, checked by khz itself over the body
// bytes llhttp consumed, as they are fed (the state carries across feeds).
//
//   ChunkScanner chunks;                                  // reset() per message
//   if (auto fault = chunks.scan(body_bytes); fault != ChunkScanner::Fault::none) reject(describe(fault));
//   if (llhttp says the message is complete && !chunks.done()) reject(...);   // the two disagree
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//
// Why not trust llhttp: in its default mode llhttp 8.1 skips the two bytes after chunk data
// unchecked, so `2\r\nabXY0\r\n\r\n` is a complete body "ab" to it, and a front end that reads
// those bytes differently frames another request out of them (request smuggling). Its strict
// mode is a compile-time switch that also refuses raw UTF-8 in targets. The scanner is the
// other half of a two-party check: it walks the same bytes by the grammar, a fault is a 400
// (or a malformed response), and a message that llhttp completes where the scanner does not
// is refused too. Chunk data is skipped by count, so only chunk lines and trailers cost per
// byte. A chunk line (size and extensions) longer than `max_line_bytes` is a fault: chunk
// extensions are otherwise an unbounded read that no body limit counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace khz::protocol::http1 {

class ChunkScanner {
 public:
  enum class Fault {
    none,
    bad_size,          // not a hex digit where the chunk size is
    size_overflow,     // more than 64 bits of chunk size
    bad_extension,     // chunk-ext not as the grammar says (or whitespace before CRLF)
    line_too_long,     // chunk size and extensions over max_line_bytes
    bad_line_ending,   // a chunk line or trailer line not ended by CRLF
    no_crlf_after_data,
    obs_fold,          // a trailer line continued on the next line
    after_end,         // bytes past the end of the chunked body
  };

  static constexpr std::size_t kDefaultMaxLineBytes = 4096;

  explicit ChunkScanner(std::size_t max_line_bytes = kDefaultMaxLineBytes) noexcept
      : max_line_bytes_(max_line_bytes) {}

  void reset() noexcept {
    state_ = State::size_start;
    size_ = 0;
    line_bytes_ = 0;
  }

  bool done() const noexcept { return state_ == State::done; }

  // Scans the next bytes of the chunked body; the first fault found, or none. After a fault
  // the scanner stays failed until reset(). `fault_at`, when given, receives the index of the
  // byte the fault is at (left alone when there is none).
  Fault scan(std::string_view bytes, std::size_t* fault_at = nullptr) noexcept {
    std::size_t i = 0;
    Fault f = scan_from(bytes, i);
    if (f != Fault::none && fault_at != nullptr) *fault_at = i;
    return f;
  }

  static std::string_view describe(Fault f) noexcept {
    switch (f) {
      case Fault::bad_size: return "invalid chunk size";
      case Fault::size_overflow: return "chunk size overflow";
      case Fault::bad_extension: return "invalid chunk extension";
      case Fault::line_too_long: return "chunk size line too long";
      case Fault::bad_line_ending: return "chunk or trailer line not ended by CRLF";
      case Fault::no_crlf_after_data: return "chunk data not followed by CRLF";
      case Fault::obs_fold: return "obs-fold in the trailer section";
      case Fault::after_end: return "bytes after the last chunk";
      case Fault::none: break;
    }
    return "";
  }

 private:
  // scan() from index i; on a fault, i is the faulting byte's index.
  Fault scan_from(std::string_view bytes, std::size_t& i) noexcept {
    while (i < bytes.size()) {
      if (state_ == State::data) {
        std::size_t take = bytes.size() - i < size_ ? bytes.size() - i : static_cast<std::size_t>(size_);
        size_ -= take;
        i += take;
        if (size_ == 0) state_ = State::data_cr;
        continue;
      }
      if (state_ == State::trailer_line) {  // field syntax is llhttp's and the parser's; find the end
        const char* at = bytes.data() + i;
        const void* cr = std::memchr(at, '\r', bytes.size() - i);
        std::size_t end = cr != nullptr ? static_cast<std::size_t>(static_cast<const char*>(cr) - bytes.data())
                                        : bytes.size();
        if (const void* lf = std::memchr(at, '\n', end - i); lf != nullptr) {
          i = static_cast<std::size_t>(static_cast<const char*>(lf) - bytes.data());
          return fail(Fault::bad_line_ending);
        }
        i = end;
        if (i == bytes.size()) return Fault::none;
      }
      if (Fault f = step(bytes[i]); f != Fault::none) return fail(f);
      ++i;
    }
    return Fault::none;
  }

  enum class State : std::uint8_t {
    size_start,        // the first hex digit of a chunk size
    size,              // more hex digits
    size_ws,           // BWS after the size: only ";" may follow
    ext_name_start,    // after ";" (and BWS)
    ext_name,
    ext_name_ws,       // BWS after a name: "=" or ";" may follow
    ext_value_start,   // after "=" (and BWS)
    ext_token,
    ext_quoted,
    ext_quoted_pair,   // after a backslash in a quoted string
    ext_value_end,     // after a value: BWS then ";" or CRLF
    size_lf,           // CR seen at the end of a chunk line
    data,              // size_ bytes of data left
    data_cr,
    data_lf,
    trailer_start,     // the start of a trailer line, or the final CRLF
    trailer_line,
    trailer_lf,
    final_lf,
    done,
    failed,
  };

  static bool is_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
  static unsigned hex_value(char c) noexcept {
    if (c <= '9') return static_cast<unsigned>(c - '0');
    return static_cast<unsigned>((c | 0x20) - 'a' + 10);
  }
  static bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }
  // RFC 9110 §5.6.2 tchar.
  static bool is_tchar(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  }
  // RFC 9110 §5.6.4 qdtext and the second byte of a quoted-pair (which may also be '"' or '\').
  static bool is_qdtext(char c) noexcept {
    auto u = static_cast<unsigned char>(c);
    return c == '\t' || c == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5b) || (u >= 0x5d && u <= 0x7e) || u >= 0x80;
  }

  Fault fail(Fault f) noexcept {
    state_ = State::failed;
    return f;
  }

  // One byte outside chunk data and trailer-line bodies.
  Fault step(char c) noexcept {
    if (state_ <= State::ext_value_end && ++line_bytes_ > max_line_bytes_) return Fault::line_too_long;
    switch (state_) {
      case State::size_start:
        if (!is_hex(c)) return Fault::bad_size;
        size_ = hex_value(c);
        state_ = State::size;
        return Fault::none;
      case State::size:
        if (is_hex(c)) {
          if (size_ > (UINT64_MAX >> 4)) return Fault::size_overflow;
          size_ = size_ << 4 | hex_value(c);
          return Fault::none;
        }
        return after_token(c, State::size_ws, Fault::bad_size);
      case State::size_ws:
        if (is_ws(c)) return Fault::none;
        if (c == ';') return go(State::ext_name_start);
        return Fault::bad_extension;
      case State::ext_name_start:
        if (is_ws(c)) return Fault::none;
        if (is_tchar(c)) return go(State::ext_name);
        return Fault::bad_extension;
      case State::ext_name:
        if (is_tchar(c)) return Fault::none;
        if (c == '=') return go(State::ext_value_start);
        return after_token(c, State::ext_name_ws, Fault::bad_extension);
      case State::ext_name_ws:
        if (is_ws(c)) return Fault::none;
        if (c == '=') return go(State::ext_value_start);
        if (c == ';') return go(State::ext_name_start);
        return Fault::bad_extension;
      case State::ext_value_start:
        if (is_ws(c)) return Fault::none;
        if (c == '"') return go(State::ext_quoted);
        if (is_tchar(c)) return go(State::ext_token);
        return Fault::bad_extension;
      case State::ext_token:
        if (is_tchar(c)) return Fault::none;
        return after_token(c, State::ext_value_end, Fault::bad_extension);
      case State::ext_quoted:
        if (c == '"') return go(State::ext_value_end);
        if (c == '\\') return go(State::ext_quoted_pair);
        return is_qdtext(c) ? Fault::none : Fault::bad_extension;
      case State::ext_quoted_pair:
        return is_qdtext(c) || c == '"' || c == '\\' ? go(State::ext_quoted) : Fault::bad_extension;
      case State::ext_value_end:
        if (is_ws(c)) return Fault::none;
        if (c == ';') return go(State::ext_name_start);
        if (c == '\r') return go(State::size_lf);
        return Fault::bad_extension;
      case State::size_lf:
        if (c != '\n') return Fault::bad_line_ending;
        line_bytes_ = 0;
        return go(size_ == 0 ? State::trailer_start : State::data);
      case State::data_cr:
        return c == '\r' ? go(State::data_lf) : Fault::no_crlf_after_data;
      case State::data_lf:
        return c == '\n' ? go(State::size_start) : Fault::no_crlf_after_data;
      case State::trailer_start:
        if (c == '\r') return go(State::final_lf);
        if (is_ws(c)) return Fault::obs_fold;
        if (c == '\n') return Fault::bad_line_ending;
        return go(State::trailer_line);
      case State::trailer_line:  // scan() stops here only on CR
        return go(State::trailer_lf);
      case State::trailer_lf:
        return c == '\n' ? go(State::trailer_start) : Fault::bad_line_ending;
      case State::final_lf:
        return c == '\n' ? go(State::done) : Fault::bad_line_ending;
      case State::done:
        return Fault::after_end;
      case State::data:
      case State::failed:
        break;
    }
    return Fault::after_end;
  }

  // After a size, a name or a token value: BWS, ";" or the CR that ends the chunk line.
  Fault after_token(char c, State ws_state, Fault otherwise) noexcept {
    if (is_ws(c)) return go(ws_state);
    if (c == ';') return go(State::ext_name_start);
    if (c == '\r') return go(State::size_lf);
    return otherwise;
  }

  Fault go(State next) noexcept {
    state_ = next;
    return Fault::none;
  }

  std::size_t max_line_bytes_;
  State state_ = State::size_start;
  std::uint64_t size_ = 0;
  std::size_t line_bytes_ = 0;
};

}  // namespace khz::protocol::http1
