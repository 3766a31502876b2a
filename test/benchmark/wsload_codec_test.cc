// SPDX-License-Identifier: Apache-2.0
// khz-wsload's client-side codec (benchmark/wsload/ws_codec.h): frame headers against RFC 6455's
// own examples, each length encoding at its edges, masking, server headers fed a byte at a time,
// and the handshake checks.
#include "ws_codec.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace khz_wsload;

namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<std::uint8_t> out;
  for (int b : list) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

std::string accepted_101(std::string_view accept, std::string_view extra = "") {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
         std::string(accept) + "\r\n" + std::string(extra) + "\r\n";
}

}  // namespace

TEST_CASE("accept_key matches RFC 6455's example") {
  CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("new_key is 16 bytes in base64, fresh each time") {
  std::string a = new_key(), b = new_key();
  CHECK(a.size() == 24);
  CHECK(a.substr(22) == "==");
  CHECK(a != b);
}

TEST_CASE("a masked client frame is RFC 6455's masked \"Hello\" (section 5.7)") {
  std::uint8_t out[max_client_header + 5];
  MaskKey mask{0x37, 0xfa, 0x21, 0x3d};
  std::size_t n = write_client_header(out, Opcode::text, true, 5, mask);
  REQUIRE(n == 6);
  std::memcpy(out + n, "Hello", 5);
  apply_mask(out + n, 5, mask, 0);
  CHECK(std::vector<std::uint8_t>(out, out + n + 5) ==
        bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
}

TEST_CASE("client headers use the shortest length encoding") {
  struct Case {
    std::uint64_t length;
    std::size_t size;
    std::vector<std::uint8_t> prefix;
  };
  const Case cases[] = {
      {0, 6, bytes({0x82, 0x80})},
      {125, 6, bytes({0x82, 0xfd})},
      {126, 8, bytes({0x82, 0xfe, 0x00, 0x7e})},
      {65535, 8, bytes({0x82, 0xfe, 0xff, 0xff})},
      {65536, 14, bytes({0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0})},
      {std::uint64_t{1} << 40, 14, bytes({0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0})},
  };
  for (const Case& c : cases) {
    std::uint8_t out[max_client_header];
    std::size_t n = write_client_header(out, Opcode::binary, true, c.length, {1, 2, 3, 4});
    CAPTURE(c.length);
    REQUIRE(n == c.size);
    CHECK(std::vector<std::uint8_t>(out, out + c.prefix.size()) == c.prefix);
    CHECK(std::vector<std::uint8_t>(out + n - 4, out + n) == bytes({1, 2, 3, 4}));
  }
  std::uint8_t out[max_client_header];
  write_client_header(out, Opcode::continuation, false, 3, {0, 0, 0, 0});
  CHECK(out[0] == 0x00);  // no FIN, opcode 0
}

TEST_CASE("apply_mask at any offset and length equals the byte-by-byte rule, and undoes itself") {
  MaskKey mask{0xa1, 0x02, 0xf3, 0x74};
  std::vector<std::uint8_t> data(100);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
  for (std::uint64_t offset = 0; offset < 9; ++offset) {
    for (std::size_t n = 0; n <= 37; ++n) {
      std::vector<std::uint8_t> masked(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
      apply_mask(masked.data(), n, mask, offset);
      for (std::size_t i = 0; i < n; ++i) REQUIRE(masked[i] == (data[i] ^ mask[(offset + i) % 4]));
      apply_mask(masked.data(), n, mask, offset);
      REQUIRE(std::equal(masked.begin(), masked.end(), data.begin()));
    }
  }
}

TEST_CASE("server headers parse, and report need_more at every split") {
  struct Case {
    std::vector<std::uint8_t> header;
    Opcode opcode;
    bool fin;
    std::uint64_t length;
  };
  const Case cases[] = {
      {bytes({0x81, 0x05}), Opcode::text, true, 5},                                       // RFC 6455 5.7
      {bytes({0x01, 0x03}), Opcode::text, false, 3},                                      // first fragment
      {bytes({0x80, 0x02}), Opcode::continuation, true, 2},                               // last fragment
      {bytes({0x89, 0x05}), Opcode::ping, true, 5},                                       // ping
      {bytes({0x8a, 0x00}), Opcode::pong, true, 0},                                       // pong
      {bytes({0x82, 0x7e, 0x01, 0x00}), Opcode::binary, true, 256},                       // 16-bit
      {bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}), Opcode::binary, true, 65536},         // 64-bit
  };
  for (const Case& c : cases) {
    CAPTURE(c.header.size(), c.length);
    for (std::size_t cut = 0; cut < c.header.size(); ++cut) {
      CHECK(parse_server_header({c.header.data(), cut}).status == HeaderParse::need_more);
    }
    std::vector<std::uint8_t> with_payload = c.header;
    with_payload.push_back(0x55);  // bytes after the header are not its business
    HeaderParse h = parse_server_header(with_payload);
    REQUIRE(h.status == HeaderParse::ok);
    CHECK(h.header.opcode == c.opcode);
    CHECK(h.header.fin == c.fin);
    CHECK(h.header.length == c.length);
    CHECK(h.header.size == c.header.size());
    CHECK_FALSE(h.header.masked);
    CHECK(h.header.rsv == 0);
  }
}

TEST_CASE("server headers report masking and RSV bits for the caller to judge") {
  HeaderParse masked = parse_server_header(bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}));
  REQUIRE(masked.status == HeaderParse::ok);
  CHECK(masked.header.masked);
  CHECK(masked.header.size == 6);
  CHECK(masked.header.mask == MaskKey{0x37, 0xfa, 0x21, 0x3d});
  CHECK(parse_server_header(bytes({0x81, 0x85, 0x37})).status == HeaderParse::need_more);
  HeaderParse rsv1 = parse_server_header(bytes({0xc1, 0x05}));
  REQUIRE(rsv1.status == HeaderParse::ok);
  CHECK(rsv1.header.rsv == 4);
}

TEST_CASE("malformed server headers are errors") {
  const std::vector<std::uint8_t> bad[] = {
      bytes({0x83, 0x00}),                                // reserved data opcode
      bytes({0x8b, 0x00}),                                // reserved control opcode
      bytes({0x09, 0x00}),                                // fragmented ping
      bytes({0x89, 0x7e, 0x00, 0x7e}),                    // ping of 126 bytes
      bytes({0x82, 0x7e, 0x00, 0x7d}),                    // 125 in the 16-bit form
      bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff}),  // 65535 in the 64-bit form
      bytes({0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}),     // top bit of the 64-bit length
  };
  for (const auto& header : bad) {
    HeaderParse h = parse_server_header(header);
    CAPTURE(header[0], header[1]);
    CHECK(h.status == HeaderParse::error);
    CHECK(h.why != nullptr);
  }
}

TEST_CASE("handshake request and response checks") {
  std::string request = handshake_request("127.0.0.1:8080", "/ws", "dGhlIHNhbXBsZSBub25jZQ==");
  CHECK(request.rfind("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n", 0) == 0);
  CHECK(request.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
  CHECK(request.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
  CHECK(request.find("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") != std::string::npos);
  CHECK(request.find("\r\nSec-WebSocket-Version: 13\r\n\r\n") != std::string::npos);
  CHECK(request.find("Extensions") == std::string::npos);

  const std::string accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
  CHECK(check_handshake_response(accepted_101(accept), accept).empty());
  CHECK(check_handshake_response("HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
                                 "sec-websocket-accept: " + accept + "\r\nServer: x\r\n\r\n",
                                 accept)
            .empty());
  CHECK(check_handshake_response("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", accept) ==
        "the server answered \"HTTP/1.1 404 Not Found\" instead of 101");
  CHECK(check_handshake_response(accepted_101("AAAA"), accept).find("wrong Sec-WebSocket-Accept") == 0);
  CHECK(check_handshake_response(accepted_101(accept, "Sec-WebSocket-Extensions: permessage-deflate\r\n"), accept)
            .find("extensions") != std::string::npos);
  CHECK(check_handshake_response(accepted_101(accept, "Sec-WebSocket-Protocol: chat\r\n"), accept)
            .find("subprotocol") != std::string::npos);
  CHECK(check_handshake_response("HTTP/1.1 101 X\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                                     "\r\n\r\n",
                                 accept)
            .find("Upgrade: websocket") != std::string::npos);
  CHECK(check_handshake_response("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Accept: " +
                                     accept + "\r\n\r\n",
                                 accept)
            .find("Connection: upgrade") != std::string::npos);
  CHECK(check_handshake_response("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", accept)
            .find("no Sec-WebSocket-Accept") == 0);
  CHECK(check_handshake_response("SSH-2.0-OpenSSH\r\n\r\n", accept).find("not an HTTP response") == 0);
}
