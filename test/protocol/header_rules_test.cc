// SPDX-License-Identifier: Apache-2.0
// The header-field rules shared by the codecs (protocol/common/header_rules.h), as a table.
#include "common/header_rules.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

using khz::protocol::is_connection_specific_header;

TEST_CASE("header rules: connection-specific fields (RFC 9113 §8.2.2)") {
  struct Row {
    const char* name;
    const char* value;
    bool connection_specific;
  };
  const Row rows[] = {
      {"connection", "keep-alive", true},
      {"Connection", "close", true},
      {"keep-alive", "timeout=5", true},
      {"Keep-Alive", "", true},
      {"proxy-connection", "keep-alive", true},
      {"PROXY-CONNECTION", "close", true},
      {"transfer-encoding", "chunked", true},
      {"Transfer-Encoding", "gzip, chunked", true},
      {"upgrade", "h2c", true},
      {"Upgrade", "websocket", true},
      // TE: only "trailers" may cross into HTTP/2.
      {"te", "trailers", false},
      {"TE", "Trailers", false},
      {"te", "gzip", true},
      {"te", "trailers, deflate", true},
      {"te", "", true},
      // End-to-end fields, and those a codec sets itself (its own concern, not this rule's).
      {"host", "example.com", false},
      {"content-length", "5", false},
      {"date", "Thu, 01 Jan 1970 00:00:00 GMT", false},
      {"server", "khz", false},
      {"content-type", "text/plain", false},
      {"connectionx", "", false},
      {"upgrade-insecure-requests", "1", false},
      {"http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA", false},
      {"", "", false},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name, row.value);
    CHECK(is_connection_specific_header(row.name, row.value) == row.connection_specific);
  }
}

TEST_CASE("header rules: known names get their lower-case literal in any case, others nothing") {
  using khz::protocol::known_lower_case_name;
  const char* known[] = {"via", "age", "vary", "etag", "link", "expires", "location", "set-cookie", "content-type",
                         "x-request-id", "cache-control", "last-modified", "accept-ranges", "content-range",
                         "x-frame-options", "content-encoding", "www-authenticate", "content-language",
                         "content-disposition", "x-content-type-options", "content-security-policy",
                         "strict-transport-security", "access-control-allow-origin"};
  for (std::string_view lower : known) {
    CAPTURE(lower);
    CHECK(known_lower_case_name(lower) == lower);
    std::string upper(lower), mixed(lower);
    for (std::size_t i = 0; i < upper.size(); ++i) {
      upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
      if (i == 0 || mixed[i - 1] == '-') mixed[i] = upper[i];
    }
    CHECK(known_lower_case_name(upper) == lower);
    CHECK(known_lower_case_name(mixed) == lower);
    // The literal is a lower-case spelling, whatever the caller passed.
    CHECK(std::none_of(lower.begin(), lower.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    // One byte off, or a byte 0x20 off that is not a letter's case: not the name.
    for (std::size_t i = 0; i < lower.size(); ++i) {
      std::string off(lower);
      off[i] = off[i] == '-' ? '\r' : static_cast<char>(off[i] + 1);
      CHECK(known_lower_case_name(off).empty());
    }
    std::string shorter(lower.substr(0, lower.size() - 1)), longer = std::string(lower) + "s";
    CHECK(known_lower_case_name(shorter).empty());
    CHECK(known_lower_case_name(longer).empty());
  }
  for (std::string_view other : {"", "X-Custom", "Content-Typ", "Server", "Date", "X-Request-Ids", "Cookie"}) {
    CAPTURE(other);
    CHECK(known_lower_case_name(other).empty());
  }
}
