// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http2: follows the frame headers (RFC 9113 §4.1) in the bytes a client
// sends, as they are handed to nghttp2, so the server sees each frame before nghttp2 acts on
// it. nghttp2 still parses everything; the scanner reads 9 bytes a frame and skips payloads
// by count (the state carries across feeds).
//
//   FrameScanner frames(24);                                  // after the client magic
//   std::size_t ok = frames.scan(bytes, [&](const FrameScanner::Header& h) {
//     return !(h.type == kContinuation && ++count > limit);   // false: stop before this frame
//   });
//   nghttp2_session_mem_recv(ng, bytes.data(), ok);
//   if (frames.stopped()) ...                                 // the frame nghttp2 must not see
//
// Why: nghttp2 reports no frame of a header block it ignores (one on a refused stream, say) to
// any callback, and its own limits (CONTINUATION frames per block) end in a fatal error that
// leaves the session unable to send GOAWAY. A limit kept here is met before nghttp2 parses the
// frame, with the session intact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace khz::protocol::http2 {

class FrameScanner {
 public:
  struct Header {
    std::uint32_t length;  // of the payload
    std::uint8_t type;
    std::uint8_t flags;
    std::uint32_t stream_id;  // the reserved bit cleared
  };
  static constexpr std::size_t kHeaderSize = 9;

  // `before_first_frame`: bytes skipped before the first frame header (the client magic).
  explicit FrameScanner(std::uint32_t before_first_frame = 0) noexcept : payload_left_(before_first_frame) {}

  bool stopped() const noexcept { return stopped_; }

  // Scans the next bytes of the frame stream. `look(header)` is called for each frame header
  // completed in them; when it returns false, scanning stops before that frame and the result
  // is the number of bytes that come before its header in `bytes` (0 when the header began in
  // an earlier feed: nghttp2 then holds at most 8 bytes of it and has not acted on it). Else
  // the result is bytes.size(). Once stopped, every scan returns 0.
  template <class Look>
  std::size_t scan(std::string_view bytes, Look&& look) {
    if (stopped_) return 0;
    std::size_t i = 0;
    while (i < bytes.size()) {
      if (payload_left_ != 0) {
        std::size_t n = bytes.size() - i < payload_left_ ? bytes.size() - i : static_cast<std::size_t>(payload_left_);
        i += n;
        payload_left_ -= n;
        continue;
      }
      const std::size_t start = have_ != 0 ? 0 : i;  // where this header began in `bytes` (0: earlier)
      while (have_ < kHeaderSize && i < bytes.size()) head_[have_++] = static_cast<std::uint8_t>(bytes[i++]);
      if (have_ < kHeaderSize) break;
      have_ = 0;
      Header h{};
      h.length = (std::uint32_t{head_[0]} << 16) | (std::uint32_t{head_[1]} << 8) | head_[2];
      h.type = head_[3];
      h.flags = head_[4];
      h.stream_id = ((std::uint32_t{head_[5]} << 24) | (std::uint32_t{head_[6]} << 16) |
                     (std::uint32_t{head_[7]} << 8) | head_[8]) & 0x7fffffffu;
      if (!look(static_cast<const Header&>(h))) {
        stopped_ = true;
        return start;
      }
      payload_left_ = h.length;
    }
    return bytes.size();
  }

 private:
  std::uint8_t head_[kHeaderSize] = {};
  std::size_t have_ = 0;            // bytes of the current header seen so far
  std::uint32_t payload_left_;      // bytes of the current payload still to skip
  bool stopped_ = false;
};

}  // namespace khz::protocol::http2
