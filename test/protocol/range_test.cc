// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/range.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using khz::protocol::ByteRange;
using khz::protocol::parse_range;
using khz::protocol::RangeStatus;

TEST_CASE("parse_range reads RFC 9110 range sets", "[range]") {
  struct Case {
    std::string value;
    std::uint64_t size;
    RangeStatus status;
    std::vector<ByteRange> ranges;
  };
  const std::vector<Case> cases = {
      {"bytes=0-499", 10000, RangeStatus::satisfiable, {{0, 499}}},
      {"bytes=500-999", 10000, RangeStatus::satisfiable, {{500, 999}}},
      {"bytes=-500", 10000, RangeStatus::satisfiable, {{9500, 9999}}},
      {"bytes=9500-", 10000, RangeStatus::satisfiable, {{9500, 9999}}},
      {"bytes=0-0,-1", 10000, RangeStatus::satisfiable, {{0, 0}, {9999, 9999}}},
      {"BYTES = 0-0 , , 5-9", 10000, RangeStatus::satisfiable, {{0, 0}, {5, 9}}},
      {"bytes=0-99999", 100, RangeStatus::satisfiable, {{0, 99}}},   // clipped
      {"bytes=-1000", 100, RangeStatus::satisfiable, {{0, 99}}},     // whole
      {"bytes=100-", 100, RangeStatus::unsatisfiable, {}},
      {"bytes=100-200", 100, RangeStatus::unsatisfiable, {}},
      {"bytes=-0", 100, RangeStatus::unsatisfiable, {}},
      {"bytes=0-", 0, RangeStatus::unsatisfiable, {}},
      {"bytes=-5", 0, RangeStatus::unsatisfiable, {}},
      {"bytes=200-300, 0-9", 100, RangeStatus::satisfiable, {{0, 9}}},  // the unsatisfiable one dropped
      // overlapping or touching: merged, sorted
      {"bytes=0-10,5-20", 100, RangeStatus::satisfiable, {{0, 20}}},
      {"bytes=50-60,0-9,10-19", 100, RangeStatus::satisfiable, {{0, 19}, {50, 60}}},
      // kept in the order asked when disjoint
      {"bytes=50-60,0-9", 100, RangeStatus::satisfiable, {{50, 60}, {0, 9}}},
      // ignored: syntax errors, other units, nothing
      {"", 100, RangeStatus::none, {}},
      {"bytes=", 100, RangeStatus::none, {}},
      {"bytes=,", 100, RangeStatus::none, {}},
      {"items=0-1", 100, RangeStatus::none, {}},
      {"bytes 0-1", 100, RangeStatus::none, {}},
      {"bytes=5-1", 100, RangeStatus::none, {}},
      {"bytes=a-1", 100, RangeStatus::none, {}},
      {"bytes=1-b", 100, RangeStatus::none, {}},
      {"bytes=1", 100, RangeStatus::none, {}},
      {"bytes=--1", 100, RangeStatus::none, {}},
      {"bytes=+1-2", 100, RangeStatus::none, {}},
      {"bytes=0-1,x", 100, RangeStatus::none, {}},
      {"bytes=99999999999999999999-", 100, RangeStatus::none, {}},
      {"bytes=9223372036854775808-", 100, RangeStatus::none, {}},
      {"bytes=9223372036854775807-", 100, RangeStatus::unsatisfiable, {}},
  };
  for (const Case& c : cases) {
    INFO(c.value << " of " << c.size);
    auto set = parse_range(c.value, c.size, 8);
    CHECK(set.status == c.status);
    CHECK(set.ranges == c.ranges);
  }
}

TEST_CASE("parse_range ignores more ranges than the limit", "[range]") {
  std::string many = "bytes=";
  for (int i = 0; i < 10; ++i) many += std::to_string(i * 10) + "-" + std::to_string(i * 10 + 1) + ",";
  CHECK(parse_range(many, 1000, 10).status == RangeStatus::satisfiable);
  CHECK(parse_range(many, 1000, 9).status == RangeStatus::none);
  CHECK(parse_range("bytes=0-1", 1000, 0).status == RangeStatus::none);  // 0: ranges off
  // Overlapping ranges merge before the limit counts them: 1000 copies of one range are one.
  std::string same = "bytes=";
  for (int i = 0; i < 1000; ++i) same += "0-99,";
  CHECK(parse_range(same, 1000, 4).status == RangeStatus::none);  // too many to read at all
  std::string few = "bytes=0-99,0-99,0-99";
  auto set = parse_range(few, 1000, 1);
  REQUIRE(set.status == RangeStatus::satisfiable);
  CHECK(set.ranges == std::vector<ByteRange>{{0, 99}});
}

TEST_CASE("Content-Range values and multipart/byteranges framing", "[range]") {
  CHECK(khz::protocol::content_range({0, 99}, 1000) == "bytes 0-99/1000");
  CHECK(khz::protocol::unsatisfied_content_range(1000) == "bytes */1000");
  auto f = khz::protocol::byteranges_framing({{0, 1}, {5, 6}}, 10, "text/plain", "XYZ");
  REQUIRE(f.part_heads.size() == 2);
  CHECK(f.part_heads[0] == "--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n");
  CHECK(f.part_heads[1] == "\r\n--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-6/10\r\n\r\n");
  CHECK(f.closing == "\r\n--XYZ--\r\n");
}
