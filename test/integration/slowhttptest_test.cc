// SPDX-License-Identifier: Apache-2.0
// slowhttptest (Debian) attacks the server — slow headers, slow body, slow read — while a
// normal client keeps making requests; every one of them must be served.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <chrono>
#include <future>
#include <string>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("slowhttptest: a normal client is served throughout each attack") {
  struct Attack {
    const char* name;
    const char* flags;
  };
  const Attack attacks[] = {
      {"slow headers", "-H -i 1"},
      {"slow body", "-B -i 1 -s 100000"},
      {"slow read", "-X -k 3 -w 10 -y 20 -n 1 -z 32"},
  };
  for (const auto& transport : khz::test::transports()) {
    for (const auto& attack : attacks) {
      DYNAMIC_SECTION("transport " << transport << ": " << attack.name) {
        khz::test::TestServer ts(transport, {.header_timeout = 2s, .read_timeout = 2s, .write_timeout = 2s});
        ts.server.get("/", [](khz::RequestContext& c) { c.string(200, std::string(64 * 1024, 'x')); });
        ts.server.post("/", [](khz::RequestContext& c) { c.string(200, "posted"); });
        ts.server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
        ts.start();
        std::string command = std::string("slowhttptest ") + attack.flags + " -c 300 -r 150 -l 4 -v 0 -p 2 -u " +
                              ts.url("/") + " > /dev/null 2>&1; echo $?";
        auto attacker = std::async(std::launch::async, [&] { return khz::test::run_command(command); });
        std::this_thread::sleep_for(500ms);  // let the attack connections pile up
        int served = 0;
        int failed = 0;
        while (attacker.wait_for(100ms) != std::future_status::ready) {
          khz::test::RawClient c(ts.port(), 2s);
          c.send("GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
          if (khz::test::body_of(c.read_response()) == "pong") ++served; else ++failed;
        }
        auto result = attacker.get();
        INFO("slowhttptest exit: " << result.output);
        REQUIRE(result.output.rfind("0", 0) == 0);  // the attack really ran
        REQUIRE(served >= 10);
        REQUIRE(failed == 0);
      }
    }
  }
}
