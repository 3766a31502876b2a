// SPDX-License-Identifier: Apache-2.0
// CookieJar (app/client/cookie_jar.cc) without sockets: what is stored from which URL (domain,
// public suffix, IP hosts, path, Secure, prefixes), what is sent where and in which order,
// expiry with an injected clock, limits, and many threads at once.
#include <khz/app/client/cookie_jar.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::CookieJar;
using khz::Url;
using Clock = std::chrono::system_clock;

namespace {

Url url(const std::string& text) {
  auto u = Url::parse(text);
  REQUIRE(u.ok());
  return *u;
}

const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(24 * 365 * 50);  // about 2020

// prefix + i + suffix (appended: GCC 12's -Wrestrict misfires on "literal" + std::string).
std::string numbered(std::string_view prefix, std::size_t i, std::string_view suffix) {
  std::string out(prefix);
  out.append(std::to_string(i)).append(suffix);
  return out;
}

// The cookies of a Cookie header value, as a set ("a=1; b=2" -> {"a=1", "b=2"}).
std::set<std::string> pairs_of(const std::string& header) {
  std::set<std::string> out;
  std::size_t start = 0;
  while (start < header.size()) {
    std::size_t end = header.find("; ", start);
    out.insert(header.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 2;
  }
  return out;
}

}  // namespace

TEST_CASE("cookie jar: which Set-Cookie is stored (RFC 6265bis §5.7)") {
  struct Row {
    const char* from;        // the request URL the response came for
    const char* set_cookie;
    bool stored;
  };
  const Row rows[] = {
      // Domain
      {"http://www.example.com/", "a=1", true},
      {"http://www.example.com/", "a=1; Domain=example.com", true},
      {"http://www.example.com/", "a=1; Domain=.example.com", true},
      {"http://www.example.com/", "a=1; Domain=www.example.com", true},
      {"http://www.example.com/", "a=1; Domain=EXAMPLE.com", true},
      {"http://www.example.com/", "a=1; Domain=other.com", false},      // does not domain-match
      {"http://www.example.com/", "a=1; Domain=ample.com", false},      // a suffix, not on a '.'
      {"http://www.example.com/", "a=1; Domain=sub.www.example.com", false},
      {"http://example.com/", "a=1; Domain=com", false},                // a public suffix
      {"http://com/", "a=1; Domain=com", true},                          // ... unless it is the host
      {"http://localhost/", "a=1; Domain=localhost", true},
      {"http://127.0.0.1/", "a=1", true},
      {"http://127.0.0.1/", "a=1; Domain=127.0.0.1", true},              // the same address: host-only
      {"http://127.0.0.1/", "a=1; Domain=0.0.1", false},
      {"http://127.0.0.1/", "a=1; Domain=1", false},
      {"http://[::1]/", "a=1; Domain=::1", true},                         // the same address
      {"http://[::1]/", "a=1; Domain=::2", false},
      // Secure
      {"https://example.com/", "a=1; Secure", true},
      {"http://example.com/", "a=1; Secure", false},                     // only from https
      // Prefixes
      {"https://example.com/", "__Secure-a=1; Secure", true},
      {"https://example.com/", "__Secure-a=1", false},
      {"http://example.com/", "__Secure-a=1; Secure", false},
      {"https://example.com/", "__secure-a=1", false},                   // prefix in any case
      {"https://example.com/", "__Host-a=1; Secure; Path=/", true},
      {"https://example.com/", "__Host-a=1; Secure", false},             // no Path=/
      {"https://example.com/x/y", "__Host-a=1; Secure; Path=/x", false},
      {"https://example.com/", "__Host-a=1; Path=/", false},             // no Secure
      {"https://www.example.com/", "__Host-a=1; Secure; Path=/; Domain=example.com", false},
      {"https://example.com/", "__Secure-x; Secure", false},             // nameless, value with a prefix
      {"https://example.com/", "__Host-x", false},
      // Not a cookie at all
      {"http://example.com/", "", false},
      {"http://example.com/", "a=1\x01", false},
  };
  for (const Row& row : rows) {
    CAPTURE(row.from, row.set_cookie);
    CookieJar jar;
    CHECK(jar.store(url(row.from), row.set_cookie, t0) == row.stored);
    CHECK(jar.size(t0) == (row.stored ? 1u : 0u));
  }
}

TEST_CASE("cookie jar: where a cookie is sent") {
  struct Row {
    const char* from;
    const char* set_cookie;
    const char* to;
    bool sent;
  };
  const Row rows[] = {
      // host-only vs Domain
      {"http://example.com/", "a=1", "http://example.com/", true},
      {"http://example.com/", "a=1", "http://www.example.com/", false},   // host-only
      {"http://example.com/", "a=1", "http://EXAMPLE.com:8080/", true},    // ports do not isolate cookies
      {"http://example.com/", "a=1; Domain=example.com", "http://www.example.com/", true},
      {"http://example.com/", "a=1; Domain=example.com", "http://a.b.example.com/", true},
      {"http://example.com/", "a=1; Domain=example.com", "http://badexample.com/", false},
      {"http://www.example.com/", "a=1; Domain=example.com", "http://example.com/", true},
      {"http://www.example.com/", "a=1", "http://example.com/", false},
      {"http://127.0.0.1/", "a=1; Domain=127.0.0.1", "http://127.0.0.1/", true},
      // default path (§5.1.4): the request path up to its last '/'
      {"http://h.test/a/b/c", "a=1", "http://h.test/a/b/x", true},
      {"http://h.test/a/b/c", "a=1", "http://h.test/a/b", true},
      {"http://h.test/a/b/c", "a=1", "http://h.test/a/", false},
      {"http://h.test/a/b/c", "a=1", "http://h.test/a/bc", false},
      {"http://h.test/a", "a=1", "http://h.test/", true},                 // one '/': "/"
      {"http://h.test/a/b/?q=/x/y", "a=1", "http://h.test/a/b/z", true},  // the query is not the path
      // path-match
      {"http://h.test/", "a=1; Path=/docs", "http://h.test/docs", true},
      {"http://h.test/", "a=1; Path=/docs", "http://h.test/docs/web", true},
      {"http://h.test/", "a=1; Path=/docs", "http://h.test/docsweb", false},
      {"http://h.test/", "a=1; Path=/docs", "http://h.test/Docs", false},
      {"http://h.test/", "a=1; Path=/docs/", "http://h.test/docs/x", true},
      {"http://h.test/", "a=1; Path=/docs/", "http://h.test/docs", false},
      {"http://h.test/", "a=1; Path=/", "http://h.test/anything/at/all?x=1", true},
      {"http://h.test/x/y", "a=1; Path=relative", "http://h.test/x/z", true},  // default path /x
      {"http://h.test/x/y", "a=1; Path=relative", "http://h.test/y", false},
      // Secure: only over https
      {"https://h.test/", "a=1; Secure", "https://h.test/", true},
      {"https://h.test/", "a=1; Secure", "http://h.test/", false},
      {"https://h.test/", "a=1", "http://h.test/", true},
  };
  for (const Row& row : rows) {
    CAPTURE(row.from, row.set_cookie, row.to);
    CookieJar jar;
    REQUIRE(jar.store(url(row.from), row.set_cookie, t0));
    CHECK(jar.cookie_header(url(row.to), t0) == (row.sent ? "a=1" : ""));
  }
}

TEST_CASE("cookie jar: replacing, deleting and expiry") {
  CookieJar jar;
  const Url site = url("http://h.test/");

  SECTION("same name, domain and path: replaced") {
    REQUIRE(jar.store(site, "a=1", t0));
    REQUIRE(jar.store(site, "a=2", t0));
    CHECK(jar.cookie_header(site, t0) == "a=2");
    CHECK(jar.size(t0) == 1);
    // Another path is another cookie.
    REQUIRE(jar.store(site, "a=3; Path=/x", t0));
    CHECK(jar.size(t0) == 2);
  }
  SECTION("Max-Age=0, a negative Max-Age and a past Expires delete") {
    for (const char* deleting : {"a=; Max-Age=0", "a=x; Max-Age=-1", "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"}) {
      CAPTURE(deleting);
      REQUIRE(jar.store(site, "a=1; Max-Age=100", t0));
      REQUIRE(jar.size(t0) == 1);
      CHECK(jar.store(site, deleting, t0));
      CHECK(jar.size(t0) == 0);
      CHECK(jar.cookie_header(site, t0).empty());
    }
  }
  SECTION("Max-Age counts from storing; it wins over Expires") {
    REQUIRE(jar.store(site, "a=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT", t0));
    CHECK(jar.cookie_header(site, t0 + 59s) == "a=1");
    CHECK(jar.cookie_header(site, t0 + 60s).empty());
    CHECK(jar.size(t0 + 60s) == 0);
  }
  SECTION("Expires is a date") {
    REQUIRE(jar.store(site, "a=1; Expires=" + khz::format_http_date(t0 + 10s), t0));
    CHECK(jar.all(t0).at(0).persistent);
    CHECK(jar.cookie_header(site, t0 + 9s) == "a=1");
    CHECK(jar.cookie_header(site, t0 + 10s).empty());
  }
  SECTION("lifetimes are capped at 400 days") {
    REQUIRE(jar.store(site, "a=1; Max-Age=999999999999", t0));
    REQUIRE(jar.store(site, "b=1; Expires=Fri, 31 Dec 9999 23:59:59 GMT", t0));
    CHECK(jar.cookie_header(site, t0 + std::chrono::hours(24 * 400) - 1s) == "a=1; b=1");
    CHECK(jar.cookie_header(site, t0 + std::chrono::hours(24 * 400)).empty());
  }
  SECTION("a session cookie stays") {
    REQUIRE(jar.store(site, "a=1", t0));
    CHECK_FALSE(jar.all(t0).at(0).persistent);
    CHECK(jar.cookie_header(site, t0 + std::chrono::hours(24 * 10000)) == "a=1");
  }
  SECTION("clear") {
    REQUIRE(jar.store(site, "a=1", t0));
    jar.clear();
    CHECK(jar.size(t0) == 0);
  }
}

TEST_CASE("cookie jar: http cannot overwrite a Secure cookie (§5.7 step 11)") {
  CookieJar jar;
  REQUIRE(jar.store(url("https://h.test/"), "sid=secret; Secure; Path=/", t0));
  CHECK_FALSE(jar.store(url("http://h.test/"), "sid=forged", t0));
  CHECK_FALSE(jar.store(url("http://h.test/"), "sid=forged; Path=/deeper", t0));          // shadowing
  CHECK_FALSE(jar.store(url("http://www.h.test/"), "sid=forged; Domain=h.test", t0));
  CHECK(jar.store(url("http://h.test/"), "other=1", t0));                                // another name is fine
  CHECK(jar.store(url("https://h.test/"), "sid=new", t0));                               // https may
  CHECK(jar.cookie_header(url("https://h.test/"), t0) == "sid=new; other=1");
}

TEST_CASE("cookie jar: Cookie header order (§5.8.3) and the stored fields") {
  CookieJar jar;
  const Url from = url("https://h.test/a/b/c");
  REQUIRE(jar.store(from, "first=1; Path=/", t0));
  REQUIRE(jar.store(from, "deep=2; Path=/a/b", t0 + 1s));
  REQUIRE(jar.store(from, "second=3; Path=/", t0 + 2s));
  REQUIRE(jar.store(from, "mid=4; Path=/a", t0 + 3s));
  REQUIRE(jar.store(from, "same_time=5; Path=/", t0 + 2s));  // created with "second": storage order
  CHECK(jar.cookie_header(url("https://h.test/a/b/c"), t0 + 5s) == "deep=2; mid=4; first=1; second=3; same_time=5");
  // Replacing keeps the creation time, so the order too.
  REQUIRE(jar.store(from, "first=changed; Path=/", t0 + 10s));
  CHECK(jar.cookie_header(url("https://h.test/"), t0 + 11s) == "first=changed; second=3; same_time=5");

  jar.clear();
  REQUIRE(jar.store(url("https://www.h.test/x"), "sid=v; Domain=h.test; HttpOnly; SameSite=Lax; Secure", t0));
  REQUIRE(jar.store(url("https://h.test/"), "nameless", t0));
  auto all = jar.all(t0);
  REQUIRE(all.size() == 2);
  CHECK(all[0].name == "sid");
  CHECK(all[0].domain == "h.test");
  CHECK_FALSE(all[0].host_only);
  CHECK(all[0].path == "/");
  CHECK(all[0].secure);
  CHECK(all[0].http_only);
  CHECK(all[0].same_site == khz::SameSite::lax);
  CHECK(all[1].host_only);
  CHECK(jar.cookie_header(url("https://h.test/"), t0) == "sid=v; nameless");  // a nameless cookie: its value
}

TEST_CASE("cookie jar: headers of a response, and limits") {
  CookieJar jar;
  khz::HeaderMap headers;
  headers.add("Set-Cookie", "a=1");
  headers.add("Content-Type", "text/plain");
  headers.add("set-cookie", "b=2; Path=/");
  headers.add("Set-Cookie", "bad\x01=3");
  jar.store(url("http://h.test/"), headers, t0);
  CHECK(jar.cookie_header(url("http://h.test/"), t0) == "a=1; b=2");

  SECTION("per domain: the least recently used go first") {
    jar.clear();
    const Url site = url("http://many.test/");
    for (std::size_t i = 0; i < CookieJar::max_per_domain; ++i) {
      REQUIRE(jar.store(site, numbered("c", i, "=v"), t0 + std::chrono::seconds(i)));
    }
    REQUIRE(jar.size(t0) == CookieJar::max_per_domain);
    REQUIRE(jar.store(site, "newest=v", t0 + 1h));
    CHECK(jar.size(t0) == CookieJar::max_per_domain);
    auto sent = pairs_of(jar.cookie_header(site, t0 + 1h));
    CHECK(sent.size() == CookieJar::max_per_domain);
    CHECK_FALSE(sent.contains("c0=v"));  // the least recently used went
    CHECK(sent.contains("c1=v"));
    CHECK(sent.contains("newest=v"));
  }
  SECTION("in all") {
    jar.clear();
    for (std::size_t i = 0; i < CookieJar::max_total + 10; ++i) {
      REQUIRE(jar.store(url(numbered("http://d", i, ".test/")), "a=1", t0));
    }
    CHECK(jar.size(t0) == CookieJar::max_total);
  }
}

TEST_CASE("cookie jar: many threads at once") {
  CookieJar jar;
  const Url site = url("http://h.test/");  // no Catch2 assertion inside the threads
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&jar, &site, t] {
      for (std::size_t i = 0; i < 500; ++i) {
        jar.store(site, numbered("t", t, "=") + std::to_string(i), t0);
        (void)jar.cookie_header(site, t0);
        (void)jar.all(t0);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(pairs_of(jar.cookie_header(url("http://h.test/"), t0)) ==
        std::set<std::string>{"t0=499", "t1=499", "t2=499", "t3=499"});
}
