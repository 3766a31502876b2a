// SPDX-License-Identifier: Apache-2.0
// The header-field rules shared by the codecs (protocol/common/header_rules.h), as a table.
#include "common/header_rules.h"

#include <catch2/catch.hpp>

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
