// SPDX-License-Identifier: Apache-2.0
// The application/x-www-form-urlencoded codec, fed whole and split at every byte boundary
// (stable contiguous input, and separately stored pieces that are overwritten afterwards), with
// its limits exactly at and one past, and its storage rule (views when nothing is decoded).
#include <khz/protocol/form_error.h>
#include <khz/protocol/urlencoded.h>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using khz::protocol::form_errc;
using khz::protocol::FormField;
using khz::protocol::UrlencodedLimits;
using khz::protocol::UrlencodedParser;

namespace {

std::string show(const std::vector<FormField>& fields) {
  std::string out;
  for (const auto& f : fields) {
    if (!out.empty()) out += '|';
    out.append(f.name).append("=").append(f.value);
  }
  return out;
}

struct Outcome {
  std::error_code error;
  std::string fields;
};

// Feeds `pieces` (each a separate, non-stable buffer that is overwritten once fed) and finishes.
Outcome parse_pieces(const std::vector<std::string>& pieces, const UrlencodedLimits& limits) {
  khz::Arena arena;
  std::vector<FormField> fields;
  UrlencodedParser parser(fields, arena, limits);
  std::error_code ec;
  for (const auto& p : pieces) {
    auto copy = std::make_unique<std::string>(p);
    ec = parser.feed(*copy, false);
    copy->assign(copy->size(), '#');  // the parser must have copied what it keeps
    if (ec) break;
  }
  if (!ec) ec = parser.finish();
  return {ec, show(fields)};
}

// Parses `input` whole (stable), split in two at every byte boundary both ways (stable
// contiguous views; separate overwritten buffers), and one byte at a time; every run must
// give `want` (or fail with `error`).
void check_every_split(const std::string& input, const std::string& want, std::error_code error = {},
                       const UrlencodedLimits& limits = {}) {
  CAPTURE(input);
  {
    khz::Arena arena;
    std::vector<FormField> fields;
    auto ec = khz::protocol::parse_urlencoded(input, fields, arena, limits);
    REQUIRE(ec == error);
    if (!error) REQUIRE(show(fields) == want);
  }
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    CAPTURE(cut);
    khz::Arena arena;
    std::vector<FormField> fields;
    UrlencodedParser parser(fields, arena, limits);
    std::string_view all(input);
    auto ec = parser.feed(all.substr(0, cut), true);
    if (!ec) ec = parser.feed(all.substr(cut), true);
    if (!ec) ec = parser.finish();
    REQUIRE(ec == error);
    if (!error) REQUIRE(show(fields) == want);

    auto split = parse_pieces({input.substr(0, cut), input.substr(cut)}, limits);
    REQUIRE(split.error == error);
    if (!error) REQUIRE(split.fields == want);
  }
  std::vector<std::string> bytes;
  for (char c : input) bytes.emplace_back(1, c);
  auto one_by_one = parse_pieces(bytes, limits);
  REQUIRE(one_by_one.error == error);
  if (!error) REQUIRE(one_by_one.fields == want);
}

}  // namespace

TEST_CASE("urlencoded: decoding rules (WHATWG), at every split") {
  struct Case {
    std::string input;
    std::string want;
  };
  const Case cases[] = {
      {"", ""},
      {"a=1&b=2", "a=1|b=2"},
      {"a=1&a=2&b", "a=1|a=2|b="},  // repeated keys kept in order; no '=': empty value
      {"&&a=1&&&b=&", "a=1|b="},     // empty pieces skipped
      {"=v", "=v"},
      {"a=b=c", "a=b=c"},            // split at the first '='
      {"x+y=%41%42+c", "x y=AB c"},
      {"u=%C3%A9&v=%c3%a9", "u=é|v=é"},
      {"%2B=%26%3D", "+=&="},
      {"bad=%zz&pct=50%&end=%4&lone=%", "bad=%zz|pct=50%|end=%4|lone=%"},  // bad escapes kept
      {"sp=%20+%2b", "sp=  +"},
      {"nul=%00x", std::string("nul=") + std::string("\0x", 2)},
  };
  for (const auto& c : cases) check_every_split(c.input, c.want);
}

TEST_CASE("urlencoded: strict escapes make a bad escape an error") {
  UrlencodedLimits strict{.strict_escapes = true};
  check_every_split("ok=%41", "ok=A", {}, strict);
  for (std::string bad : {"a=%zz", "a=50%", "a=%4", "%g1=x", "a=1&b=%"}) {
    check_every_split(bad, "", form_errc::bad_escape, strict);
  }
}

TEST_CASE("urlencoded: limits exactly at and one past") {
  SECTION("fields (empty pieces do not count)") {
    check_every_split("a&b", "a=|b=", {}, {.max_fields = 2});
    check_every_split("a&&b&", "a=|b=", {}, {.max_fields = 2});
    check_every_split("a&b&c", "", form_errc::too_many_fields, {.max_fields = 2});
  }
  SECTION("name bytes, as sent") {
    check_every_split("abc=1", "abc=1", {}, {.max_key_bytes = 3});
    check_every_split("abcd=1", "", form_errc::key_too_large, {.max_key_bytes = 3});
    check_every_split("abcd", "", form_errc::key_too_large, {.max_key_bytes = 3});
    check_every_split("%41=1", "", form_errc::key_too_large, {.max_key_bytes = 2});  // 3 bytes sent
  }
  SECTION("value bytes, as sent") {
    check_every_split("k=abc&j=x", "k=abc|j=x", {}, {.max_value_bytes = 3});
    check_every_split("k=abcd&j=x", "", form_errc::value_too_large, {.max_value_bytes = 3});
    check_every_split("k=a=cd", "", form_errc::value_too_large, {.max_value_bytes = 3});
  }
  SECTION("body bytes") {
    check_every_split("a=1&b=2", "a=1|b=2", {}, {.max_body_bytes = 7});
    check_every_split("a=1&b=22", "", form_errc::body_too_large, {.max_body_bytes = 7});
  }
}

TEST_CASE("urlencoded: an oversized field is refused before it is buffered") {
  khz::Arena arena;
  std::vector<FormField> fields;
  UrlencodedParser parser(fields, arena, {.max_value_bytes = 10});
  REQUIRE(!parser.feed("k=0123456789", false));
  REQUIRE(parser.feed("x", false) == form_errc::value_too_large);  // no '&' needed
  REQUIRE(parser.feed("more", false) == form_errc::value_too_large);  // sticky
  REQUIRE(parser.finish() == form_errc::value_too_large);
}

TEST_CASE("urlencoded: views into stable input when nothing is decoded; the arena otherwise") {
  const std::string body = "plain=value&enc=a+b";
  khz::Arena arena;
  std::vector<FormField> fields;
  REQUIRE(!khz::protocol::parse_urlencoded(body, fields, arena));
  REQUIRE(fields.size() == 2);
  auto inside = [&](std::string_view v) { return v.data() >= body.data() && v.data() + v.size() <= body.data() + body.size(); };
  REQUIRE(inside(fields[0].name));
  REQUIRE(inside(fields[0].value));
  REQUIRE(inside(fields[1].name));
  REQUIRE(fields[1].value == "a b");
  REQUIRE(!inside(fields[1].value));
}

TEST_CASE("urlencoded_decode and urlencoded_decode_to") {
  khz::Arena arena;
  const std::string plain = "abc";
  REQUIRE(khz::protocol::urlencoded_decode(plain, arena).data() == plain.data());
  REQUIRE(khz::protocol::urlencoded_decode("J%C3%BCrgen+M", arena) == "Jürgen M");
  char out[16];
  REQUIRE(khz::protocol::urlencoded_decode_to("%41%4", out) == std::optional<std::size_t>(3));
  REQUIRE(std::string_view(out, 3) == "A%4");
  REQUIRE(!khz::protocol::urlencoded_decode_to("%41%4", out, true));
  REQUIRE(!khz::protocol::urlencoded_needs_decode("abc"));
  REQUIRE(khz::protocol::urlencoded_needs_decode("a+c"));
}
