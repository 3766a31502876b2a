// SPDX-License-Identifier: Apache-2.0
// Close frame payloads (RFC 6455 §5.5.1, §7.4) and the close code for each error.
#include <khz/protocol/websocket.h>

namespace khz::protocol::websocket {

bool is_sendable_close_code(std::uint16_t code) noexcept {
  // §7.4.1/§7.4.2: 1004, 1005, 1006 and 1015 are reserved and never sent; 1012-1014 are
  // registered with IANA since; 3000-3999 registered, 4000-4999 private use.
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

std::error_code parse_close(std::string_view payload, ClosePayload& out) noexcept {
  out = {};
  if (payload.empty()) return {};
  if (payload.size() == 1) return errc::bad_close_payload;
  const auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                               static_cast<std::uint8_t>(payload[1]));
  if (!is_sendable_close_code(code)) return errc::bad_close_payload;
  out.code = code;
  out.reason = payload.substr(2);
  if (!is_valid_utf8(out.reason)) return errc::invalid_utf8;
  return {};
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string out;
  if (code == close_code::no_status) return out;
  // A control frame carries at most 125 bytes: the code and 123 bytes of reason, cut where a
  // UTF-8 sequence begins.
  if (reason.size() > 123) {
    std::size_t cut = 123;
    while (cut > 0 && (static_cast<std::uint8_t>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  out.reserve(2 + reason.size());
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason);
  return out;
}

std::uint16_t close_code_for(std::error_code error) noexcept {
  if (error.category() != websocket_category()) return close_code::internal_error;
  switch (static_cast<errc>(error.value())) {
    case errc::invalid_utf8:
    case errc::inflate_failed: return close_code::invalid_payload;
    case errc::frame_too_large:
    case errc::message_too_large: return close_code::message_too_big;
    case errc::closed: return close_code::normal;
    case errc::connection_lost: return close_code::abnormal;
    case errc::keepalive_timeout: return close_code::internal_error;
    case errc::handshake_failed: return close_code::protocol_error;
    default: return close_code::protocol_error;
  }
}

}  // namespace khz::protocol::websocket
