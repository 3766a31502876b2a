// SPDX-License-Identifier: Apache-2.0
// The client side of RFC 6455 that khz-wsload needs, as pure functions (no sockets): the
// opening handshake (request text, Sec-WebSocket-Accept, checking the 101 response), masked
// client frames, and the header of a server frame.
//
//   std::string key = khz_wsload::new_key();                       // 16 random bytes, base64
//   std::string request = khz_wsload::handshake_request("127.0.0.1:8080", "/ws", key);
//   std::string why = khz_wsload::check_handshake_response(head, khz_wsload::accept_key(key));
//   std::size_t n = khz_wsload::write_client_header(out, Opcode::binary, true, size, mask);
//   khz_wsload::apply_mask(payload, size, mask, 0);                 // then the payload follows
//   HeaderParse h = khz_wsload::parse_server_header(bytes);        // need_more / ok / error
//
// Independent of khz's own WebSocket codec on purpose: the load generator checks the server,
// so a misreading shared by both sides cannot cancel out.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace khz_wsload {

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

inline bool is_control(Opcode op) { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

// The largest header of a client frame: 2 + 8 (64-bit length) + 4 (masking key).
inline constexpr std::size_t max_client_header = 14;

using MaskKey = std::array<std::uint8_t, 4>;

// Writes the header of a masked client frame (RFC 6455 §5.2: FIN, opcode, MASK=1, the shortest
// length encoding, then the key) into out, which must hold max_client_header bytes. Returns
// its size: 6, 8 or 14.
std::size_t write_client_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t length, MaskKey mask);

// XORs data[0..n) with the key, as the bytes at offset..offset+n of a payload (§5.3). Applying
// it twice restores the data.
void apply_mask(std::uint8_t* data, std::size_t n, MaskKey mask, std::uint64_t offset);

struct FrameHeader {
  bool fin = false;
  std::uint8_t rsv = 0;  // RSV1..3 as bits 2..0; nonzero only with an extension
  Opcode opcode = Opcode::continuation;
  bool masked = false;
  MaskKey mask{};
  std::uint64_t length = 0;
  std::size_t size = 0;  // header bytes (2..14)
};

struct HeaderParse {
  enum Status { ok, need_more, error } status = need_more;
  FrameHeader header;
  const char* why = nullptr;  // set with status error: what was wrong
};

// Reads the frame header at the start of data. need_more: data holds only part of it. error:
// an unknown opcode, a control frame that is fragmented or longer than 125 bytes (§5.5), a
// 64-bit length with its top bit set, or a length not in its shortest form (§5.2). Masking and
// RSV bits are reported, not judged: the caller knows what it negotiated.
HeaderParse parse_server_header(std::span<const std::uint8_t> data);

// base64(SHA-1(key + the RFC 6455 GUID)): the Sec-WebSocket-Accept a server must answer.
std::string accept_key(std::string_view key);

// A fresh Sec-WebSocket-Key: 16 random bytes, base64.
std::string new_key();

// The GET request of the opening handshake (§4.1), no extensions and no subprotocol offered.
std::string handshake_request(std::string_view host, std::string_view path, std::string_view key);

// Checks the server's handshake response head (status line and headers, up to and including
// the blank line): 101, Upgrade: websocket, Connection: upgrade, the expected
// Sec-WebSocket-Accept, and no extension or subprotocol (none was offered). Returns what is
// wrong, or "" when it is right.
std::string check_handshake_response(std::string_view head, std::string_view expected_accept);

}  // namespace khz_wsload
