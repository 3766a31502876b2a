// SPDX-License-Identifier: Apache-2.0
// khz::protocol::websocket: the opening handshake's pieces (RFC 6455 §4), and the negotiation
// of permessage-deflate (RFC 7692 §7.1) from Sec-WebSocket-Extensions. Sans-I/O: strings in,
// strings out; the server and the client sessions in app/ build and read the HTTP messages.
//
//   // Server (HTTP/1.1): 101 with Sec-WebSocket-Accept
//   if (!is_valid_key(req.header("Sec-WebSocket-Key"))) return 400;
//   resp.set("Sec-WebSocket-Accept", accept_key(req.header("Sec-WebSocket-Key")));
//   DeflateParams params;
//   std::string answer;
//   if (negotiate_deflate(req.header("Sec-WebSocket-Extensions"), my_deflate_options, params, answer))
//     resp.set("Sec-WebSocket-Extensions", answer);
//
//   // Client
//   std::string key = make_key();   // random, base64 of 16 bytes
//   ... check response's Sec-WebSocket-Accept == accept_key(key)
//   auto params = accept_deflate_response(resp.header("Sec-WebSocket-Extensions"), my_deflate_options);
//
// Threading: plain functions; make_key() uses OpenSSL's RAND_bytes (thread-safe).
#pragma once

#include <khz/common/result.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace khz::protocol::websocket {

inline constexpr std::string_view kVersion = "13";

// Sec-WebSocket-Key: base64 of exactly 16 bytes (§4.1, item 7).
bool is_valid_key(std::string_view key) noexcept;
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) (§4.2.2, item 5.4).
std::string accept_key(std::string_view key);
// A fresh random key (client).
std::string make_key();

// Tokens of a comma-separated header value (Sec-WebSocket-Protocol, Connection, Upgrade),
// trimmed; empty elements dropped.
std::vector<std::string_view> split_tokens(std::string_view value);
// Whether the comma-separated `value` holds `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) noexcept;

// permessage-deflate as one side configures it. Window bits are 9-15 (zlib cannot make raw
// DEFLATE with an 8-bit window: an offer asking us to compress with 8 is declined).
struct DeflateOptions {
  bool server_no_context_takeover = false;  // the server resets its compressor after each message
  bool client_no_context_takeover = false;  // the client does
  int server_max_window_bits = 15;          // the server compresses with at most this window
  int client_max_window_bits = 15;          // the client does
};

// What one connection agreed on (RFC 7692 §7.1).
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
};

// Server: picks the first acceptable permessage-deflate offer of the client's
// Sec-WebSocket-Extensions value(s) (`offers`: every field line joined with ", "), under our
// `options`. True with `params` and the response's extension value in `answer`; false when there
// is no acceptable offer (malformed offers are declined, not failed: the connection then goes on
// uncompressed).
bool negotiate_deflate(std::string_view offers, const DeflateOptions& options, DeflateParams& params,
                       std::string& answer);

// Client: the offer for our `options`.
std::string deflate_offer(const DeflateOptions& options);
// Client: reads the server's Sec-WebSocket-Extensions answer. nullopt when the server declined
// (empty value); an error (errc::handshake_failed) when the answer names an extension we did not
// offer, is malformed, or asks for what we did not allow (§7.1: the client must fail then).
Result<std::optional<DeflateParams>> accept_deflate_response(std::string_view answer, const DeflateOptions& options);

}  // namespace khz::protocol::websocket
