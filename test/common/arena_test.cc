// SPDX-License-Identifier: Apache-2.0
#include <khz/common/arena.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

TEST_CASE("Arena copies and concatenates") {
  khz::Arena a;
  auto v = a.copy("foo", "bar");
  REQUIRE(v == "foobar");
  REQUIRE(a.copy("").empty());
  auto* p = a.allocate(3);
  REQUIRE(reinterpret_cast<std::uintptr_t>(p) % 8 == 0);
  khz::Arena fresh;
  REQUIRE(fresh.allocate(0) != nullptr);  // a pointer even for nothing, as memcpy wants
}

TEST_CASE("Arena grows for large requests and keeps the largest block on reset") {
  khz::Arena a;
  std::string big(100000, 'z');
  auto v = a.copy(big);
  REQUIRE(v == big);
  a.copy("small");
  std::size_t reserved = a.bytes_reserved();
  a.reset();
  REQUIRE(a.bytes_reserved() <= reserved);
  REQUIRE(a.bytes_reserved() >= 100000);
  auto w = a.copy(big);
  REQUIRE(w == big);
  REQUIRE(a.bytes_reserved() <= reserved);
}

TEST_CASE("Arena: a moved arena's views stay valid; the source is empty and usable") {
  khz::Arena a;
  auto first = a.copy("first");
  std::string big(5000, 'b');  // past the first block: an older block and a new head
  auto second = a.copy(big);
  khz::Arena b(std::move(a));
  REQUIRE(first == "first");
  REQUIRE(second == big);
  REQUIRE(b.bytes_reserved() >= 1024 + 5000);
  REQUIRE(a.bytes_reserved() == 0);  // NOLINT(bugprone-use-after-move): moved-from is empty
  REQUIRE(a.copy("again") == "again");
  khz::Arena c;
  c.copy("c");
  c = std::move(b);  // c's own block is freed, b's blocks move
  REQUIRE(first == "first");
  REQUIRE(second == big);
  c.reset();  // one block kept: the largest
  REQUIRE(c.bytes_reserved() >= 5000);
  REQUIRE(c.bytes_reserved() < 1024 + 5000);
}
