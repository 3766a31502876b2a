// SPDX-License-Identifier: Apache-2.0
// has_value_control (common/field_value.h), the word-at-a-time check of a field value, against
// the byte-wise rule for every byte value at every position of values up to 40 bytes long; the
// log line for a left-out field, limited.
#include "common/field_value.h"

#include <khz/common/log.h>
#include <khz/common/log_sink.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <string>

using khz::protocol::has_value_control;
using khz::protocol::is_value_control;

namespace {
bool bytewise(const std::string& v) {
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("field value check: every byte at every position agrees with the byte-wise rule") {
  REQUIRE_FALSE(has_value_control(""));
  for (std::size_t len = 1; len <= 40; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string v(len, 'a');
        v[at] = static_cast<char>(b);
        INFO("length " << len << ", byte " << b << " at " << at);
        REQUIRE(has_value_control(v) == bytewise(v));
      }
    }
  }
}

TEST_CASE("field value check: HTAB, obs-text and DEL next to other bytes") {
  REQUIRE_FALSE(has_value_control("text/plain;\tcharset=utf-8"));       // HTAB in a word: looked at again, allowed
  REQUIRE_FALSE(has_value_control("\x80\xff\x80\xff\x80\xff\x80\xff\x80"));  // obs-text
  REQUIRE(has_value_control("abcdefg\x7f" "abcdefgh"));
  REQUIRE(has_value_control(std::string("abcdefgh\0", 9)));
  REQUIRE(has_value_control("abcdefghabcdefgh\r"));
  REQUIRE(has_value_control("\t\t\t\t\t\t\t\x1f"));
  REQUIRE_FALSE(has_value_control("\t\t\t\t\t\t\t\t\t"));
  // A byte 0x20 after a borrow (0x1f / 0x20 pairs) is not taken for a control.
  REQUIRE_FALSE(has_value_control("\x20\x21\x20\x21\x20\x21\x20\x21"));
  REQUIRE(is_value_control('\n'));
  REQUIRE_FALSE(is_value_control(' '));
}

TEST_CASE("field name check: every byte at every position agrees with the byte-wise rule") {
  using khz::protocol::has_name_fault;
  auto bytewise = [](const std::string& n) {
    if (n.empty()) return true;
    for (char c : n) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x21 || u == ':' || u >= 0x7f) return true;
    }
    return false;
  };
  REQUIRE(has_name_fault(""));
  for (std::size_t len = 1; len <= 24; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string n(len, 'a');
        n[at] = static_cast<char>(b);
        INFO("length " << len << ", byte " << b << " at " << at);
        REQUIRE(has_name_fault(n) == bytewise(n));
      }
    }
  }
}

TEST_CASE("sendable fields: a name that cannot break its line, a value without control bytes") {
  using khz::protocol::is_sendable_field;
  CHECK(is_sendable_field("X-Echo", "a b\tc \x80\xff"));
  CHECK(is_sendable_field("!#$%&'*+-.^_`|~09azAZ", ""));
  for (const std::string& value : {std::string("a\r\nSet-Cookie: x=1"), std::string("a\nb"), std::string("a\rb"),
                                   std::string("a\0b", 3), std::string("a\x7f"), std::string("\x1b[31m")}) {
    CAPTURE(value);
    CHECK_FALSE(is_sendable_field("X-Echo", value));
  }
  for (std::string_view name : {"", "X Echo", "X-Echo:", "X-Echo\r\nSet-Cookie", "X\tY", "X\x80", "X\x7f"}) {
    CAPTURE(name);
    CHECK_FALSE(is_sendable_field(name, "v"));
  }
}

TEST_CASE("field value check: the left-out field's log line is limited (10 in 10 s)") {
  std::atomic<int> lines{0};
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
  const auto id = khz::log::add_sink(khz::log::callback_sink([&](const khz::log::Record& r) {
    if (r.message.find("not sent") != std::string_view::npos) lines.fetch_add(1);
  }));
  for (int i = 0; i < 25; ++i) khz::protocol::log_unsendable_field("test", "X-Bad\r\n");
  khz::log::remove_sink(id);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
  // Other cases in this binary may have taken some of the window's lines already.
  REQUIRE(lines.load() <= 10);
}
