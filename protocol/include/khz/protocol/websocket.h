// SPDX-License-Identifier: Apache-2.0
// khz::protocol::websocket: the WebSocket frame codec (RFC 6455), sans-I/O: bytes in, frames
// and payload out; headers out for the writer. The session that drives it over a connection is
// <khz/app/websocket.h>; the opening handshake is <khz/protocol/websocket_handshake.h>, the
// permessage-deflate codec <khz/protocol/websocket_deflate.h>.
//
//   FrameParser parser({.role = Role::server, .max_frame_bytes = 1 << 20});
//   std::string data, control;
//   for (;;) {
//     auto step = parser.feed(bytes, data, control);   // consumes step.consumed bytes
//     bytes.remove_prefix(step.consumed);
//     if (step.event == FrameParser::Event::need_more) break;        // feed more bytes later
//     if (step.event == FrameParser::Event::error) fail(parser.error());  // close with close_code_for()
//     // Event::frame: parser.header() is the frame just completed; its payload, unmasked, was
//     // appended to `data` (text, binary, continuation) or written to `control` (close, ping, pong)
//   }
//
// The parser enforces the framing rules for its role (§5.1 masking, §5.2 reserved bits and
// opcodes, §5.4 fragmentation, §5.5 control frames) and the frame and message limits; each
// violation is an errc whose close_code_for() is what the endpoint closes with (1002, 1009).
// Threading: plain values; one parser per connection and direction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace khz::protocol::websocket {

enum class Opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };
constexpr bool is_control(Opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

// Who parses: a server requires masked frames from its client, a client unmasked ones (§5.1).
enum class Role { server, client };

// Close codes (RFC 6455 §7.4.1).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;  // never sent: the close frame had no code
inline constexpr std::uint16_t abnormal = 1006;   // never sent: the connection ended without a close frame
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t mandatory_extension = 1010;
inline constexpr std::uint16_t internal_error = 1011;
}  // namespace close_code

enum class errc {
  // Protocol errors (close with 1002)
  unmasked_frame = 1,       // a server got an unmasked frame (§5.1)
  masked_frame,             // a client got a masked frame (§5.1)
  reserved_bits,            // RSV1-3 set without an extension that defines them (§5.2)
  reserved_opcode,          // opcode 3-7 or B-F (§5.2)
  bad_control_frame,        // a control frame fragmented or longer than 125 bytes (§5.5)
  unexpected_continuation,  // a continuation frame with no message in progress (§5.4)
  expected_continuation,    // a new data frame while a fragmented message is in progress (§5.4)
  non_minimal_length,       // a 16/64-bit length that fits a shorter form, or the 64-bit MSB set (§5.2)
  bad_close_payload,        // a close payload of 1 byte or with a code not allowed on the wire (§7.4)
  // Invalid data (close with 1007)
  invalid_utf8,             // a text message or a close reason that is not UTF-8 (§8.1)
  // Limits (close with 1009)
  frame_too_large,          // a frame payload over the frame limit
  message_too_large,        // a message over the message limit (after decompression too)
  // permessage-deflate
  inflate_failed,           // the compressed data is not valid DEFLATE (close with 1007)
  // Session (app): not frame errors
  closed,                   // the close handshake happened (the peer's code and reason are kept)
  connection_lost,          // the connection ended without a close frame (1006)
  keepalive_timeout,        // no pong within the keepalive's pong timeout
  handshake_failed,         // client: the server did not accept the opening handshake
};
const std::error_category& websocket_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), websocket_category()}; }

// The close code an endpoint sends when it fails the connection for `error` (1002, 1007, 1009;
// 1011 for anything that is not a websocket::errc).
std::uint16_t close_code_for(std::error_code error) noexcept;

// ---- reading frames

struct FrameHeader {
  bool fin = false;
  bool rsv1 = false;  // permessage-deflate: "this message is compressed" (first frame only)
  Opcode opcode = Opcode::continuation;
  bool masked = false;
  std::uint8_t mask[4] = {0, 0, 0, 0};
  std::uint64_t length = 0;
};

struct ParserOptions {
  Role role = Role::server;
  // RSV1 allowed on the first frame of a data message (permessage-deflate negotiated).
  bool allow_rsv1 = false;
  std::uint64_t max_frame_bytes = 16 * 1024 * 1024;    // payload of one frame
  std::uint64_t max_message_bytes = 16 * 1024 * 1024;  // payload of one message, as framed
};

// Incremental: feed any split of the byte stream. Keeps the fragmentation state across frames.
class FrameParser {
 public:
  enum class Event { need_more, frame, error };
  struct Step {
    Event event = Event::need_more;
    std::size_t consumed = 0;  // bytes of the input taken (all of them with need_more)
  };

  explicit FrameParser(ParserOptions options = {}) noexcept : options_(options) {}

  // Parses from `bytes`. Data payloads (text, binary, continuation) are appended to `data`,
  // unmasked, as they arrive (a message's frames accumulate there); a control frame's payload
  // replaces `control` (cleared at its header). Stops after each complete frame (Event::frame),
  // at an error (the parser is then dead: error() says why) or when the input runs out.
  Step feed(std::string_view bytes, std::string& data, std::string& control);

  // The frame completed by the last Event::frame (or in progress).
  const FrameHeader& header() const noexcept { return header_; }
  // The opcode of the data message in progress (text or binary), also on its continuations.
  Opcode message_opcode() const noexcept { return message_opcode_; }
  // Whether the data message in progress had RSV1 on its first frame (compressed).
  bool message_compressed() const noexcept { return message_compressed_; }
  // Payload bytes of the data message in progress so far (as framed).
  std::uint64_t message_bytes() const noexcept { return message_bytes_; }
  std::error_code error() const noexcept { return error_; }

  // permessage-deflate was negotiated after the parser was made.
  void set_allow_rsv1(bool allow) noexcept { options_.allow_rsv1 = allow; }
  void set_limits(std::uint64_t max_frame_bytes, std::uint64_t max_message_bytes) noexcept {
    options_.max_frame_bytes = max_frame_bytes;
    options_.max_message_bytes = max_message_bytes;
  }

 private:
  Step fail(errc e, std::size_t consumed) noexcept;
  // Checks a complete header against the rules; errc{} when it is fine.
  errc check_header() noexcept;

  ParserOptions options_;
  FrameHeader header_;
  enum class State { header, payload, dead } state_ = State::header;
  std::uint64_t remaining_ = 0;     // payload bytes of the current frame still to come
  std::uint64_t mask_offset_ = 0;   // payload bytes of the current frame already unmasked
  bool in_message_ = false;         // a fragmented data message is in progress
  Opcode message_opcode_ = Opcode::text;
  bool message_compressed_ = false;
  std::uint64_t message_bytes_ = 0;
  std::error_code error_;
};

// XORs `bytes` with `key` (§5.3), starting `offset` bytes into the payload.
void apply_mask(char* bytes, std::size_t n, const std::uint8_t key[4], std::uint64_t offset) noexcept;

// ---- writing frames

// A fresh masking key for a client frame, from OpenSSL's CSPRNG (§10.3: unpredictable).
void make_mask_key(std::uint8_t key[4]);

inline constexpr std::size_t kMaxHeaderBytes = 14;

// Writes a frame header to `out` (room for kMaxHeaderBytes) and returns its length. With a
// mask key (client role) the payload must then be masked with apply_mask(..., key, 0).
std::size_t write_header(char* out, Opcode opcode, bool fin, bool rsv1, std::uint64_t length,
                         const std::uint8_t* mask_key = nullptr) noexcept;

// ---- close frames (§5.5.1, §7.4)

// Whether `code` may appear in a close frame on the wire: 1000-1003, 1007-1011, 1012-1014
// (IANA-registered), 3000-4999.
bool is_sendable_close_code(std::uint16_t code) noexcept;

struct ClosePayload {
  std::uint16_t code = close_code::no_status;  // no_status for an empty payload
  std::string_view reason;                     // a view into the payload parsed
};
// Parses and validates a close frame's payload. Errors: bad_close_payload (1 byte, or a code
// not allowed on the wire), invalid_utf8 (the reason).
std::error_code parse_close(std::string_view payload, ClosePayload& out) noexcept;
// The payload for a close frame: the code (big-endian) and the reason, cut at 123 bytes on a
// UTF-8 boundary. Empty for close_code::no_status.
std::string close_payload(std::uint16_t code, std::string_view reason);

// ---- UTF-8 (RFC 3629), incrementally across fragments

// Validates a byte stream in pieces; fails at the first byte that cannot start or continue a
// valid sequence (overlong forms, surrogates and code points above U+10FFFF included), so an
// invalid text message is refused before it is complete.
class Utf8Validator {
 public:
  // False once the bytes seen so far cannot begin valid UTF-8.
  bool feed(std::string_view bytes) noexcept;
  // True when the bytes seen form complete, valid UTF-8 (no sequence cut short).
  bool complete() const noexcept { return need_ == 0 && !failed_; }
  void reset() noexcept { need_ = 0, failed_ = false; }

 private:
  std::uint8_t need_ = 0;                   // continuation bytes still expected
  std::uint8_t low_ = 0x80, high_ = 0xBF;   // the range the next continuation byte must be in
  bool failed_ = false;
};
bool is_valid_utf8(std::string_view bytes) noexcept;

}  // namespace khz::protocol::websocket

template <>
struct std::is_error_code_enum<khz::protocol::websocket::errc> : std::true_type {};
