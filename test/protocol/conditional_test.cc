// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/conditional.h>
#include <khz/protocol/accept_encoding.h>
#include <khz/protocol/mime.h>

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace khz::protocol;

namespace {

// Sun, 06 Nov 1994 08:49:37 GMT
constexpr std::int64_t kT = 784111777;

khz::HeaderMap headers(std::vector<std::pair<std::string, std::string>> fields) {
  khz::HeaderMap h;
  for (auto& [n, v] : fields) h.add(n, v);
  return h;
}

}  // namespace

TEST_CASE("HTTP-dates in all three forms", "[conditional]") {
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == kT);
  CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == kT);
  CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == kT);
  CHECK(format_http_date(kT) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  CHECK(parse_http_date(format_http_date(1700000000)) == 1700000000);
  for (const char* bad : {"", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 31 Feb 1994 08:49:37 GMT",
                          "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT"}) {
    INFO(bad);
    CHECK_FALSE(parse_http_date(bad).has_value());
  }
}

TEST_CASE("entity-tag comparison", "[conditional]") {
  CHECK(file_etag(0x10, 0x20) == "\"10-20\"");
  CHECK(file_etag(0x10, 0x20, "br") == "\"10-20-br\"");
  CHECK(etag_list_matches("\"a\"", "\"a\"", false));
  CHECK(etag_list_matches("\"x\", \"a\"", "\"a\"", false));
  CHECK(etag_list_matches("*", "\"a\"", false));
  CHECK_FALSE(etag_list_matches("W/\"a\"", "\"a\"", false));  // strong: weak never matches
  CHECK(etag_list_matches("W/\"a\"", "\"a\"", true));
  CHECK_FALSE(etag_list_matches("\"b\"", "\"a\"", true));
  CHECK_FALSE(etag_list_matches("\"a", "\"a\"", true));       // malformed
  CHECK(etag_list_matches("\"a,b\", \"c\"", "\"c\"", false));  // a comma inside a tag
}

TEST_CASE("preconditions in RFC 9110 §13.2.2 order", "[conditional]") {
  const std::string etag = "\"abc\"";
  const Validators v{etag, kT};
  const std::string before = format_http_date(kT - 10), same = format_http_date(kT), after = format_http_date(kT + 10);
  struct Case {
    const char* method;
    std::vector<std::pair<std::string, std::string>> fields;
    Precondition want;
  };
  const std::vector<Case> cases = {
      {"GET", {}, Precondition::proceed},
      {"GET", {{"If-None-Match", "\"abc\""}}, Precondition::not_modified},
      {"GET", {{"If-None-Match", "W/\"abc\""}}, Precondition::not_modified},
      {"HEAD", {{"If-None-Match", "*"}}, Precondition::not_modified},
      {"GET", {{"If-None-Match", "\"zzz\""}}, Precondition::proceed},
      {"POST", {{"If-None-Match", "\"abc\""}}, Precondition::failed},
      {"GET", {{"If-Modified-Since", same}}, Precondition::not_modified},
      {"GET", {{"If-Modified-Since", after}}, Precondition::not_modified},
      {"GET", {{"If-Modified-Since", before}}, Precondition::proceed},
      {"GET", {{"If-Modified-Since", "garbage"}}, Precondition::proceed},
      {"POST", {{"If-Modified-Since", same}}, Precondition::proceed},
      // If-None-Match wins over If-Modified-Since
      {"GET", {{"If-None-Match", "\"zzz\""}, {"If-Modified-Since", after}}, Precondition::proceed},
      {"GET", {{"If-Match", "\"abc\""}}, Precondition::proceed},
      {"GET", {{"If-Match", "*"}}, Precondition::proceed},
      {"GET", {{"If-Match", "\"zzz\""}}, Precondition::failed},
      {"GET", {{"If-Match", "W/\"abc\""}}, Precondition::failed},
      {"GET", {{"If-Unmodified-Since", before}}, Precondition::failed},
      {"GET", {{"If-Unmodified-Since", same}}, Precondition::proceed},
      {"GET", {{"If-Unmodified-Since", "garbage"}}, Precondition::proceed},
      // If-Match wins over If-Unmodified-Since
      {"GET", {{"If-Match", "\"abc\""}, {"If-Unmodified-Since", before}}, Precondition::proceed},
      // 412 before 304
      {"GET", {{"If-Match", "\"zzz\""}, {"If-None-Match", "\"abc\""}}, Precondition::failed},
  };
  for (const Case& c : cases) {
    auto h = headers(c.fields);
    INFO(c.method << " " << (c.fields.empty() ? "" : c.fields[0].first + ": " + c.fields[0].second));
    CHECK(evaluate_preconditions(c.method, h, v) == c.want);
  }
}

TEST_CASE("If-Range", "[conditional]") {
  const std::string etag = "\"abc\"";
  const Validators v{etag, kT};
  CHECK(range_applies("", v));
  CHECK(range_applies("\"abc\"", v));
  CHECK_FALSE(range_applies("\"abd\"", v));
  CHECK_FALSE(range_applies("W/\"abc\"", v));
  CHECK(range_applies(format_http_date(kT), v));
  CHECK_FALSE(range_applies(format_http_date(kT + 1), v));
  CHECK_FALSE(range_applies(format_http_date(kT - 1), v));
  CHECK_FALSE(range_applies("junk", v));
  const std::string weak = "W/\"abc\"";
  CHECK_FALSE(range_applies("\"abc\"", Validators{weak, kT}));
}

TEST_CASE("media types by extension", "[mime]") {
  CHECK(mime_type("index.html") == "text/html; charset=utf-8");
  CHECK(mime_type("/a/b/app.JS") == "text/javascript; charset=utf-8");
  CHECK(mime_type("x.png") == "image/png");
  CHECK(mime_type("x.woff2") == "font/woff2");
  CHECK(mime_type("x.wasm") == "application/wasm");
  CHECK(mime_type("README") == "application/octet-stream");
  CHECK(mime_type("dir.d/README") == "application/octet-stream");
  CHECK(mime_type("trailing.") == "application/octet-stream");
  CHECK(mime_type("x.unknownextension") == "application/octet-stream");
}

TEST_CASE("Accept-Encoding", "[accept_encoding]") {
  CHECK(accepts_coding("gzip, deflate, br", "br"));
  CHECK(accepts_coding("gzip, deflate, br", "gzip"));
  CHECK_FALSE(accepts_coding("gzip, deflate, br", "zstd"));
  CHECK(accepts_coding("BR;q=0.5", "br"));
  CHECK_FALSE(accepts_coding("br;q=0", "br"));
  CHECK_FALSE(accepts_coding("br;q=0.000", "br"));
  CHECK(accepts_coding("br;q=0.001", "br"));
  CHECK(accepts_coding("*", "zstd"));
  CHECK_FALSE(accepts_coding("*;q=0", "zstd"));
  CHECK_FALSE(accepts_coding("gzip;q=0, *", "gzip"));
  CHECK(accepts_coding("x-gzip", "gzip"));
  CHECK_FALSE(accepts_coding("", "gzip"));
  CHECK_FALSE(accepts_coding("identity", "gzip"));
}
