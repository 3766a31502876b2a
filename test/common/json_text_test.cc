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

TEST_CASE("is_plain_json_text finds a byte to escape wherever it sits, word by word or in the tail") {
  // Every byte value at every position of texts 1 to 19 bytes long: a whole 8-byte word, two,
  // and tails of each length.
  for (std::size_t size = 1; size < 20; ++size) {
    for (std::size_t at = 0; at < size; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string s(size, 'a');
        s[at] = static_cast<char>(b);
        const bool plain = b >= 0x20 && b < 0x7f && b != '"' && b != '\\';
        INFO("size " << size << ", byte " << b << " at " << at);
        REQUIRE(khz::is_plain_json_text(s) == plain);
      }
    }
  }
  CHECK(khz::is_plain_json_text(""));
  CHECK(khz::is_plain_json_text("0123456789abcdef/:id?x=1&y=~!"));
}

TEST_CASE("write_json_string writes what append_json_string appends, within json_string_max_size") {
  for (std::string_view s : {std::string_view(), std::string_view("plain /route"), std::string_view("q\"\\\n\x01\x7f", 6),
                             std::string_view("\xFF\xFE\xFD"), std::string_view("caf\xC3\xA9")}) {
    std::string buffer(khz::json_string_max_size(s.size()), '\0');
    const char* end = khz::write_json_string(buffer.data(), s);
    REQUIRE(end <= buffer.data() + buffer.size());
    std::string appended;
    khz::append_json_string(appended, s);
    CHECK(std::string_view(buffer.data(), static_cast<std::size_t>(end - buffer.data())) == appended);
  }
}

TEST_CASE("write_json_string escapes any byte wherever it sits: in a 16-byte block, a word, the overlapping last word or the tail") {
  // Each byte value at each position of texts 1 to 40 bytes long, against the escape spelled
  // out here: the one-pass copy of plain words must hand over to escaping at the right byte.
  const auto escaped = [](int b) -> std::string {
    switch (b) {
      case '"': return "\\\"";
      case '\\': return "\\\\";
      case '\n': return "\\n";
      case '\r': return "\\r";
      case '\t': return "\\t";
      default: break;
    }
    if (b < 0x20 || b == 0x7f) {
      constexpr char hex[] = "0123456789abcdef";
      return std::string("\\u00") + hex[b >> 4] + hex[b & 15];
    }
    if (b >= 0x80) return "\xEF\xBF\xBD";  // a lone byte above ASCII is not UTF-8
    return std::string(1, static_cast<char>(b));
  };
  for (std::size_t size = 1; size < 41; ++size) {
    for (std::size_t at = 0; at < size; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string s(size, 'a');
        s[at] = static_cast<char>(b);
        std::string buffer(khz::json_string_max_size(size), '\0');
        const char* end = khz::write_json_string(buffer.data(), s);
        INFO("size " << size << ", byte " << b << " at " << at);
        REQUIRE(end <= buffer.data() + buffer.size());
        const std::string want = "\"" + std::string(at, 'a') + escaped(b) + std::string(size - at - 1, 'a') + "\"";
        REQUIRE(std::string_view(buffer.data(), static_cast<std::size_t>(end - buffer.data())) == want);
      }
    }
  }
}
