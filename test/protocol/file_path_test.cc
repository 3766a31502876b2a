// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/file_path.h>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

using khz::protocol::path_within;
using khz::protocol::relative_file_path;

TEST_CASE("relative_file_path cleans what stays inside", "[file_path]") {
  struct Case {
    std::string in;
    std::string out;
  };
  const std::vector<Case> ok = {
      {"", ""},
      {"/", ""},
      {"/a.txt", "a.txt"},
      {"a.txt", "a.txt"},
      {"//a///b//", "a/b"},
      {"/./a/./b/.", "a/b"},
      {"/a b/c%20d", "a b/c%20d"},       // an escape of an ordinary byte is a name as it is
      {"/...", "..."},                    // three dots: a name
      {"/..a/b..", "..a/b.."},
      {"/.hidden", ".hidden"},
      {"/caf\xc3\xa9.txt", "caf\xc3\xa9.txt"},
      {"/100%", "100%"},                  // a bare '%'
      {"/%zz", "%zz"},
  };
  for (const Case& c : ok) {
    INFO(c.in);
    auto r = relative_file_path(c.in);
    REQUIRE(r.has_value());
    CHECK(*r == c.out);
  }
}

TEST_CASE("relative_file_path refuses every way out", "[file_path]") {
  const std::vector<std::string> refused = {
      "/..",
      "/../etc/passwd",
      "/a/../../etc/passwd",
      "/a/..",
      "..",
      "/%2e%2e/etc/passwd",      // double encoded ".." (the router decoded %252e once)
      "/%2E%2E/etc/passwd",
      "/.%2e/x",
      "/a%2f..%2f..%2fetc",      // double encoded '/'
      "/a%2F..",
      "/..%5c..%5cetc",          // double encoded backslash
      "/..\\..\\etc\\passwd",    // backslashes
      "/a\\b",
      std::string("/a\0b", 4),   // NUL
      "/a%00b",
      "/a\nb",
      "/a\x7f",
      "/a%0a",
      "/" + std::string(256, 'x'),
      std::string(4097, 'a'),
  };
  for (const std::string& p : refused) {
    INFO(p);
    CHECK_FALSE(relative_file_path(p).has_value());
  }
  CHECK(relative_file_path("/" + std::string(255, 'x')).has_value());
}

TEST_CASE("path_within compares whole segments", "[file_path]") {
  CHECK(path_within("/srv/www", "/srv/www"));
  CHECK(path_within("/srv/www/a/b", "/srv/www"));
  CHECK_FALSE(path_within("/srv/www2", "/srv/www"));
  CHECK_FALSE(path_within("/srv", "/srv/www"));
  CHECK_FALSE(path_within("/etc/passwd", "/srv/www"));
  CHECK(path_within("/etc/passwd", "/"));
}
