// SPDX-License-Identifier: Apache-2.0
// gzip (RFC 1952) and deflate (RFC 1950 zlib format; raw RFC 1951 accepted when decoding) on zlib.
#include <zlib.h>

#include <algorithm>
#include <new>
#include <stdexcept>

#include "codecs.h"

namespace khz::protocol::encoding {
namespace {

int window_bits(ContentCoding coding) { return coding == ContentCoding::gzip ? 15 + 16 : 15; }

class ZlibEncoder final : public ContentEncoder {
 public:
  ZlibEncoder(ContentCoding coding, int level) : ContentEncoder(coding) {
    if (level <= 0) level = 6;
    level = std::min(level, 9);
    if (deflateInit2(&z_, level, Z_DEFLATED, window_bits(coding), 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::bad_alloc();
    }
  }
  ~ZlibEncoder() override { deflateEnd(&z_); }

  void feed(std::string_view in, std::string& out) override { run(in, Z_NO_FLUSH, out); }
  void flush(std::string& out) override { run({}, Z_SYNC_FLUSH, out); }
  void finish(std::string& out) override { run({}, Z_FINISH, out); }

 private:
  void run(std::string_view in, int mode, std::string& out) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    for (;;) {
      const std::size_t old = out.size();
      out.resize(old + kOutputChunk);
      z_.next_out = reinterpret_cast<Bytef*>(out.data() + old);
      z_.avail_out = static_cast<uInt>(kOutputChunk);
      const int rc = deflate(&z_, mode);
      out.resize(old + (kOutputChunk - z_.avail_out));
      if (rc == Z_STREAM_ERROR) throw std::logic_error("content coding: deflate used after finish");
      if (rc == Z_STREAM_END) return;
      // Done when deflate left room in the output: it has taken all input and, for a flush,
      // written everything out.
      if (z_.avail_out != 0 && z_.avail_in == 0) return;
    }
  }

  z_stream z_{};
};

class ZlibDecoder final : public ContentDecoder {
 public:
  ZlibDecoder(ContentCoding coding, std::size_t max_bytes) : ContentDecoder(coding, max_bytes) {}
  ~ZlibDecoder() override {
    if (initialised_) inflateEnd(&z_);
  }

 protected:
  Step step(const unsigned char* in, std::size_t in_size, unsigned char* out, std::size_t out_size) override {
    Step s;
    if (ended_) {
      s.ended = true;
      return s;
    }
    if (!initialised_) {
      if (in_size == 0) return s;
      // deflate: the zlib header (CM = 8, FCHECK) or else raw DEFLATE; the first 2 bytes tell.
      int bits = window_bits(coding());
      if (coding() == ContentCoding::deflate) {
        if (held_ + in_size < 2) {  // one byte so far: keep it until the second comes
          held_byte_ = in[0];
          held_ = 1;
          s.consumed = in_size;
          return s;
        }
        const unsigned b0 = held_ ? held_byte_ : in[0], b1 = held_ ? in[0] : in[1];
        const bool zlib_header = (b0 & 0x0f) == 8 && (b0 >> 4) <= 7 && ((b0 << 8) | b1) % 31 == 0;
        if (!zlib_header) bits = -15;
      }
      if (inflateInit2(&z_, bits) != Z_OK) throw std::bad_alloc();
      initialised_ = true;
      if (held_) {
        // One byte never completes a DEFLATE symbol nor fills the output: zlib takes it whole.
        Step first = inflate_some(&held_byte_, 1, out, out_size);
        held_ = 0;
        if (first.error) return first;
      }
    }
    return inflate_some(in, in_size, out, out_size);
  }

  std::error_code restart() override {
    // RFC 1952 §2.2: a gzip file is a series of members; nothing may follow a zlib stream.
    if (coding() != ContentCoding::gzip) return coding_errc::corrupt;
    if (inflateReset(&z_) != Z_OK) return coding_errc::corrupt;
    ended_ = false;
    return {};
  }

 private:
  Step inflate_some(const unsigned char* in, std::size_t in_size, unsigned char* out, std::size_t out_size) {
    Step s;
    z_.next_in = const_cast<Bytef*>(in);
    z_.avail_in = static_cast<uInt>(std::min<std::size_t>(in_size, UINT32_MAX));
    z_.next_out = out;
    z_.avail_out = static_cast<uInt>(std::min<std::size_t>(out_size, UINT32_MAX));
    const uInt in_before = z_.avail_in, out_before = z_.avail_out;
    const int rc = inflate(&z_, Z_NO_FLUSH);
    s.consumed = in_before - z_.avail_in;
    s.produced = out_before - z_.avail_out;
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
      s.error = coding_errc::corrupt;
    } else if (rc == Z_MEM_ERROR) {
      throw std::bad_alloc();
    } else if (rc == Z_STREAM_END) {
      ended_ = true;
      s.ended = true;
    }
    return s;
  }

  z_stream z_{};
  bool initialised_ = false;
  bool ended_ = false;
  unsigned char held_byte_ = 0;  // deflate: a first byte that came alone (format not known yet)
  std::size_t held_ = 0;
};

}  // namespace

std::unique_ptr<ContentEncoder> make_zlib_encoder(ContentCoding coding, int level) {
  return std::make_unique<ZlibEncoder>(coding, level);
}

std::unique_ptr<ContentDecoder> make_zlib_decoder(ContentCoding coding, std::size_t max_bytes) {
  return std::make_unique<ZlibDecoder>(coding, max_bytes);
}

}  // namespace khz::protocol::encoding
