// SPDX-License-Identifier: Apache-2.0
// adaptive_limit: an overloaded loop (handlers that burn CPU or block it) sheds with 503, an
// idle one does not, and it recovers; the CPU trigger sheds only past the loop's proven
// in-flight bound. On a real server on each transport, loaded by python3 threads.
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/common/event_loop.h>
#include <khz/middleware/adaptive_limit.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

// `warm` GET requests to `path` one after another, then `total` more, `parallel` at a time, each
// on its own connection (one process, so nothing slow comes between the two); the statuses of
// the second part in a row ("200 200 503 ..."), a 503 followed by its Retry-After ("503/1").
// A warm-up request that is not a 200 prints "warm:<status>".
constexpr const char* kLoad = R"PY(
import concurrent.futures, http.client, sys
port, path, total, parallel, warm = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def one(_):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    c.request('GET', path)
    r = c.getresponse(); r.read(); c.close()
    return str(r.status) + ('/' + str(r.getheader('Retry-After')) if r.status == 503 else '')
for _ in range(warm):
    got = one(0)
    if got != '200': print('warm:' + got, end=' ')
with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
    print(' '.join(ex.map(one, range(total))))
)PY";

struct Tally {
  int ok = 0, shed = 0, other = 0;
};

Tally load(std::uint16_t port, const std::string& path, int total, int parallel, int warm = 0) {
  const std::string out = khz::test::run_command("python3 -c \"$(cat <<'EOF'\n" + std::string(kLoad) + "\nEOF\n)\" " +
                                                 std::to_string(port) + " " + path + " " + std::to_string(total) + " " +
                                                 std::to_string(parallel) + " " + std::to_string(warm) + " 2>&1").output;
  Tally t;
  std::size_t pos = 0;
  while (pos < out.size()) {
    const auto end = out.find_first_of(" \n", pos);
    const std::string word = out.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (word == "200") ++t.ok;
    else if (word == "503/1") ++t.shed;
    else if (!word.empty()) ++t.other;
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  INFO("load output: " << out);
  REQUIRE(t.other == 0);
  REQUIRE(t.ok + t.shed == total);
  return t;
}

void burn(khz::RequestContext& c) {
  const auto until = std::chrono::steady_clock::now() + 100ms;
  volatile std::uint64_t x = 0;
  while (std::chrono::steady_clock::now() < until) x = x + 1;
  c.string(200, "burnt");
}

void block(khz::RequestContext& c) {
  std::this_thread::sleep_for(100ms);  // what a handler must never do: it holds the loop
  c.string(200, "blocked");
}

khz::Task<> slow(khz::RequestContext& c) {
  co_await khz::sleep_for(100ms);  // the loop serves others meanwhile: requests pile up in flight
  c.string(200, "slow");
}

}  // namespace

TEST_CASE("adaptive_limit: a loop held by its handlers sheds (503, Retry-After), an idle one does not, and it recovers") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport, {.loops = 1});
      // The default max_delay (50 ms), well above what a busy machine's scheduler adds to an
      // idle loop, well below the 100 ms each /burn or /block holds it.
      s.server.use(khz::middleware::adaptive_limit());
      s.server.get("/burn", burn);
      s.server.get("/block", block);
      s.server.get("/fast", [](khz::RequestContext& c) { c.string(200, "fast"); });
      s.start();
      // Idle and healthy: many requests, a few at a time, none shed.
      Tally idle = load(s.port(), "/fast", 200, 4);
      REQUIRE(idle.shed == 0);
      for (const std::string path : {"/burn", "/block"}) {
        CAPTURE(path);
        khz::test::LogCapture log;
        Tally hot = load(s.port(), path, 32, 16);
        CAPTURE(hot.ok, hot.shed);
        REQUIRE(hot.shed > 0);
        REQUIRE(hot.ok > 0);  // shedding is not a blackout
        REQUIRE(log.text().find("adaptive_limit: GET " + path + ": shedding (loop delay ") != std::string::npos);
        // Recovery: once the loop is on time again (the last late probe forgotten after 1 s),
        // every request goes through.
        std::this_thread::sleep_for(1200ms);
        Tally after = load(s.port(), "/fast", 50, 2);
        REQUIRE(after.shed == 0);
      }
    }
  }
}

TEST_CASE("adaptive_limit: past max_cpu, sheds only what exceeds max pass rate × min RT") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      double cpu = 0.95;
      khz::test::TestServer s(transport, {.loops = 1});
      s.server.use(khz::middleware::adaptive_limit({.max_delay = 0s, .max_cpu = 0.8, .cpu_usage = [&cpu] { return cpu; }}));
      s.server.get("/slow", slow);
      s.start();
      // Hot CPU, but never more in flight than the loop has shown it passes: nothing shed.
      Tally calm = load(s.port(), "/slow", 5, 1);
      REQUIRE(calm.shed == 0);
      // A second of history at one request in flight (the bound is ~1: 10/s × 100 ms), then a
      // burst of 16 at once.
      khz::test::LogCapture log;
      Tally burst = load(s.port(), "/slow", 16, 16, 12);
      CAPTURE(burst.ok, burst.shed);
      REQUIRE(burst.shed > 0);
      REQUIRE(burst.ok > 0);
      REQUIRE(log.text().find("adaptive_limit: GET /slow: shedding (cpu 95% > 80%, ") != std::string::npos);
      // Cool CPU (and past the one-second cool-down): the same burst goes through whole.
      cpu = 0.1;
      std::this_thread::sleep_for(1100ms);
      Tally cool = load(s.port(), "/slow", 16, 16);
      REQUIRE(cool.shed == 0);
    }
  }
}

TEST_CASE("adaptive_limit: bad setup") {
  using khz::middleware::adaptive_limit;
  REQUIRE_THROWS_AS(adaptive_limit({.max_delay = 0s}), std::invalid_argument);
  REQUIRE_THROWS_AS(adaptive_limit({.max_delay = -1s}), std::invalid_argument);
  REQUIRE_THROWS_AS(adaptive_limit({.max_cpu = 1.5}), std::invalid_argument);
  REQUIRE_THROWS_AS(adaptive_limit({.retry_after = 0s}), std::invalid_argument);
  REQUIRE_THROWS_AS(adaptive_limit({.probe_interval = 0s}), std::invalid_argument);
  REQUIRE_NOTHROW(adaptive_limit({.max_delay = 0s, .max_cpu = 0.9}));
}
