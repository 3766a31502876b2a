// SPDX-License-Identifier: Apache-2.0
// Content codings (RFC 9110 §8.4.1), sans-I/O: streaming encoders and size-limited decoders for
// gzip and deflate (zlib), br (brotli, RFC 7932) and zstd (RFC 8878, RFC 9659).
//
//   auto enc = khz::protocol::ContentEncoder::create(khz::protocol::ContentCoding::gzip, 1);
//   std::string wire;
//   enc->feed(piece, wire);      // may append nothing yet (the codec buffers)
//   enc->flush(wire);            // everything fed so far is decodable from `wire` now
//   enc->finish(wire);           // the end of the stream (trailer); the encoder is spent
//
//   auto dec = khz::protocol::ContentDecoder::create(khz::protocol::ContentCoding::br, 1 << 20);
//   std::string body;
//   if (auto ec = dec->feed(wire, body)) ...   // coding_errc::too_large past 1 MiB decoded
//   if (auto ec = dec->finish()) ...           // coding_errc::truncated: the stream did not end
//
// "deflate" is the zlib format (RFC 1950) as HTTP defines it; the decoder also takes raw
// DEFLATE, which some clients send under that name. A gzip body may hold several members
// (RFC 1952 §2.2), a zstd body several frames; both decode as one.
//
// Limits: a decoder never holds more than `max_bytes` of decoded output: it grows `out` only up
// to the limit and stops with coding_errc::too_large as soon as one more byte would be produced,
// so a small body cannot expand in memory (a zip bomb stops at the limit). zstd frames asking
// for a window above 8 MiB are refused (RFC 9659 §3), as are brotli's large windows.
// After an error a decoder returns the same error for every later call.
// Threading: one codec per stream; not thread-safe. zlib, brotli and zstd stay in the .cc files.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace khz::protocol {

enum class ContentCoding { gzip, deflate, br, zstd };

// The token as it appears in Content-Encoding / Accept-Encoding ("gzip", "deflate", "br", "zstd").
std::string_view coding_name(ContentCoding coding) noexcept;
// The coding a token names (case-insensitive; "x-gzip" is gzip, RFC 9110 §8.4.1.3), or nullopt
// for identity and for codings this module does not know.
std::optional<ContentCoding> parse_coding(std::string_view token) noexcept;

enum class coding_errc {
  too_large = 1,  // the decoded bytes would pass the decoder's limit
  corrupt,        // the input is not valid data in that coding (or has bytes after its end)
  truncated,      // finish() before the coded stream ended
};
const std::error_category& coding_category() noexcept;
inline std::error_code make_error_code(coding_errc e) noexcept { return {static_cast<int>(e), coding_category()}; }

class ContentEncoder {
 public:
  // `level`: the codec's own scale (gzip/deflate 1-9, br 0-11, zstd 1-19); 0 or below picks the
  // codec's default (6, 5, 3: zlib's, and br's and zstd's usual web levels). Out of range clamps.
  static std::unique_ptr<ContentEncoder> create(ContentCoding coding, int level = 0);
  virtual ~ContentEncoder() = default;

  ContentCoding coding() const noexcept { return coding_; }
  // Appends to `out` whatever the codec has ready for `in` (often nothing for small pieces).
  virtual void feed(std::string_view in, std::string& out) = 0;
  // Appends what makes every byte fed so far decodable by the peer (a sync point): for a
  // streamed response, one flush per write lets each piece reach the client at once.
  virtual void flush(std::string& out) = 0;
  // Appends the end of the stream; feed/flush/finish must not be called after it.
  virtual void finish(std::string& out) = 0;

 protected:
  explicit ContentEncoder(ContentCoding coding) : coding_(coding) {}

 private:
  ContentCoding coding_;
};

class ContentDecoder {
 public:
  static std::unique_ptr<ContentDecoder> create(ContentCoding coding, std::size_t max_bytes);
  virtual ~ContentDecoder();

  ContentCoding coding() const noexcept { return coding_; }
  // Decodes `in` (any split of the coded stream) and appends the bytes to `out`.
  // Errors: coding_errc::too_large, coding_errc::corrupt.
  std::error_code feed(std::string_view in, std::string& out);
  // The stream is over: coding_errc::truncated unless the coded stream ended (an empty body,
  // nothing fed at all, counts as empty, not as truncated).
  std::error_code finish();
  // Decoded bytes so far (never above the limit).
  std::size_t decoded_bytes() const noexcept { return produced_; }

 protected:
  ContentDecoder(ContentCoding coding, std::size_t max_bytes) : coding_(coding), max_bytes_(max_bytes) {}

  struct Step {
    std::size_t consumed = 0;
    std::size_t produced = 0;
    bool ended = false;  // a complete stream (member, frame) ended with this call
    std::error_code error;
  };
  // Decodes from `in` into `out` (out_size > 0) and reports what it used and made.
  virtual Step step(const unsigned char* in, std::size_t in_size, unsigned char* out, std::size_t out_size) = 0;
  // Input follows a completed stream: gzip starts a new member, zstd reads the next frame;
  // the others call it corrupt.
  virtual std::error_code restart() = 0;

 private:
  ContentCoding coding_;
  std::size_t max_bytes_;
  std::size_t produced_ = 0;
  bool fed_ = false;
  bool ended_ = false;
  std::error_code error_;
};

}  // namespace khz::protocol

template <>
struct std::is_error_code_enum<khz::protocol::coding_errc> : std::true_type {};
