// SPDX-License-Identifier: Apache-2.0
// br (RFC 7932) on libbrotli.
#include <brotli/decode.h>
#include <brotli/encode.h>

#include <algorithm>
#include <new>
#include <stdexcept>

#include "codecs.h"

namespace khz::protocol::encoding {
namespace {

class BrotliEncoder final : public ContentEncoder {
 public:
  explicit BrotliEncoder(int level) : ContentEncoder(ContentCoding::br), state_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (state_ == nullptr) throw std::bad_alloc();
    if (level <= 0) level = 5;
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_QUALITY, static_cast<std::uint32_t>(std::min(level, BROTLI_MAX_QUALITY)));
    // 4 MiB window: the decoder side of every browser takes it; larger buys little for web bodies.
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGWIN, 22);
  }
  ~BrotliEncoder() override { BrotliEncoderDestroyInstance(state_); }

  void feed(std::string_view in, std::string& out) override { run(in, BROTLI_OPERATION_PROCESS, out); }
  void flush(std::string& out) override { run({}, BROTLI_OPERATION_FLUSH, out); }
  void finish(std::string& out) override { run({}, BROTLI_OPERATION_FINISH, out); }

 private:
  void run(std::string_view in, BrotliEncoderOperation op, std::string& out) {
    auto next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    std::size_t avail_in = in.size();
    for (;;) {
      const std::size_t old = out.size();
      out.resize(old + kOutputChunk);
      auto next_out = reinterpret_cast<std::uint8_t*>(out.data() + old);
      std::size_t avail_out = kOutputChunk;
      const bool ok = BrotliEncoderCompressStream(state_, op, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      out.resize(old + (kOutputChunk - avail_out));
      if (!ok) throw std::logic_error("content coding: brotli used after finish");
      if (avail_in == 0 && !BrotliEncoderHasMoreOutput(state_)) {
        if (op == BROTLI_OPERATION_FINISH && !BrotliEncoderIsFinished(state_)) continue;
        return;
      }
    }
  }

  BrotliEncoderState* state_;
};

class BrotliDecoder final : public ContentDecoder {
 public:
  explicit BrotliDecoder(std::size_t max_bytes)
      : ContentDecoder(ContentCoding::br, max_bytes), state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (state_ == nullptr) throw std::bad_alloc();
    // Large windows (up to 1 GiB) are not part of RFC 7932: refused, as browsers do.
    BrotliDecoderSetParameter(state_, BROTLI_DECODER_PARAM_LARGE_WINDOW, 0);
  }
  ~BrotliDecoder() override { BrotliDecoderDestroyInstance(state_); }

 protected:
  Step step(const unsigned char* in, std::size_t in_size, unsigned char* out, std::size_t out_size) override {
    Step s;
    if (ended_) {
      s.ended = true;
      return s;
    }
    const std::uint8_t* next_in = in;
    std::size_t avail_in = in_size;
    std::uint8_t* next_out = out;
    std::size_t avail_out = out_size;
    const BrotliDecoderResult r = BrotliDecoderDecompressStream(state_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    s.consumed = in_size - avail_in;
    s.produced = out_size - avail_out;
    if (r == BROTLI_DECODER_RESULT_ERROR) {
      s.error = coding_errc::corrupt;
    } else if (r == BROTLI_DECODER_RESULT_SUCCESS) {
      ended_ = true;
      s.ended = true;
    }
    return s;
  }

  std::error_code restart() override { return coding_errc::corrupt; }  // nothing follows a brotli stream

 private:
  BrotliDecoderState* state_;
  bool ended_ = false;
};

}  // namespace

std::unique_ptr<ContentEncoder> make_brotli_encoder(int level) { return std::make_unique<BrotliEncoder>(level); }

std::unique_ptr<ContentDecoder> make_brotli_decoder(std::size_t max_bytes) {
  return std::make_unique<BrotliDecoder>(max_bytes);
}

}  // namespace khz::protocol::encoding
