// SPDX-License-Identifier: Apache-2.0
// permessage-deflate on zlib (RFC 7692 §7.2.1 compression, §7.2.2 decompression).
#include <khz/protocol/websocket.h>
#include <khz/protocol/websocket_deflate.h>

#include <zlib.h>

#include <algorithm>
#include <stdexcept>

namespace khz::protocol::websocket {
namespace {

constexpr char kTail[4] = {0x00, 0x00, static_cast<char>(0xff), static_cast<char>(0xff)};

}  // namespace

struct Deflater::State {
  z_stream z{};
  Options options;
  ~State() { deflateEnd(&z); }
};

Deflater::Deflater(Options options) : state_(std::make_unique<State>()) {
  state_->options = options;
  const int bits = options.window_bits < 9 ? 9 : options.window_bits > 15 ? 15 : options.window_bits;
  // Negative window bits: raw DEFLATE, no zlib header or trailer.
  if (deflateInit2(&state_->z, options.level, Z_DEFLATED, -bits, options.mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::bad_alloc();
  }
}

Deflater::~Deflater() = default;

void Deflater::compress(std::string_view piece, bool final, std::string& out) {
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
  z.avail_in = static_cast<uInt>(piece.size());
  const std::size_t start = out.size();
  for (;;) {
    const std::size_t old = out.size();
    const std::size_t room = deflateBound(&z, z.avail_in) + 16;
    out.resize(old + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    z.avail_out = static_cast<uInt>(room);
    // Z_SYNC_FLUSH ends the output on a byte boundary with an empty stored block (00 00 ff ff).
    const int rc = deflate(&z, Z_SYNC_FLUSH);
    out.resize(old + (room - z.avail_out));
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("websocket: deflate failed");
    if (z.avail_in == 0 && z.avail_out != 0) break;
  }
  if (final) {
    // §7.2.1: remove the 4-byte tail of the empty stored block.
    if (out.size() - start >= 4 && std::string_view(out).substr(out.size() - 4) == std::string_view(kTail, 4)) {
      out.resize(out.size() - 4);
    }
    if (state_->options.no_context_takeover) deflateReset(&z);
  }
}

struct Inflater::State {
  z_stream z{};
  Options options;
  ~State() { inflateEnd(&z); }
};

Inflater::Inflater(Options options) : state_(std::make_unique<State>()) {
  state_->options = options;
  // 15: inflates whatever window the peer compressed with (it may use less, never more).
  if (inflateInit2(&state_->z, -15) != Z_OK) throw std::bad_alloc();
}

Inflater::~Inflater() = default;

std::error_code Inflater::decompress(std::string_view message, std::size_t max_bytes, std::string& out) {
  z_stream& z = state_->z;
  const std::size_t start = out.size();
  for (int part = 0; part < 2; ++part) {
    const std::string_view in = part == 0 ? message : std::string_view(kTail, 4);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    while (z.avail_in > 0) {
      const std::size_t produced = out.size() - start;
      if (produced >= max_bytes) {
        // Output is full while input remains: a byte more would pass the limit (checked with
        // a one-byte probe so a message of exactly max_bytes still fits).
        char probe;
        z.next_out = reinterpret_cast<Bytef*>(&probe);
        z.avail_out = 1;
        const int rc = inflate(&z, Z_SYNC_FLUSH);
        if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR) return errc::inflate_failed;
        if (z.avail_out == 0) return errc::message_too_large;
        if (rc == Z_STREAM_END) inflateReset(&z);
        else if (rc == Z_BUF_ERROR) break;
        continue;
      }
      const std::size_t chunk = std::min<std::size_t>(max_bytes - produced, 16 * 1024 + 2 * in.size());
      const std::size_t old = out.size();
      out.resize(old + chunk);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + old);
      z.avail_out = static_cast<uInt>(chunk);
      const int rc = inflate(&z, Z_SYNC_FLUSH);
      out.resize(old + (chunk - z.avail_out));
      if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR) return errc::inflate_failed;
      // §7.2.3.4: a sender may end a message with a final block (BFINAL); what follows (our
      // tail at least) starts a new DEFLATE stream.
      if (rc == Z_STREAM_END) {
        inflateReset(&z);
        continue;
      }
      if (rc == Z_BUF_ERROR && z.avail_out != 0) break;  // no progress possible: input used up
    }
  }
  if (state_->options.no_context_takeover) inflateReset(&z);
  return {};
}

}  // namespace khz::protocol::websocket
