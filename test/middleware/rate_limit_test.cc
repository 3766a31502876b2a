// SPDX-License-Identifier: Apache-2.0
// rate_limit: the token bucket on a fake clock in process, the LRU bound, the log throttle,
// and on the wire (both transports, HTTP/1.1 and h2c through curl) the 429, the fields and
// the client address behind trusted proxies.
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/middleware/rate_limit.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <chrono>
#include <stdexcept>
#include <string>

using khz::testing::perform_request;
using khz::middleware::RateKeyFrom;
using namespace std::chrono_literals;

namespace {

// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  std::function<std::chrono::steady_clock::time_point()> fn() {
    return [this] { return now; };
  }
};

void ok(khz::RequestContext& c) { c.string(200, "ok"); }

int status_for(khz::Engine& e, const std::string& key_header_value = {}) {
  std::vector<khz::testing::Header> h;
  if (!key_header_value.empty()) h.emplace_back("X-Client", key_header_value);
  return perform_request(e, "GET", "/x", h).status();
}

}  // namespace

TEST_CASE("rate_limit: a token bucket: burst, refill, 429 with Retry-After and the RateLimit fields") {
  FakeClock clock;
  khz::Engine e;
  e.use(khz::middleware::rate_limit({.rate = 0.5, .burst = 3, .clock = clock.fn()}));
  bool ran = false;
  e.get("/x", [&](khz::RequestContext& c) { ran = true; ok(c); });
  for (int i = 0; i < 3; ++i) {
    auto r = perform_request(e, "GET", "/x");
    REQUIRE(r.status() == 200);
    REQUIRE(r.header("RateLimit-Policy") == R"("default";q=3;w=6)");
    REQUIRE(r.header("RateLimit") == "\"default\";r=" + std::to_string(2 - i) + ";t=" + std::to_string(2 * (i + 1)));
  }
  ran = false;
  khz::test::LogCapture log;
  auto limited = perform_request(e, "GET", "/x");
  REQUIRE(limited.status() == 429);
  REQUIRE_FALSE(ran);
  REQUIRE(limited.header("Retry-After") == "2");
  REQUIRE(limited.header("RateLimit") == R"("default";r=0;t=6)");
  REQUIRE(limited.body() == "429 too many requests");
  REQUIRE(log.text().find("rate_limit: GET /x: key in-process over 0.5/s (burst 3); 429") != std::string::npos);
  clock.now += 1s;  // half a token: still refused, one second to go
  auto still = perform_request(e, "GET", "/x");
  REQUIRE(still.status() == 429);
  REQUIRE(still.header("Retry-After") == "1");
  clock.now += 1s;
  REQUIRE(perform_request(e, "GET", "/x").status() == 200);
  REQUIRE(perform_request(e, "GET", "/x").status() == 429);
  clock.now += 1h;  // refilled, never above the burst
  for (int i = 0; i < 3; ++i) REQUIRE(perform_request(e, "GET", "/x").status() == 200);
  REQUIRE(perform_request(e, "GET", "/x").status() == 429);
}

TEST_CASE("rate_limit: keys from a header (else the client address) and from a function") {
  FakeClock clock;
  SECTION("header") {
    khz::Engine e;
    e.use(khz::middleware::rate_limit({.rate = 1, .burst = 1, .key_from = RateKeyFrom::header, .key_header = "X-Client",
                                       .clock = clock.fn()}));
    e.get("/x", ok);
    REQUIRE(status_for(e, "ann") == 200);
    REQUIRE(status_for(e, "ann") == 429);
    REQUIRE(status_for(e, "bob") == 200);
    REQUIRE(status_for(e) == 200);  // no header: keyed by the peer ("in-process")
    REQUIRE(status_for(e) == 429);
    REQUIRE(perform_request(e, "GET", "/x", {{"X-Client", ""}}).status() == 429);  // empty: the peer too
    khz::test::LogCapture log;
    REQUIRE(status_for(e, std::string(1000, 'k')) == 200);  // a long key is hashed, still counted
    REQUIRE(status_for(e, std::string(1000, 'k')) == 429);
    REQUIRE(log.text().find(std::string(300, 'k')) == std::string::npos);
  }
  SECTION("function; an empty key is exempt") {
    khz::Engine e;
    e.use(khz::middleware::rate_limit({.rate = 1, .burst = 1, .key_from = RateKeyFrom::function,
                                       .key = [](khz::RequestContext& c) { return std::string(c.query("user")); },
                                       .clock = clock.fn()}));
    e.get("/x", ok);
    REQUIRE(perform_request(e, "GET", "/x?user=ann").status() == 200);
    REQUIRE(perform_request(e, "GET", "/x?user=ann").status() == 429);
    REQUIRE(perform_request(e, "GET", "/x?user=bob").status() == 200);
    for (int i = 0; i < 5; ++i) {
      auto r = perform_request(e, "GET", "/x");
      REQUIRE(r.status() == 200);
      REQUIRE(r.header("RateLimit").empty());
    }
  }
}

TEST_CASE("rate_limit: at most max_keys buckets per loop, the least recently used forgotten") {
  FakeClock clock;
  khz::Engine e;
  e.use(khz::middleware::rate_limit({.rate = 1, .burst = 1, .key_from = RateKeyFrom::header, .key_header = "X-Client",
                                     .max_keys = 2, .clock = clock.fn()}));
  e.get("/x", ok);
  REQUIRE(status_for(e, "a") == 200);
  REQUIRE(status_for(e, "b") == 200);
  REQUIRE(status_for(e, "a") == 429);  // a is now the most recent
  REQUIRE(status_for(e, "c") == 200);  // evicts b, the least recent
  REQUIRE(status_for(e, "a") == 429);  // a kept its empty bucket
  REQUIRE(status_for(e, "b") == 200);  // b starts afresh (and evicts c)
  REQUIRE(status_for(e, "a") == 429);
  REQUIRE(status_for(e, "c") == 200);  // c was forgotten: full again
}

TEST_CASE("rate_limit: each instance (a route group's) counts its own requests; split_over_loops divides") {
  FakeClock clock;
  khz::Engine e;
  auto api = e.group("/api", khz::middleware::rate_limit({.rate = 1, .burst = 1, .policy = "api", .clock = clock.fn()}));
  api.get("/x", ok);
  auto web = e.group("/web", khz::middleware::rate_limit({.rate = 10, .burst = 20, .split_over_loops = 4, .clock = clock.fn()}));
  web.get("/x", ok);
  e.get("/free", ok);
  REQUIRE(perform_request(e, "GET", "/api/x").status() == 200);
  REQUIRE(perform_request(e, "GET", "/api/x").status() == 429);
  auto w = perform_request(e, "GET", "/web/x");
  REQUIRE(w.status() == 200);
  REQUIRE(w.header("RateLimit-Policy") == R"("default";q=5;w=2)");  // 20/4 tokens at 10/4 a second
  for (int i = 0; i < 4; ++i) REQUIRE(perform_request(e, "GET", "/web/x").status() == 200);
  REQUIRE(perform_request(e, "GET", "/web/x").status() == 429);
  auto f = perform_request(e, "GET", "/free");
  REQUIRE(f.status() == 200);
  REQUIRE(f.header("RateLimit").empty());
  auto a = perform_request(e, "GET", "/api/x");
  REQUIRE(a.header("RateLimit-Policy") == R"("api";q=1;w=1)");
}

TEST_CASE("rate_limit: the longest policy and the largest counts fit the RateLimit field") {
  FakeClock clock;
  khz::Engine e;
  const std::string policy(64, 'p');
  e.use(khz::middleware::rate_limit({.rate = 1e-9, .burst = 4'000'000'000u, .policy = policy, .clock = clock.fn()}));
  e.get("/x", ok);
  auto r = perform_request(e, "GET", "/x");
  REQUIRE(r.status() == 200);
  // 3,999,999,999 tokens left; the bucket is full again in 1e9 s.
  REQUIRE(r.header("RateLimit") == "\"" + policy + "\";r=3999999999;t=1000000000");
}

TEST_CASE("rate_limit: refusals are logged at most once per interval, with the count left out") {
  FakeClock clock;
  khz::Engine e;
  e.use(khz::middleware::rate_limit({.rate = 1, .burst = 1, .log_interval = 10s, .clock = clock.fn()}));
  e.get("/x", ok);
  khz::test::LogCapture log;
  REQUIRE(perform_request(e, "GET", "/x").status() == 200);
  for (int i = 0; i < 50; ++i) REQUIRE(perform_request(e, "GET", "/x").status() == 429);
  std::string text = log.text();
  auto lines = [](const std::string& t) {
    std::size_t n = 0;
    for (std::size_t p = t.find("rate_limit:"); p != std::string::npos; p = t.find("rate_limit:", p + 1)) ++n;
    return n;
  };
  REQUIRE(lines(text) == 1);
  clock.now += 11s;  // the interval is over; one token back, then a refusal again
  REQUIRE(perform_request(e, "GET", "/x").status() == 200);
  REQUIRE(perform_request(e, "GET", "/x").status() == 429);
  text = log.text();
  REQUIRE(lines(text) == 2);
  REQUIRE(text.find("(49 more refused since the last line)") != std::string::npos);
}

TEST_CASE("rate_limit: bad setup") {
  using khz::middleware::rate_limit;
  REQUIRE_THROWS_AS(rate_limit({.rate = 0}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.rate = -1}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.burst = 0}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.key_from = RateKeyFrom::header}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.key_from = RateKeyFrom::function}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.trusted_proxies = {"10.0.0.0/33"}}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.trusted_proxies = {"proxy.example"}}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.trusted_proxies = {"10.0.0.0/"}}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.forwarded_header = "X-Real-IP"}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.max_keys = 0}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.split_over_loops = 0}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.policy = "a b"}), std::invalid_argument);
  REQUIRE_THROWS_AS(rate_limit({.policy = std::string(65, 'p')}), std::invalid_argument);
  REQUIRE_NOTHROW(rate_limit({.policy = std::string(64, 'p')}));
  REQUIRE_NOTHROW(rate_limit({.trusted_proxies = {"10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1"}}));
}

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string curl(std::uint16_t port, const std::string& path, const std::string& extra) {
  std::string out = khz::test::run_command("curl -sS -v --max-time 10 " + extra + " http://127.0.0.1:" +
                                           std::to_string(port) + path + " 2>&1").output;
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace

TEST_CASE("rate_limit on the wire: 429 and the fields over HTTP/1.1 and h2c, per client behind trusted proxies") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      // One loop: every curl connection lands on the limiting loop (split_over_loops: see the header).
      khz::test::TestServer s(transport, {.loops = 1, .h2c = true});
      s.server.get("/direct", khz::middleware::rate_limit({.rate = 0.01, .burst = 2}), ok);
      s.server.get("/proxied", khz::middleware::rate_limit({.rate = 0.01, .burst = 1, .trusted_proxies = {"127.0.0.1", "10.0.0.0/8"}}), ok);
      s.server.get("/rfc7239", khz::middleware::rate_limit({.rate = 0.01, .burst = 1, .trusted_proxies = {"127.0.0.0/8", "2001:db8::/32"},
                                                            .forwarded_header = "Forwarded"}), ok);
      s.start();
      const std::string h1 = "--http1.1", h2 = "--http2-prior-knowledge";
      // Direct: the key is 127.0.0.1 whatever the client claims (no trusted proxies).
      REQUIRE(contains(curl(s.port(), "/direct", h1), "< http/1.1 200"));
      const std::string second = curl(s.port(), "/direct", h2 + " -H 'X-Forwarded-For: 198.51.100.1'");
      CAPTURE(second);
      REQUIRE(contains(second, "< http/2 200"));
      REQUIRE(contains(second, "< ratelimit-policy: \"default\";q=2;w=200"));
      REQUIRE(contains(second, "< ratelimit: \"default\";r=0;t=200"));
      khz::test::LogCapture log;
      for (const std::string& v : {h1, h2}) {
        const std::string refused = curl(s.port(), "/direct", v + " -H 'X-Forwarded-For: 198.51.100.2'");
        CAPTURE(refused);
        REQUIRE(contains(refused, v == h1 ? "< http/1.1 429" : "< http/2 429"));
        REQUIRE(contains(refused, "< retry-after: 100"));
        REQUIRE(contains(refused, "429 too many requests"));
      }
      REQUIRE(contains(log.text(), "rate_limit: GET /direct: key 127.0.0.1 over 0.01/s (burst 2); 429"));

      // Behind trusted proxies: the first untrusted hop from the right is the client.
      REQUIRE(contains(curl(s.port(), "/proxied", h1 + " -H 'X-Forwarded-For: 203.0.113.9, 10.1.2.3'"), " 200"));
      REQUIRE(contains(curl(s.port(), "/proxied", h2 + " -H 'X-Forwarded-For: 192.0.2.77' -H 'X-Forwarded-For: 203.0.113.9'"), " 429"));
      REQUIRE(contains(curl(s.port(), "/proxied", h1 + " -H 'X-Forwarded-For: 203.0.113.10'"), " 200"));
      REQUIRE(contains(curl(s.port(), "/proxied", h1), " 200"));  // no header: the proxy itself
      REQUIRE(contains(curl(s.port(), "/proxied", h1 + " -H 'X-Forwarded-For: 10.9.9.9'"), " 200"));  // all trusted: the leftmost
      // A malformed entry: keyed by the last trusted hop (10.1.2.3), logged.
      khz::test::LogCapture bad;
      REQUIRE(contains(curl(s.port(), "/proxied", h1 + " -H 'X-Forwarded-For: 203.0.113.11, unknown, 10.1.2.3'"), " 200"));
      REQUIRE(contains(bad.text(), "a malformed entry in X-Forwarded-For from trusted proxy 127.0.0.1; keyed by 10.1.2.3"));
      REQUIRE(contains(curl(s.port(), "/proxied", h1 + " -H 'X-Forwarded-For: 10.1.2.3'"), " 429"));

      // RFC 7239 Forwarded, quoted IPv6 with a port.
      const std::string fwd = " -H 'Forwarded: for=\"[2001:db8:cafe::17]:4711\";proto=https, for=198.51.100.60'";
      REQUIRE(contains(curl(s.port(), "/rfc7239", h1 + fwd), " 200"));
      REQUIRE(contains(curl(s.port(), "/rfc7239", h2 + fwd), " 429"));  // 198.51.100.60 again
      REQUIRE(contains(curl(s.port(), "/rfc7239", h1 + " -H 'Forwarded: for=198.51.100.61'"), " 200"));
      REQUIRE(contains(curl(s.port(), "/rfc7239", h1 + " -H 'Forwarded: for=unknown'"), " 200"));  // malformed: the peer
      REQUIRE(contains(curl(s.port(), "/rfc7239", h1), " 429"));                                    // the peer again
    }
  }
}
