// SPDX-License-Identifier: Apache-2.0
// The cookie codec (protocol/cookie.cc), as tables: Cookie header pairs, Set-Cookie
// serialisation and every validation rule, Set-Cookie parsing (RFC 6265bis §5.6) and cookie
// dates (§5.1.1) in their usual and odd forms.
#include <khz/protocol/cookie.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using khz::Cookie;
using khz::CookiePair;
using khz::SameSite;
using khz::protocol::cookie_errc;
using Clock = std::chrono::system_clock;

namespace {

// "name=value|name=value" for comparing pair lists in a table.
std::string joined(const std::vector<CookiePair>& pairs) {
  std::string out;
  for (const auto& p : pairs) {
    if (!out.empty()) out += "|";
    out.append(p.name).append("=").append(p.value);
  }
  return out;
}

Clock::time_point utc(int y, unsigned m, unsigned d, int hh, int mm, int ss) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss};
}

}  // namespace

TEST_CASE("cookie: Cookie header pairs") {
  struct Row {
    const char* header;
    const char* pairs;
  };
  const Row rows[] = {
      {"a=1", "a=1"},
      {"a=1; b=2", "a=1|b=2"},
      {"a=1;b=2", "a=1|b=2"},
      {"  a = 1 ;\tb=2\t", "a=1|b=2"},
      {"a=1; a=2", "a=1|a=2"},                      // both kept, in order (cookie() takes the first)
      {"a=\"quoted value\"", "a=quoted value"},     // one pair of DQUOTEs stripped
      {"a=\"\"", "a="},
      {"a=\"", "a=\""},                              // a lone DQUOTE stays
      {"a=x=y", "a=x=y"},                            // split at the first '='
      {"a=", "a="},
      {"nameless", "=nameless"},                     // no '=': a nameless cookie (RFC 6265bis)
      {"=v", "=v"},
      {"", ""},
      {";;; ;", ""},
      {"=", ""},
      {"a=1;;b=2;", "a=1|b=2"},
      {"a=\xff\x01;b=\x7f", "a=\xff\x01|b=\x7f"},    // bytes kept as sent: lenient, never fails
  };
  for (const Row& row : rows) {
    CAPTURE(row.header);
    std::vector<CookiePair> out;
    khz::parse_cookie_header(row.header, out);
    CHECK(joined(out) == row.pairs);
  }

  SECTION("appends to what is there (several Cookie fields)") {
    std::vector<CookiePair> out;
    khz::parse_cookie_header("a=1", out);
    khz::parse_cookie_header("b=2", out);
    CHECK(joined(out) == "a=1|b=2");
  }
  SECTION("views point into the header") {
    std::string header = "sid=abc";
    std::vector<CookiePair> out;
    khz::parse_cookie_header(header, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].value.data() == header.data() + 4);
  }
}

TEST_CASE("cookie: serialize") {
  struct Row {
    Cookie cookie;
    const char* expected;
  };
  const Row rows[] = {
      {{.name = "a", .value = "1"}, "a=1"},
      {{.name = "a", .value = ""}, "a="},
      {{.name = "a", .value = "\"x\""}, "a=\"x\""},
      {{.name = "sid", .value = "abc", .path = "/"}, "sid=abc; Path=/"},
      {{.name = "sid", .value = "abc", .domain = "example.com", .path = "/app"},
       "sid=abc; Path=/app; Domain=example.com"},
      {{.name = "a", .value = "1", .expires = utc(1994, 11, 6, 8, 49, 37)},
       "a=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT"},
      {{.name = "a", .value = "1", .max_age = 3600s}, "a=1; Max-Age=3600"},
      {{.name = "a", .value = "1", .max_age = 0s}, "a=1; Max-Age=0"},
      {{.name = "a", .value = "1", .max_age = -5s}, "a=1; Max-Age=0"},
      {{.name = "a", .value = "1", .secure = true, .http_only = true}, "a=1; Secure; HttpOnly"},
      {{.name = "a", .value = "1", .same_site = SameSite::lax}, "a=1; SameSite=Lax"},
      {{.name = "a", .value = "1", .same_site = SameSite::strict}, "a=1; SameSite=Strict"},
      {{.name = "a", .value = "1", .secure = true, .same_site = SameSite::none}, "a=1; Secure; SameSite=None"},
      {{.name = "a", .value = "1", .secure = true, .partitioned = true}, "a=1; Secure; Partitioned"},
      {{.name = "__Secure-id", .value = "1", .secure = true}, "__Secure-id=1; Secure"},
      {{.name = "__Host-id", .value = "1", .path = "/", .secure = true}, "__Host-id=1; Path=/; Secure"},
      {{.name = "all",
        .value = "v",
        .domain = "a.example",
        .path = "/p",
        .expires = utc(2030, 1, 2, 3, 4, 5),
        .max_age = 60s,
        .secure = true,
        .http_only = true,
        .same_site = SameSite::none,
        .partitioned = true},
       "all=v; Path=/p; Domain=a.example; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Max-Age=60; Secure; HttpOnly; "
       "SameSite=None; Partitioned"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.expected);
    auto s = row.cookie.serialize();
    REQUIRE(s.ok());
    CHECK(*s == row.expected);
  }
}

TEST_CASE("cookie: validation refuses what must not be sent") {
  struct Row {
    const char* what;
    Cookie cookie;
    cookie_errc error;
  };
  const std::string big(4097, 'v');
  const Row rows[] = {
      {"empty name", {.name = "", .value = "1"}, cookie_errc::invalid_name},
      {"space in name", {.name = "a b", .value = "1"}, cookie_errc::invalid_name},
      {"'=' in name", {.name = "a=b", .value = "1"}, cookie_errc::invalid_name},
      {"';' in name", {.name = "a;", .value = "1"}, cookie_errc::invalid_name},
      {"separator in name", {.name = "a(b)", .value = "1"}, cookie_errc::invalid_name},
      {"CTL in name", {.name = "a\nb", .value = "1"}, cookie_errc::invalid_name},
      {"non-ASCII name", {.name = "caf\xc3\xa9", .value = "1"}, cookie_errc::invalid_name},
      {"space in value", {.name = "a", .value = "x y"}, cookie_errc::invalid_value},
      {"';' in value", {.name = "a", .value = "x;Domain=evil"}, cookie_errc::invalid_value},
      {"',' in value", {.name = "a", .value = "x,y"}, cookie_errc::invalid_value},
      {"backslash in value", {.name = "a", .value = "x\\y"}, cookie_errc::invalid_value},
      {"inner DQUOTE", {.name = "a", .value = "x\"y"}, cookie_errc::invalid_value},
      {"lone DQUOTE", {.name = "a", .value = "\""}, cookie_errc::invalid_value},
      {"space inside DQUOTEs", {.name = "a", .value = "\"x y\""}, cookie_errc::invalid_value},
      {"CR LF in value", {.name = "a", .value = "x\r\nSet-Cookie: b=2"}, cookie_errc::invalid_value},
      {"DEL in value", {.name = "a", .value = "x\x7f"}, cookie_errc::invalid_value},
      {"non-ASCII value", {.name = "a", .value = "\xc3\xa9"}, cookie_errc::invalid_value},
      {"name + value over 4096", {.name = "a", .value = big}, cookie_errc::too_large},
      {"path over 1024", {.name = "a", .value = "1", .path = "/" + std::string(1024, 'p')}, cookie_errc::too_large},
      {"';' in path", {.name = "a", .value = "1", .path = "/x; Secure"}, cookie_errc::invalid_path},
      {"CTL in path", {.name = "a", .value = "1", .path = "/x\ty"}, cookie_errc::invalid_path},
      {"non-ASCII path", {.name = "a", .value = "1", .path = "/\xc3\xa9"}, cookie_errc::invalid_path},
      {"';' in domain", {.name = "a", .value = "1", .domain = "a.com;x"}, cookie_errc::invalid_domain},
      {"space in domain", {.name = "a", .value = "1", .domain = "a .com"}, cookie_errc::invalid_domain},
      {"only a dot", {.name = "a", .value = "1", .domain = "."}, cookie_errc::invalid_domain},
      {"SameSite=None without Secure", {.name = "a", .value = "1", .same_site = SameSite::none},
       cookie_errc::same_site_none_insecure},
      {"Partitioned without Secure", {.name = "a", .value = "1", .partitioned = true}, cookie_errc::partitioned_insecure},
      {"__Secure- without Secure", {.name = "__Secure-id", .value = "1"}, cookie_errc::secure_prefix},
      {"__secure- (any case) without Secure", {.name = "__secure-id", .value = "1"}, cookie_errc::secure_prefix},
      {"__Host- without Secure", {.name = "__Host-id", .value = "1", .path = "/"}, cookie_errc::host_prefix},
      {"__Host- with a Domain", {.name = "__Host-id", .value = "1", .domain = "a.com", .path = "/", .secure = true},
       cookie_errc::host_prefix},
      {"__Host- without Path", {.name = "__Host-id", .value = "1", .secure = true}, cookie_errc::host_prefix},
      {"__Host- with Path=/x", {.name = "__Host-id", .value = "1", .path = "/x", .secure = true},
       cookie_errc::host_prefix},
      {"__HOST- (any case)", {.name = "__HOST-id", .value = "1", .path = "/"}, cookie_errc::host_prefix},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    CHECK(row.cookie.validate() == row.error);
    std::string out = "kept";
    CHECK(row.cookie.serialize_to(out) == row.error);
    CHECK(out == "kept");  // untouched on error
    CHECK_FALSE(row.cookie.serialize().ok());
  }

  SECTION("the limits themselves are fine") {
    Cookie c{.name = "a", .value = std::string(4095, 'v'), .domain = ".example.com", .path = "/" + std::string(1023, 'p')};
    CHECK_FALSE(c.validate());
    CHECK_FALSE(Cookie{.name = "!#$%&'*+-.^_`|~09azAZ", .value = "!#$%&'()*+-./:<=>?@[]^_`{|}~"}.validate());
  }
  SECTION("messages say what is wrong") {
    CHECK(std::error_code(cookie_errc::same_site_none_insecure).message() == "SameSite=None requires Secure");
    CHECK(std::error_code(cookie_errc::invalid_name).category().name() == std::string("khz.cookie"));
  }
}

TEST_CASE("cookie: cookie dates (RFC 6265bis §5.1.1)") {
  struct Row {
    const char* text;
    std::optional<Clock::time_point> expected;
  };
  const auto t = utc(1994, 11, 6, 8, 49, 37);
  const Row rows[] = {
      {"Sun, 06 Nov 1994 08:49:37 GMT", t},         // IMF-fixdate
      {"Sunday, 06-Nov-94 08:49:37 GMT", t},        // RFC 850
      {"Sun Nov  6 08:49:37 1994", t},              // asctime
      {"Sun, 06-Nov-1994 08:49:37 GMT", t},         // Netscape's
      {"06 Nov 1994 08:49:37", t},                  // no weekday, no zone
      {"Nov 6 1994 8:49:37", t},                    // one-digit fields
      {"sun, 06 NOV 1994 08:49:37 gmt", t},         // case
      {"Sun, 06 November 1994 08:49:37 GMT", t},    // a month's first three letters count
      {"   ,Sun,,06 Nov 1994 08:49:37 GMT;;", t},   // delimiters anywhere
      {"Thu, 01 Jan 1970 00:00:00 GMT", Clock::time_point{}},
      {"Wed, 02 Jan 30 03:04:05 GMT", utc(2030, 1, 2, 3, 4, 5)},   // 00-69: 20xx
      {"Fri, 31 Dec 1999 23:59:59 GMT", utc(1999, 12, 31, 23, 59, 59)},
      {"Thu, 29 Feb 2024 12:00:00 GMT", utc(2024, 2, 29, 12, 0, 0)},
      {"Sat, 01 Jan 9999 00:00:00 GMT", Clock::time_point::max()},  // clamped to the clock
      {"Mon, 01 Jan 1601 00:00:00 GMT", Clock::time_point::min()},
      // Not dates:
      {"", std::nullopt},
      {"garbage", std::nullopt},
      {"Sun, 06 Nov 1994 GMT", std::nullopt},        // no time
      {"Sun, Nov 1994 08:49:37 GMT", std::nullopt},  // no day
      {"Sun, 06 1994 08:49:37 GMT", std::nullopt},   // no month
      {"Sun, 06 Nov 08:49:37 GMT", std::nullopt},    // no year
      {"Sun, 32 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 00 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 31 Nov 1994 08:49:37 GMT", std::nullopt},  // no such date
      {"Thu, 29 Feb 2023 12:00:00 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 24:00:00 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 08:60:00 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:60 GMT", std::nullopt},
      {"Sun, 06 Nov 1600 08:49:37 GMT", std::nullopt},  // before 1601
      {"Sun, 06 Nov 19945 08:49:37 GMT", std::nullopt},  // a 5-digit year is not a year
      {"Sun, 06 Nov 1994 123:49:37 GMT", std::nullopt},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    CHECK(khz::parse_cookie_date(row.text) == row.expected);
  }

  SECTION("format and parse agree, to the second") {
    for (auto when : {utc(1970, 1, 1, 0, 0, 0), utc(2000, 2, 29, 23, 59, 59), utc(2038, 1, 19, 3, 14, 8),
                      utc(1969, 12, 31, 23, 59, 59), utc(1700, 3, 1, 12, 0, 0)}) {
      std::string s = khz::format_http_date(when);
      CAPTURE(s);
      CHECK(khz::parse_cookie_date(s) == when);
    }
    CHECK(khz::format_http_date(utc(1969, 12, 31, 23, 59, 59)) == "Wed, 31 Dec 1969 23:59:59 GMT");
    CHECK(khz::format_http_date(utc(2000, 2, 29, 1, 2, 3) + 999ms) == "Tue, 29 Feb 2000 01:02:03 GMT");
  }
}

TEST_CASE("cookie: Set-Cookie parsing (RFC 6265bis §5.6)") {
  SECTION("name, value and every attribute") {
    auto c = khz::parse_set_cookie(
        "sid=abc; Path=/app; Domain=.Example.COM; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=60; Secure; "
        "HttpOnly; SameSite=Strict; Partitioned");
    REQUIRE(c);
    CHECK(c->name == "sid");
    CHECK(c->value == "abc");
    CHECK(c->path == "/app");
    CHECK(c->domain == "example.com");  // leading dot gone, lower case
    CHECK(c->expires == utc(1994, 11, 6, 8, 49, 37));
    CHECK(c->max_age == 60s);
    CHECK(c->secure);
    CHECK(c->http_only);
    CHECK(c->same_site == SameSite::strict);
    CHECK(c->partitioned);
  }
  SECTION("attribute names are case-insensitive, whitespace is trimmed") {
    auto c = khz::parse_set_cookie("  a = b c ;  pAtH = /x ;sEcUrE;HTTPONLY; samesite = lax ; MAX-AGE=5");
    REQUIRE(c);
    CHECK(c->name == "a");
    CHECK(c->value == "b c");
    CHECK(c->path == "/x");
    CHECK(c->secure);
    CHECK(c->http_only);
    CHECK(c->same_site == SameSite::lax);
    CHECK(c->max_age == 5s);
  }
  SECTION("the last attribute of a kind wins") {
    auto c = khz::parse_set_cookie("a=1; Path=/one; Path=/two; Max-Age=1; Max-Age=2; Domain=a.com; Domain=b.com");
    REQUIRE(c);
    CHECK(c->path == "/two");
    CHECK(c->max_age == 2s);
    CHECK(c->domain == "b.com");
    // An unusable Path after a good one resets it to the default path.
    CHECK(khz::parse_set_cookie("a=1; Path=/one; Path=relative")->path.empty());
  }
  struct Row {
    const char* text;
    bool ignored;  // the whole field
  };
  const Row fields[] = {
      {"a=1", false},
      {"a=", false},
      {"nameless", false},              // name "" value "nameless"
      {"=v", false},
      {"", true},
      {"=", true},
      {"  ;Path=/", true},
      {"a=1\x01", true},                // a CTL: the whole field is ignored
      {"a=1; Path=/\n", true},
      {"a=1\x7f", true},
      {"a=1\t; Secure", false},         // HTAB is allowed
      {"a=\xc3\xa9", false},            // non-ASCII is kept
  };
  for (const Row& row : fields) {
    CAPTURE(row.text);
    CHECK(!khz::parse_set_cookie(row.text).has_value() == row.ignored);
  }
  SECTION("nameless cookie and the 4096-byte limit") {
    auto c = khz::parse_set_cookie("nameless; Secure");
    REQUIRE(c);
    CHECK(c->name.empty());
    CHECK(c->value == "nameless");
    CHECK(c->secure);
    CHECK(khz::parse_set_cookie("a=" + std::string(4095, 'v')));
    CHECK_FALSE(khz::parse_set_cookie("a=" + std::string(4096, 'v')));
  }
  SECTION("bad attribute values are skipped, the cookie kept") {
    struct AttrRow {
      const char* text;
      bool has_max_age;
      std::chrono::seconds max_age;
      bool has_expires;
    };
    const AttrRow attrs[] = {
        {"a=1; Max-Age=abc", false, 0s, false},
        {"a=1; Max-Age=", false, 0s, false},
        {"a=1; Max-Age=-", false, 0s, false},
        {"a=1; Max-Age=+5", false, 0s, false},
        {"a=1; Max-Age=5s", false, 0s, false},
        {"a=1; Max-Age=0", true, 0s, false},
        {"a=1; Max-Age=-7", true, -7s, false},
        {"a=1; Max-Age=99999999999999999999999", true, 0s, false},  // clamped, not overflowed
        {"a=1; Expires=not a date", false, 0s, false},
        {"a=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT", false, 0s, true},
    };
    for (const AttrRow& row : attrs) {
      CAPTURE(row.text);
      auto c = khz::parse_set_cookie(row.text);
      REQUIRE(c);
      CHECK(c->max_age.has_value() == row.has_max_age);
      if (row.has_max_age && row.max_age != 0s) CHECK(*c->max_age == row.max_age);
      if (row.has_max_age && std::string(row.text).size() > 20) CHECK(c->max_age->count() > 1'000'000'000);
      CHECK(c->expires.has_value() == row.has_expires);
    }
    CHECK(khz::parse_set_cookie("a=1; Domain=")->domain.empty());
    CHECK(khz::parse_set_cookie("a=1; Path=")->path.empty());
    CHECK(khz::parse_set_cookie("a=1; SameSite=Bogus")->same_site == SameSite::unset);
    CHECK(khz::parse_set_cookie("a=1; Path=/" + std::string(1024, 'p'))->path.empty());  // over 1024: skipped
    CHECK(khz::parse_set_cookie("a=1; Unknown=x; Version=1; Comment=hi")->name == "a");
  }
  SECTION("what serialize writes parses back the same") {
    Cookie in{.name = "sid", .value = "abc", .domain = "example.com", .path = "/app",
              .expires = utc(2030, 1, 2, 3, 4, 5), .max_age = 60s, .secure = true, .http_only = true,
              .same_site = SameSite::none, .partitioned = true};
    auto text = in.serialize();
    REQUIRE(text.ok());
    auto out = khz::parse_set_cookie(*text);
    REQUIRE(out);
    CHECK(out->name == in.name);
    CHECK(out->value == in.value);
    CHECK(out->domain == in.domain);
    CHECK(out->path == in.path);
    CHECK(out->expires == in.expires);
    CHECK(out->max_age == in.max_age);
    CHECK(out->secure);
    CHECK(out->http_only);
    CHECK(out->same_site == SameSite::none);
    CHECK(out->partitioned);
  }
}

TEST_CASE("cookie: hostile input never crashes the parsers") {
  // Every prefix of a field full of edge cases, and all single bytes.
  const std::string field =
      "a=\"b\"; Expires=Sun, 06 Nov 1994 08:49:37 GMT;;; Max-Age=-0099 ; Domain=..; Path=;Secure=1;=;\t";
  for (std::size_t n = 0; n <= field.size(); ++n) {
    std::string_view piece(field.data(), n);
    (void)khz::parse_set_cookie(piece);
    (void)khz::parse_cookie_date(piece);
    std::vector<CookiePair> out;
    khz::parse_cookie_header(piece, out);
  }
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    (void)khz::parse_set_cookie(one);
    (void)khz::parse_cookie_date(one);
    std::vector<CookiePair> out;
    khz::parse_cookie_header(one, out);
    (void)Cookie{.name = one, .value = one, .domain = one, .path = one}.validate();
  }
  SUCCEED();
}
