// SPDX-License-Identifier: Apache-2.0
#include "ws_codec.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
#include <stdexcept>

namespace khz_wsload {

namespace {

std::string base64(const std::uint8_t* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A comma-separated header value holds the token (case-insensitive), e.g. "keep-alive, Upgrade".
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view item = trim(value.substr(0, comma));
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::size_t write_client_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t length, MaskKey mask) {
  std::size_t n = 0;
  out[n++] = static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(op));
  if (length < 126) {
    out[n++] = static_cast<std::uint8_t>(0x80 | length);
  } else if (length <= 0xFFFF) {
    out[n++] = 0x80 | 126;
    out[n++] = static_cast<std::uint8_t>(length >> 8);
    out[n++] = static_cast<std::uint8_t>(length);
  } else {
    out[n++] = 0x80 | 127;
    for (int shift = 56; shift >= 0; shift -= 8) out[n++] = static_cast<std::uint8_t>(length >> shift);
  }
  std::memcpy(out + n, mask.data(), 4);
  return n + 4;
}

void apply_mask(std::uint8_t* data, std::size_t n, MaskKey mask, std::uint64_t offset) {
  // The key rotated to start at this offset, then 8 bytes at a time (the compiler vectorises it).
  std::uint8_t rotated[8];
  for (std::size_t i = 0; i < 8; ++i) rotated[i] = mask[(offset + i) % 4];
  std::uint64_t word;
  std::memcpy(&word, rotated, 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t chunk;
    std::memcpy(&chunk, data + i, 8);
    chunk ^= word;
    std::memcpy(data + i, &chunk, 8);
  }
  for (; i < n; ++i) data[i] ^= rotated[i % 8];
}

HeaderParse parse_server_header(std::span<const std::uint8_t> data) {
  HeaderParse result;
  if (data.size() < 2) return result;
  FrameHeader& h = result.header;
  std::uint8_t b0 = data[0], b1 = data[1];
  h.fin = (b0 & 0x80) != 0;
  h.rsv = static_cast<std::uint8_t>((b0 >> 4) & 0x7);
  std::uint8_t op = b0 & 0x0F;
  auto fail = [&result](const char* why) {
    result.status = HeaderParse::error;
    result.why = why;
    return result;
  };
  if (op > 2 && op < 8) return fail("reserved data opcode");
  if (op > 10) return fail("reserved control opcode");
  h.opcode = static_cast<Opcode>(op);
  h.masked = (b1 & 0x80) != 0;
  std::uint64_t length = b1 & 0x7F;
  std::size_t n = 2;
  if (length == 126) {
    if (data.size() < 4) return result;
    length = (std::uint64_t{data[2]} << 8) | data[3];
    n = 4;
    if (length < 126) return fail("16-bit length not in its shortest form");
  } else if (length == 127) {
    if (data.size() < 10) return result;
    length = 0;
    for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | data[i];
    n = 10;
    if (length >> 63) return fail("64-bit length with its top bit set");
    if (length <= 0xFFFF) return fail("64-bit length not in its shortest form");
  }
  if (is_control(h.opcode)) {
    if (!h.fin) return fail("fragmented control frame");
    if (length > 125) return fail("control frame longer than 125 bytes");
  }
  if (h.masked) {
    if (data.size() < n + 4) return result;
    std::memcpy(h.mask.data(), data.data() + n, 4);
    n += 4;
  }
  h.length = length;
  h.size = n;
  result.status = HeaderParse::ok;
  return result;
}

std::string accept_key(std::string_view key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string text;
  text.reserve(key.size() + guid.size());
  text.append(key).append(guid);
  std::uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base64(digest, sizeof digest);
}

std::string new_key() {
  std::uint8_t bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  return base64(bytes, sizeof bytes);
}

std::string handshake_request(std::string_view host, std::string_view path, std::string_view key) {
  std::string out;
  out.reserve(192);
  out.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  out.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  out.append("\r\nSec-WebSocket-Version: 13\r\n\r\n");
  return out;
}

std::string check_handshake_response(std::string_view head, std::string_view expected_accept) {
  std::size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return "no status line";
  std::string_view status_line = head.substr(0, eol);
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/" || status_line.substr(8, 5) != " 101 ") {
    if (status_line.size() >= 12 && status_line.substr(0, 5) == "HTTP/" && status_line.substr(8, 1) == " ") {
      return "the server answered \"" + std::string(status_line) + "\" instead of 101";
    }
    return "not an HTTP response: \"" + std::string(status_line.substr(0, 80)) + "\"";
  }
  bool upgrade = false, connection = false, accept_seen = false;
  std::string_view rest = head.substr(eol + 2);
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    if (line.empty()) break;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return "malformed header line \"" + std::string(line.substr(0, 80)) + "\"";
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (iequals(name, "upgrade")) {
      upgrade = iequals(value, "websocket");
    } else if (iequals(name, "connection")) {
      connection = has_token(value, "upgrade");
    } else if (iequals(name, "sec-websocket-accept")) {
      if (value != expected_accept) return "wrong Sec-WebSocket-Accept \"" + std::string(value) + "\"";
      accept_seen = true;
    } else if (iequals(name, "sec-websocket-extensions")) {
      return "the server chose extensions none was offered: \"" + std::string(value) + "\"";
    } else if (iequals(name, "sec-websocket-protocol")) {
      return "the server chose a subprotocol none was offered: \"" + std::string(value) + "\"";
    }
  }
  if (!upgrade) return "no \"Upgrade: websocket\" in the 101 response";
  if (!connection) return "no \"Connection: upgrade\" in the 101 response";
  if (!accept_seen) return "no Sec-WebSocket-Accept in the 101 response";
  return "";
}

}  // namespace khz_wsload
