// SPDX-License-Identifier: Apache-2.0
#include <khz/common/exception_text.h>

#include <catch2/catch.hpp>

#include <stdexcept>

TEST_CASE("exception_text says what a caught exception says") {
  CHECK(khz::exception_text(std::make_exception_ptr(std::runtime_error("disk full"))) == "disk full");
  CHECK(khz::exception_text(std::make_exception_ptr(42)) == "a non-standard exception");
  CHECK(khz::exception_text(nullptr).empty());
}
