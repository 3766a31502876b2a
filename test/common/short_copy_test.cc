// SPDX-License-Identifier: Apache-2.0
#include <khz/common/short_copy.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

TEST_CASE("copy_short copies exactly n bytes at every length, touching nothing around them") {
  for (std::size_t n = 0; n <= 70; ++n) {
    // The source sits between bytes that must not be read into the copy, the target between
    // guards that must stay as they are.
    std::string source(n + 16, '#');
    for (std::size_t i = 0; i < n; ++i) source[8 + i] = static_cast<char>('a' + (i * 7) % 26);
    std::vector<char> target(n + 16, '=');
    char* end = khz::copy_short(target.data() + 8, source.data() + 8, n);
    INFO("n = " << n);
    REQUIRE(end == target.data() + 8 + n);
    REQUIRE(std::string(target.data() + 8, n) == source.substr(8, n));
    REQUIRE(std::string(target.data(), 8) == "========");
    REQUIRE(std::string(target.data() + 8 + n, 8) == "========");
  }
  CHECK(khz::copy_short(nullptr, nullptr, 0) == nullptr);
}
