// SPDX-License-Identifier: Apache-2.0
// websocket::errc's category, "khz.websocket".
#include <khz/protocol/websocket.h>

#include <string>

namespace khz::protocol::websocket {
namespace {

class WebSocketCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.websocket"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::unmasked_frame: return "websocket: unmasked frame from a client";
      case errc::masked_frame: return "websocket: masked frame from a server";
      case errc::reserved_bits: return "websocket: reserved bits set";
      case errc::reserved_opcode: return "websocket: reserved opcode";
      case errc::bad_control_frame: return "websocket: control frame fragmented or over 125 bytes";
      case errc::unexpected_continuation: return "websocket: continuation frame without a message";
      case errc::expected_continuation: return "websocket: new message inside a fragmented one";
      case errc::non_minimal_length: return "websocket: payload length not in its minimal form";
      case errc::bad_close_payload: return "websocket: invalid close frame payload";
      case errc::invalid_utf8: return "websocket: text is not valid UTF-8";
      case errc::frame_too_large: return "websocket: frame larger than the limit";
      case errc::message_too_large: return "websocket: message larger than the limit";
      case errc::inflate_failed: return "websocket: compressed data is not valid DEFLATE";
      case errc::closed: return "websocket: closed";
      case errc::connection_lost: return "websocket: connection ended without a close frame";
      case errc::keepalive_timeout: return "websocket: no pong within the keepalive timeout";
      case errc::handshake_failed: return "websocket: opening handshake refused";
    }
    return "websocket: unknown error";
  }
};

}  // namespace

const std::error_category& websocket_category() noexcept {
  static const WebSocketCategory category;
  return category;
}

}  // namespace khz::protocol::websocket
