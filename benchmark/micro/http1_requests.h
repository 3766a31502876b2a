// SPDX-License-Identifier: Apache-2.0
// The requests the HTTP/1.1 parser micro benchmarks parse, and the limits they parse with.
#pragma once

#include "http1/request_parser.h"

#include <string>

namespace khz::bench {

inline constexpr khz::protocol::http1::ParserLimits kLimits{8192, 65536, 1 << 20};

inline const std::string kSmall = "GET /plaintext HTTP/1.1\r\nHost: server\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n";
inline const std::string kBrowser =
    "GET /repos/cloudwego/hertz/issues?state=open&page=2 HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; lang=en\r\n"
    "Referer: https://example.com/cloudwego/hertz\r\n"
    "Connection: keep-alive\r\n\r\n";
inline const std::string kPost =
    "POST /api/v1/users HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: 46\r\n\r\n"
    "{\"name\":\"ann\",\"email\":\"ann@example.com\",\"x\":1}";

}  // namespace khz::bench
