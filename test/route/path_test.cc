// SPDX-License-Identifier: Apache-2.0
#include <khz/route/path.h>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace {

using khz::route::clean_path;
using khz::route::percent_decode;
using khz::route::query_unescape;
using khz::route::query_unescape_to;

struct CleanCase {
  std::string_view in;
  std::string_view want;
};

// Cases ported from httprouter's and Hertz's CleanPath tests, plus extra edge cases.
constexpr CleanCase kCleanCases[] = {
    // Already clean
    {"", "/"},
    {"abc", "/abc"},
    {"abc/def", "/abc/def"},
    {"a/b/c", "/a/b/c"},
    {"/", "/"},
    {"../..", "/"},
    {"../../abc", "/abc"},
    {"/abc", "/abc"},
    {"/abc/", "/abc/"},
    {"/a/b/c/", "/a/b/c/"},
    // Remove doubled slash
    {"//", "/"},
    {"///", "/"},
    {"/abc//", "/abc/"},
    {"/abc/def//", "/abc/def/"},
    {"/a/b/c//", "/a/b/c/"},
    {"/abc//def//ghi", "/abc/def/ghi"},
    {"//abc", "/abc"},
    {"///abc", "/abc"},
    {"//abc//", "/abc/"},
    // Remove . elements
    {".", "/"},
    {"./", "/"},
    {"/.", "/"},
    {"/./", "/"},
    {"/abc/./def", "/abc/def"},
    {"/./abc/def", "/abc/def"},
    {"/abc/.", "/abc/"},
    {"/abc/./", "/abc/"},
    {"/Foo/Bar/./././go/src", "/Foo/Bar/go/src"},
    // Remove .. elements
    {"..", "/"},
    {"../", "/"},
    {"../../", "/"},
    {"/..", "/"},
    {"/../", "/"},
    {"/abc/def/ghi/../jkl", "/abc/def/jkl"},
    {"/abc/def/../ghi/../jkl", "/abc/jkl"},
    {"/abc/def/..", "/abc"},
    {"/abc/def/../", "/abc/"},
    {"/abc/def/../..", "/"},
    {"/abc/def/../../..", "/"},
    {"/abc/def/../../../ghi/jkl/../../../mno", "/mno"},
    {"../../..", "/"},
    {"/Foo/Bar/../go/src/../../github.com/cloudwego/hertz", "/Foo/github.com/cloudwego/hertz"},
    {"///////Foo//Bar////go//src/github.com/cloudwego/hertz//..",
     "/Foo/Bar/go/src/github.com/cloudwego"},
    // Dots that are names, not "." or ".."
    {"/../....", "/...."},
    {"/...", "/..."},
    {"/.a", "/.a"},
    {"/a.", "/a."},
    {"/..a/b", "/..a/b"},
    {"/a../b", "/a../b"},
    {"/a/.b/..", "/a"},
    // Combinations
    {"abc/./../def", "/def"},
    {"abc//./../def", "/def"},
    {"abc/../../././../def", "/def"},
    {"/a/b/../../c/./d//e/", "/c/d/e/"},
    // Long path and UTF-8 bytes pass through untouched
    {"/Foo/Bar/go/src/github.com/cloudwego/hertz/pkg/common/utils/path_test.go",
     "/Foo/Bar/go/src/github.com/cloudwego/hertz/pkg/common/utils/path_test.go"},
    {"/日本/./語/../文", "/日本/文"},
    {"/%2e%2e/a", "/%2e%2e/a"},  // no decoding
};

TEST_CASE("clean_path: table ported from httprouter and Hertz", "[route][path]") {
  for (const auto& c : kCleanCases) {
    INFO("clean_path(\"" << c.in << "\")");
    CHECK(clean_path(c.in) == c.want);
    INFO("clean_path is idempotent on \"" << c.want << "\"");
    CHECK(clean_path(c.want) == c.want);
  }
}

TEST_CASE("clean_path: long inputs", "[route][path]") {
  std::string in;
  std::string want;
  for (int i = 0; i < 500; ++i) {
    in += "//seg" + std::to_string(i) + "/./x/..";
    want += "/seg" + std::to_string(i);
  }
  CHECK(clean_path(in) == want);
  CHECK(clean_path(in + "/") == want + "/");
  CHECK(clean_path(std::string(300, '/')) == "/");
}

struct DecodeCase {
  std::string_view in;
  std::optional<std::string_view> want;
};

const DecodeCase kDecodeCases[] = {
    {"", ""},
    {"abc", "abc"},
    {"a%20b", "a b"},
    {"%2F", "/"},
    {"%2f", "/"},
    {"slash%2Fgordon", "slash/gordon"},
    {"Project%20%231", "Project #1"},
    {"a+b", "a+b"},  // '+' is literal in a path
    {"%41%42%43", "ABC"},
    {"%e6%97%a5%E6%9C%AC", "日本"},
    {"ünìcodé", "ünìcodé"},
    {"%25", "%"},
    {"%2525", "%25"},  // decoded once only
    {"100%25sure", "100%sure"},
    {"%00", std::string_view("\0", 1)},
    {"%ff", "\xff"},
    // Malformed escapes
    {"%", std::nullopt},
    {"%2", std::nullopt},
    {"a%", std::nullopt},
    {"a%4", std::nullopt},
    {"%zz", std::nullopt},
    {"%g0", std::nullopt},
    {"%0g", std::nullopt},
    {"%%", std::nullopt},
    {"slash%%%%", std::nullopt},
    {"%-1", std::nullopt},
    {"%20%", std::nullopt},
};

TEST_CASE("percent_decode: table", "[route][path]") {
  for (const auto& c : kDecodeCases) {
    INFO("percent_decode(\"" << c.in << "\")");
    const auto got = percent_decode(c.in);
    REQUIRE(got.has_value() == c.want.has_value());
    if (got) CHECK(*got == *c.want);
  }
}

TEST_CASE("percent_decode: every byte round-trips", "[route][path]") {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const std::string enc = {'%', kHex[b >> 4], kHex[b & 15]};
    const auto got = percent_decode(enc);
    REQUIRE(got.has_value());
    REQUIRE(got->size() == 1);
    CHECK(static_cast<unsigned char>((*got)[0]) == b);
  }
}

// Go's url.QueryUnescape, as Hertz applies it to parameter values: the percent_decode rows
// with '+' read as a space, and the same malformed escapes refused.
const DecodeCase kQueryUnescapeCases[] = {
    {"", ""},
    {"abc", "abc"},
    {"a+b", "a b"},
    {"+", " "},
    {"++a++", "  a  "},
    {"a%2Bb", "a+b"},  // an escaped '+' stays a '+'
    {"a%2Fb+c", "a/b c"},
    {"a%20b", "a b"},
    {"%2525", "%25"},
    {"%e6%97%a5+%E6%9C%AC", "日 本"},
    {"a+b%", std::nullopt},
    {"a+%zz", std::nullopt},
    {"%2", std::nullopt},
    {"%g0+", std::nullopt},
};

TEST_CASE("query_unescape: table", "[route][path]") {
  for (const auto& c : kQueryUnescapeCases) {
    INFO("query_unescape(\"" << c.in << "\")");
    const auto got = query_unescape(c.in);
    REQUIRE(got.has_value() == c.want.has_value());
    if (got) CHECK(*got == *c.want);
    // The caller-buffer form agrees, and writes no more than in.size() bytes.
    std::string out(c.in.size() + 1, '#');
    const auto n = query_unescape_to(c.in, out.data());
    REQUIRE(n.has_value() == c.want.has_value());
    CHECK(out.back() == '#');
    if (n) CHECK(std::string_view(out.data(), *n) == *c.want);
  }
  // A row without '+' decodes as percent_decode does.
  for (const auto& c : kDecodeCases) {
    if (c.in.find('+') != std::string_view::npos) continue;
    INFO("query_unescape(\"" << c.in << "\")");
    CHECK(query_unescape(c.in) == percent_decode(c.in));
  }
  CHECK(khz::route::needs_query_unescape("a+b"));
  CHECK(khz::route::needs_query_unescape("a%20"));
  CHECK_FALSE(khz::route::needs_query_unescape("plain-value_1.2~"));
}

}  // namespace
