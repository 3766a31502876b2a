// SPDX-License-Identifier: Apache-2.0
// FrameParser: RFC 6455 §5.2 frame headers and payloads, incrementally; the framing rules of
// §5.1-§5.5 and the frame and message limits.
#include <khz/protocol/websocket.h>

#include <algorithm>

namespace khz::protocol::websocket {
namespace {

bool is_known_opcode(std::uint8_t op) noexcept {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

}  // namespace

FrameParser::Step FrameParser::fail(errc e, std::size_t consumed) noexcept {
  state_ = State::dead;
  error_ = e;
  return {Event::error, consumed};
}

errc FrameParser::check_header() noexcept {
  const FrameHeader& h = header_;
  const bool control = is_control(h.opcode);
  if (control) {
    // §5.5: control frames are never fragmented and carry at most 125 bytes.
    if (!h.fin || h.length > 125) return errc::bad_control_frame;
    if (h.rsv1) return errc::reserved_bits;
  } else {
    if (h.opcode == Opcode::continuation) {
      if (!in_message_) return errc::unexpected_continuation;
      if (h.rsv1) return errc::reserved_bits;  // RFC 7692 §6: RSV1 on the first frame only
    } else {
      if (in_message_) return errc::expected_continuation;
      if (h.rsv1 && !options_.allow_rsv1) return errc::reserved_bits;
    }
  }
  // §5.1: a client masks every frame; a server never does.
  if (options_.role == Role::server && !h.masked) return errc::unmasked_frame;
  if (options_.role == Role::client && h.masked) return errc::masked_frame;
  if (h.length > options_.max_frame_bytes) return errc::frame_too_large;
  if (!control) {
    const std::uint64_t before = h.opcode == Opcode::continuation ? message_bytes_ : 0;
    if (h.length > options_.max_message_bytes || before > options_.max_message_bytes - h.length) {
      return errc::message_too_large;
    }
  }
  return errc{};
}

FrameParser::Step FrameParser::feed(std::string_view bytes, std::string& data, std::string& control) {
  std::size_t pos = 0;
  if (state_ == State::dead) return {Event::error, 0};
  if (state_ == State::header) {
    const std::size_t avail = bytes.size();
    if (avail < 2) return {Event::need_more, 0};
    const auto b0 = static_cast<std::uint8_t>(bytes[0]);
    const auto b1 = static_cast<std::uint8_t>(bytes[1]);
    // Checks that need only the first two bytes fail at once, whatever follows.
    if ((b0 & 0x30) != 0) return fail(errc::reserved_bits, 0);
    if (!is_known_opcode(b0 & 0x0F)) return fail(errc::reserved_opcode, 0);
    const std::uint8_t len7 = b1 & 0x7F;
    const bool masked = (b1 & 0x80) != 0;
    const std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
    if (avail < need) return {Event::need_more, 0};
    header_.fin = (b0 & 0x80) != 0;
    header_.rsv1 = (b0 & 0x40) != 0;
    header_.opcode = static_cast<Opcode>(b0 & 0x0F);
    header_.masked = masked;
    pos = 2;
    std::uint64_t length = len7;
    if (len7 == 126) {
      length = (std::uint64_t{static_cast<std::uint8_t>(bytes[2])} << 8) | static_cast<std::uint8_t>(bytes[3]);
      pos = 4;
      if (length < 126) return fail(errc::non_minimal_length, 0);
    } else if (len7 == 127) {
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<std::uint8_t>(bytes[2 + i]);
      pos = 10;
      // §5.2: the most significant bit must be 0; the minimal form must be used.
      if ((length >> 63) != 0 || length < 65536) return fail(errc::non_minimal_length, 0);
    }
    header_.length = length;
    if (masked) {
      for (int i = 0; i < 4; ++i) header_.mask[i] = static_cast<std::uint8_t>(bytes[pos + i]);
      pos += 4;
    } else {
      header_.mask[0] = header_.mask[1] = header_.mask[2] = header_.mask[3] = 0;
    }
    if (errc e = check_header(); e != errc{}) return fail(e, 0);
    if (is_control(header_.opcode)) {
      control.clear();
    } else {
      if (header_.opcode != Opcode::continuation) {
        message_opcode_ = header_.opcode;
        message_compressed_ = header_.rsv1;
        message_bytes_ = 0;
      }
      in_message_ = !header_.fin;
      message_bytes_ += length;
    }
    remaining_ = length;
    mask_offset_ = 0;
    state_ = State::payload;
  }
  // ---- payload
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size() - pos));
  if (n > 0) {
    std::string& dst = is_control(header_.opcode) ? control : data;
    const std::size_t old = dst.size();
    dst.append(bytes.data() + pos, n);
    if (header_.masked) apply_mask(dst.data() + old, n, header_.mask, mask_offset_);
    mask_offset_ += n;
    remaining_ -= n;
    pos += n;
  }
  if (remaining_ > 0) return {Event::need_more, pos};
  state_ = State::header;
  return {Event::frame, pos};
}

}  // namespace khz::protocol::websocket
