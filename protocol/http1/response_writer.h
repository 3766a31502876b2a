// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: serialises HTTP/1.1 response heads and bodies into a LinkedBuffer.
#pragma once

#include <khz/common/linked_buffer.h>
#include <khz/protocol/request.h>
#include <khz/protocol/response.h>

#include <string_view>

#include "../common/http_date.h"

namespace khz::protocol::http1 {

// The Date value the heads carry (shared with HTTP/2: common/http_date.h).
using protocol::http_date;

struct HeadOptions {
  Version version;          // of the request: an HTTP/1.0 peer gets no chunked framing
  bool keep_alive;          // else "Connection: close"
  bool chunked;             // stream the body in chunks (no Content-Length)
  bool head_request;        // framing headers as for GET, no body
  std::string_view server;  // Server header value; empty: none
};

// Writes status line and headers, with Date, Server, framing and Connection as needed.
void write_head(LinkedBuffer& out, const Response& response, const HeadOptions& options);

// Writes a whole response: head plus body (none for HEAD, 1xx, 204, 304). A file body
// (Response::file_body) is not written: only its head (the server sends the file itself).
void write_response(LinkedBuffer& out, const Response& response, const HeadOptions& options);

// Writes one chunk ("<hex>\r\n<data>\r\n"); empty `data` writes nothing.
void write_chunk(LinkedBuffer& out, std::string_view data);
// Writes the last chunk, with `trailers` if any: "0\r\n" [fields] "\r\n".
void write_last_chunk(LinkedBuffer& out, const HeaderMap& trailers);

// A complete minimal error response (status, "Connection: close", short text body).
void write_error(LinkedBuffer& out, int status, std::string_view server);

}  // namespace khz::protocol::http1
