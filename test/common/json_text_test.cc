// SPDX-License-Identifier: Apache-2.0
#include <khz/common/json_text.h>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

namespace {
std::string json(std::string_view s) {
  std::string out = "x";  // appends: what was there stays
  khz::append_json_string(out, s);
  return out;
}
}  // namespace

TEST_CASE("append_json_string writes valid JSON in valid UTF-8 whatever the bytes") {
  CHECK(json("GET /users/:id") == "x\"GET /users/:id\"");
  CHECK(json("") == "x\"\"");
  CHECK(json("a\"b\\c") == "x\"a\\\"b\\\\c\"");
  CHECK(json("l1\nl2\r\t") == "x\"l1\\nl2\\r\\t\"");
  CHECK(json(std::string_view("\x01\x7f", 2)) == "x\"\\u0001\\u007f\"");
  CHECK(json("caf\xC3\xA9 \xE2\x82\xAC") == "x\"caf\xC3\xA9 \xE2\x82\xAC\"");      // UTF-8 kept
  CHECK(json("a\xFF" "b") == "x\"a\xEF\xBF\xBD" "b\"");                               // not UTF-8
  CHECK(json("\xC0\xAF") == "x\"\xEF\xBF\xBD\xEF\xBF\xBD\"");                        // overlong
  CHECK(json("\xED\xA0\x80") == "x\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");        // surrogate
  CHECK(json("\xE2\x82") == "x\"\xEF\xBF\xBD\xEF\xBF\xBD\"");                         // cut short
}
