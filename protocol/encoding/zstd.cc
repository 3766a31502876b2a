// SPDX-License-Identifier: Apache-2.0
// zstd (RFC 8878) as an HTTP content coding (RFC 9659) on libzstd.
#include <zstd.h>

#include <algorithm>
#include <new>
#include <stdexcept>

#include "codecs.h"

namespace khz::protocol::encoding {
namespace {

// RFC 9659 §3: windows above 8 MiB are not to be sent, and a decoder may refuse them.
constexpr int kMaxWindowLog = 23;

class ZstdEncoder final : public ContentEncoder {
 public:
  explicit ZstdEncoder(int level) : ContentEncoder(ContentCoding::zstd), cctx_(ZSTD_createCCtx()) {
    if (cctx_ == nullptr) throw std::bad_alloc();
    if (level <= 0) level = 3;
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, std::min(level, 19));
    // Levels 1-19 pick windows up to 8 MiB for large inputs; capped to be sure (RFC 9659).
    if (level >= 17) ZSTD_CCtx_setParameter(cctx_, ZSTD_c_windowLog, kMaxWindowLog);
  }
  ~ZstdEncoder() override { ZSTD_freeCCtx(cctx_); }

  void feed(std::string_view in, std::string& out) override { run(in, ZSTD_e_continue, out); }
  void flush(std::string& out) override { run({}, ZSTD_e_flush, out); }
  void finish(std::string& out) override { run({}, ZSTD_e_end, out); }

 private:
  void run(std::string_view in, ZSTD_EndDirective mode, std::string& out) {
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    for (;;) {
      const std::size_t old = out.size();
      out.resize(old + kOutputChunk);
      ZSTD_outBuffer output{out.data() + old, kOutputChunk, 0};
      const std::size_t left = ZSTD_compressStream2(cctx_, &output, &input, mode);
      out.resize(old + output.pos);
      if (ZSTD_isError(left)) throw std::runtime_error(std::string("content coding: zstd: ") + ZSTD_getErrorName(left));
      if (mode == ZSTD_e_continue ? input.pos == input.size : left == 0) return;
    }
  }

  ZSTD_CCtx* cctx_;
};

class ZstdDecoder final : public ContentDecoder {
 public:
  explicit ZstdDecoder(std::size_t max_bytes) : ContentDecoder(ContentCoding::zstd, max_bytes), dctx_(ZSTD_createDCtx()) {
    if (dctx_ == nullptr) throw std::bad_alloc();
    ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, kMaxWindowLog);
  }
  ~ZstdDecoder() override { ZSTD_freeDCtx(dctx_); }

 protected:
  Step step(const unsigned char* in, std::size_t in_size, unsigned char* out, std::size_t out_size) override {
    Step s;
    if (at_frame_start_) {
      // A frame's first bytes are held until libzstd can have them in the pieces a whole body
      // gives it: the magic number on its own (handed a whole frame at once, libzstd takes a
      // one-shot path that judges some frames, a declared size or an empty RLE block,
      // differently), then the rest of a regular frame's header in one piece. libzstd 1.5.4
      // reads a frame differently when the header's descriptor byte comes alone: a fuzzer found
      // a malformed one that, whole, waited for the 1,567-byte block its first block header
      // announced (truncated at the end), and with the descriptor alone ended 6 bytes after the
      // header, short of its declared size (corrupt).
      // RFC 9659 is RFC 8878's format only: a frame starts with its magic number or a
      // skippable frame's. libzstd would also take its legacy (pre-1.0) formats: refused here.
      std::size_t taken = 0;
      for (;;) {
        const std::size_t want = start_wanted();
        if (want == 0) {
          s.error = coding_errc::corrupt;
          return s;
        }
        const std::size_t take = std::min(want - held_, in_size - taken);
        std::copy(in + taken, in + taken + take, start_ + held_);
        held_ += take;
        taken += take;
        if (held_ < want) {  // all of `in` is held: the rest comes with the next piece
          s.consumed = taken;
          return s;
        }
        if (start_wanted() == want) break;  // no more to hold than what is held
      }
      at_frame_start_ = false;
      frame_produced_ = 0;
      // The size a regular frame's header declares (a skippable frame has no content), checked
      // when the frame ends. A header libzstd cannot read, a descriptor with its reserved bit
      // set among them (RFC 8878 §3.1.1.1.1), it refuses below: given the header whole, as it
      // always is now (in 5 bytes and then 6 it once took that bit, a fuzzer's find).
      content_size_ = ZSTD_CONTENTSIZE_UNKNOWN;
      if (is_frame_magic(start_)) {
        const unsigned long long size = ZSTD_getFrameContentSize(start_, held_);
        if (size != ZSTD_CONTENTSIZE_ERROR) content_size_ = size;
      }
      ZSTD_outBuffer none{out, 0, 0};
      for (const auto& [at, size] : {std::pair<std::size_t, std::size_t>{0, 4}, {4, held_ - 4}}) {
        if (size == 0) continue;
        ZSTD_inBuffer piece{start_ + at, size, 0};
        const std::size_t hint = ZSTD_decompressStream(dctx_, &none, &piece);
        if (ZSTD_isError(hint) || piece.pos != piece.size) {
          s.error = coding_errc::corrupt;
          return s;
        }
      }
      s.consumed = taken;
      held_ = 0;
      return s;
    }
    ZSTD_inBuffer input{in, in_size, 0};
    ZSTD_outBuffer output{out, out_size, 0};
    const std::size_t hint = ZSTD_decompressStream(dctx_, &output, &input);
    s.consumed = input.pos;
    s.produced = output.pos;
    frame_produced_ += output.pos;
    if (ZSTD_isError(hint)) {
      s.error = coding_errc::corrupt;
    } else if (hint == 0 && content_size_ != ZSTD_CONTENTSIZE_UNKNOWN && frame_produced_ != content_size_) {
      // libzstd's streaming path does not check the size a frame header declares (its one-shot
      // path does): a frame that ends short or long of it is corrupt either way.
      s.error = coding_errc::corrupt;
    } else if (hint == 0) {
      // A frame ended and is flushed; more input starts the next frame (RFC 8878 §3.1).
      s.ended = true;
      at_frame_start_ = true;
    }
    return s;
  }

  std::error_code restart() override { return {}; }

  static bool is_frame_magic(const unsigned char* m) noexcept {
    return m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd;
  }
  static bool is_skippable_magic(const unsigned char* m) noexcept {
    return (m[0] & 0xf0) == 0x50 && m[1] == 0x2a && m[2] == 0x4d && m[3] == 0x18;
  }
  // How many of a frame's first bytes to hold, given the held_ in start_: the magic number's 4;
  // for a regular frame, 5 until its descriptor is in, then its whole header. 0: not a frame.
  std::size_t start_wanted() const noexcept {
    if (held_ < 4) return 4;
    if (is_skippable_magic(start_)) return 4;
    if (!is_frame_magic(start_)) return 0;
    if (held_ < 5) return 5;
    // RFC 8878 §3.1.1.1: the descriptor gives the sizes of the window descriptor, the
    // dictionary ID and the frame content size fields that follow it.
    const unsigned fhd = start_[4];
    const bool single_segment = (fhd & 0x20) != 0;
    static constexpr std::size_t kDictId[] = {0, 1, 2, 4};
    static constexpr std::size_t kContentSize[] = {0, 2, 4, 8};
    const std::size_t fcs = (fhd >> 6) == 0 ? (single_segment ? 1 : 0) : kContentSize[fhd >> 6];
    return 5 + (single_segment ? 0 : 1) + kDictId[fhd & 3] + fcs;  // at most 18
  }

 private:
  ZSTD_DCtx* dctx_;
  bool at_frame_start_ = true;
  unsigned char start_[18] = {};  // a frame's first bytes, held until its header is whole
  std::size_t held_ = 0;
  unsigned long long content_size_ = ZSTD_CONTENTSIZE_UNKNOWN;  // declared by the header
  unsigned long long frame_produced_ = 0;                        // decoded from this frame
};

}  // namespace

std::unique_ptr<ContentEncoder> make_zstd_encoder(int level) { return std::make_unique<ZstdEncoder>(level); }

std::unique_ptr<ContentDecoder> make_zstd_decoder(std::size_t max_bytes) { return std::make_unique<ZstdDecoder>(max_bytes); }

}  // namespace khz::protocol::encoding
