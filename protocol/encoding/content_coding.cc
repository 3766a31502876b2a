// SPDX-License-Identifier: Apache-2.0
// Coding names, the error category and the decoders' common loop (the output limit).
#include <khz/protocol/content_coding.h>
#include <khz/protocol/header_map.h>

#include <algorithm>

#include "../common/ows.h"
#include "codecs.h"

namespace khz::protocol {
namespace {

class CodingCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.coding"; }
  std::string message(int code) const override {
    switch (static_cast<coding_errc>(code)) {
      case coding_errc::too_large: return "decoded body larger than the limit";
      case coding_errc::corrupt: return "corrupt compressed data";
      case coding_errc::truncated: return "compressed data ends before its stream does";
    }
    return "unknown content coding error";
  }
};

// Decoded output grows by at most this much per codec call.
constexpr std::size_t kDecodeChunk = 16 * 1024;

}  // namespace

const std::error_category& coding_category() noexcept {
  static const CodingCategory category;
  return category;
}

std::string_view coding_name(ContentCoding coding) noexcept {
  switch (coding) {
    case ContentCoding::gzip: return "gzip";
    case ContentCoding::deflate: return "deflate";
    case ContentCoding::br: return "br";
    case ContentCoding::zstd: return "zstd";
  }
  return "identity";
}

std::optional<ContentCoding> parse_coding(std::string_view token) noexcept {
  token = trim_ows(token);
  if (iequals(token, "gzip") || iequals(token, "x-gzip")) return ContentCoding::gzip;
  if (iequals(token, "deflate")) return ContentCoding::deflate;
  if (iequals(token, "br")) return ContentCoding::br;
  if (iequals(token, "zstd")) return ContentCoding::zstd;
  return std::nullopt;
}

std::unique_ptr<ContentEncoder> ContentEncoder::create(ContentCoding coding, int level) {
  switch (coding) {
    case ContentCoding::gzip:
    case ContentCoding::deflate: return encoding::make_zlib_encoder(coding, level);
    case ContentCoding::br: return encoding::make_brotli_encoder(level);
    case ContentCoding::zstd: return encoding::make_zstd_encoder(level);
  }
  return nullptr;
}

std::unique_ptr<ContentDecoder> ContentDecoder::create(ContentCoding coding, std::size_t max_bytes) {
  switch (coding) {
    case ContentCoding::gzip:
    case ContentCoding::deflate: return encoding::make_zlib_decoder(coding, max_bytes);
    case ContentCoding::br: return encoding::make_brotli_decoder(max_bytes);
    case ContentCoding::zstd: return encoding::make_zstd_decoder(max_bytes);
  }
  return nullptr;
}

ContentDecoder::~ContentDecoder() = default;

std::error_code ContentDecoder::feed(std::string_view in, std::string& out) {
  if (error_) return error_;
  auto p = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t n = in.size();
  if (n > 0) fed_ = true;
  for (;;) {
    if (ended_ && n > 0) {
      if (auto ec = restart()) return error_ = ec;
      ended_ = false;
    }
    // Room up to the limit; at the limit, a one-byte probe on the stack tells whether the
    // stream has more to give (too large) without growing `out` past the limit.
    const std::size_t room = std::min(kDecodeChunk, max_bytes_ - produced_);
    unsigned char probe;
    const std::size_t old = out.size();
    unsigned char* dst = &probe;
    std::size_t dst_size = 1;
    if (room > 0) {
      out.resize(old + room);
      dst = reinterpret_cast<unsigned char*>(out.data()) + old;
      dst_size = room;
    }
    const Step s = step(p, n, dst, dst_size);
    if (room > 0) {
      out.resize(old + s.produced);
      produced_ += s.produced;  // bytes decoded before an error stay counted in `out`
    }
    if (s.error) return error_ = s.error;
    if (room == 0 && s.produced > 0) return error_ = coding_errc::too_large;
    p += s.consumed;
    n -= s.consumed;
    if (s.ended) ended_ = true;
    if (s.produced == dst_size) continue;  // the output was full: the codec may hold more
    if (n == 0) break;                     // input used up and output not full: wait for more
    if (s.consumed == 0 && s.produced == 0 && !s.ended) return error_ = coding_errc::corrupt;  // no progress
  }
  return {};
}

std::error_code ContentDecoder::finish() {
  if (error_) return error_;
  if (fed_ && !ended_) return error_ = coding_errc::truncated;
  return {};
}

}  // namespace khz::protocol
