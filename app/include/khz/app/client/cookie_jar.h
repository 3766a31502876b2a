// SPDX-License-Identifier: Apache-2.0
// khz/app/client/cookie_jar.h: CookieJar, the client's cookie store (RFC 6265bis §5.7-5.8 as a
// non-browser user agent). Give one to a Client and it keeps what servers set and sends it back.
//
//   auto jar = std::make_shared<khz::CookieJar>();
//   khz::BlockingClient client({.cookie_jar = jar});
//   client.send(login);                               // Set-Cookie: sid=...; Path=/; HttpOnly
//   auto me = client.get("http://app.test/me");        // sends "Cookie: sid=..."
//   for (const auto& c : jar->all()) std::printf("%s=%s for %s\n", c.name.c_str(), c.value.c_str(), c.domain.c_str());
//
// With ClientOptions::cookie_jar set, every response (each hop of a redirect too) is stored
// before the next request goes out, and every request carries the cookies that match its URL
// in one Cookie header, after the request's own Cookie header when it has one (HTTP/2: a
// cookie field of its own). A response the client retries (a 503 it tries again) is not
// stored: only the final response of each hop.
//
// Rules (a cookie that breaks one is ignored, store() returns false):
//   - Domain: absent, the cookie is host-only (sent to that exact host). Present, it must
//     domain-match the request's host (equal, or the host ends with "." + domain), and is then
//     sent to that domain and its subdomains. A single-label Domain ("com", "localhost") is
//     taken as a public suffix: refused unless it is the request's host itself (then host-only).
//     On an IP-address host a Domain is refused unless it is that same address (host-only then).
//   - Path: absent or not starting with '/', the default path (the request path up to its last
//     '/'; "/" at least). Sent when the request path path-matches it (§5.1.4).
//   - Secure: stored only from https, sent only over https. A non-Secure cookie from http
//     cannot replace a Secure one of the same name whose domain and path it overlaps.
//   - Expiry: Max-Age wins over Expires; both are capped at 400 days; 0 or a past date deletes
//     the stored cookie of that name, domain and path. Neither: a session cookie (kept as long
//     as the jar). Expired cookies are dropped whenever the jar is used.
//   - Prefixes: "__Secure-" needs Secure; "__Host-" needs Secure, no Domain and Path=/
//     (case-insensitive prefixes; a nameless cookie whose value starts with one is refused).
//   - HttpOnly and SameSite are kept (see all()) but do not limit anything: this client is not
//     a browser, every request is first-party.
//   - Limits: at most 180 cookies per domain and 3000 in all; beyond, the least recently used
//     go first. A cookie's name + value is at most 4096 bytes (longer: refused).
// The Cookie header lists longer paths first, then earlier-created cookies first (§5.8.3);
// a replaced cookie keeps its creation time.
//
// Threading: every member is thread-safe (one mutex; a Client used from several loops shares
// its jar). The `now` parameters are for tests; they default to the system clock.
#pragma once

#include <khz/app/client/url.h>
#include <khz/protocol/cookie.h>
#include <khz/protocol/header_map.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace khz {

// A cookie as the jar keeps it (RFC 6265bis §5.7's storage model).
struct StoredCookie {
  using Clock = std::chrono::system_clock;
  std::string name{};
  std::string value{};
  std::string domain{};  // the host it came from (host_only) or its Domain attribute, lower case
  std::string path{};
  bool host_only = true;
  bool secure = false;
  bool http_only = false;
  SameSite same_site = SameSite::unset;
  bool persistent = false;                         // had Max-Age or Expires
  Clock::time_point expires = Clock::time_point::max();  // max(): a session cookie
  Clock::time_point created{};
  Clock::time_point last_access{};
};

class CookieJar {
 public:
  using Clock = std::chrono::system_clock;

  CookieJar() = default;
  CookieJar(const CookieJar&) = delete;
  CookieJar& operator=(const CookieJar&) = delete;

  // Stores every Set-Cookie field of `headers`, a response to a request for `url`.
  void store(const Url& url, const HeaderMap& headers, Clock::time_point now = Clock::now());
  // Stores one Set-Cookie field value received for `url`: true when it was taken (stored,
  // replaced one, or deleted one: an expired cookie), false when a rule above refused it.
  bool store(const Url& url, std::string_view set_cookie, Clock::time_point now = Clock::now());

  // The Cookie header value for a request to `url` ("" when no cookie matches); marks the
  // cookies as used now.
  std::string cookie_header(const Url& url, Clock::time_point now = Clock::now());

  // Every unexpired cookie, in storage order (a copy).
  std::vector<StoredCookie> all(Clock::time_point now = Clock::now()) const;
  std::size_t size(Clock::time_point now = Clock::now()) const;
  void clear();

  static constexpr std::size_t max_per_domain = 180;
  static constexpr std::size_t max_total = 3000;

 private:
  struct Entry {
    StoredCookie cookie;
    std::uint64_t order = 0;  // creation order: ties of `created` break by it
  };
  void remove_expired(Clock::time_point now);  // with mutex_ held
  void evict(const std::string& domain);       // with mutex_ held: enforce the limits

  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::uint64_t next_order_ = 0;
};

}  // namespace khz
