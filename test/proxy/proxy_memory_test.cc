// SPDX-License-Identifier: Apache-2.0
// 256 MiB up and 256 MiB down through the reverse proxy keep this process's memory flat: curl
// uploads (chunked) to a khz upstream that counts the bytes, and downloads a body the upstream
// streams; the proxy and the upstream both run in this process, whose peak resident size may
// grow by a few MiB, not by the body. A binary of its own, so the peak is this test's.
#include <khz/app/server.h>
#include <khz/proxy/reverse_proxy.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <fstream>
#include <string>

using khz::test::run_command;

namespace {

long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

constexpr std::uint64_t kBig = 256ull << 20;

}  // namespace

TEST_CASE("proxy: 256 MiB each way streams through with flat memory") {
  const std::string transport = khz::test::transports().front();
  khz::test::TestServer up(transport, {.loops = 1});
  up.server.put("/count", [](khz::RequestContext& c) -> khz::Task<> {
    std::uint64_t n = 0;
    for (;;) {
      auto piece = co_await c.read_body_chunk();
      if (!piece) {
        c.string(400, "bad body");
        co_return;
      }
      if (piece->empty()) break;
      n += piece->size();
    }
    c.string(200, std::to_string(n));
  }).stream_body();
  up.server.get("/download", [](khz::RequestContext& c) -> khz::Task<> {
    const std::string piece(256 * 1024, 'd');
    const std::uint64_t total = std::stoull(std::string(c.query("bytes")));
    for (std::uint64_t sent = 0; sent < total; sent += piece.size()) {
      if (!co_await c.write(piece)) co_return;
    }
  });
  up.start();
  khz::test::TestServer front(transport, {.loops = 1});
  khz::proxy::ReverseProxy proxy({.upstreams = {{.url = "http://127.0.0.1:" + std::to_string(up.port())}}});
  front.server.any("/*rest", proxy.handler()).stream_body();
  front.start();

  // Warm up the pools, then take the baseline.
  REQUIRE(run_command("head -c 4194304 /dev/zero | curl -sS -T - " + front.url("/count")).output == "4194304");
  REQUIRE(run_command("curl -sS " + front.url("/download?bytes=4194304") + " | wc -c").output == "4194304\n");
  const long before = peak_rss_kib();
  const auto up_result = run_command("head -c " + std::to_string(kBig) + " /dev/zero | curl -sS -T - " + front.url("/count"));
  CHECK(up_result.output == std::to_string(kBig));
  const auto down = run_command("curl -sS " + front.url("/download?bytes=" + std::to_string(kBig)) + " | wc -c");
  CHECK(down.output == std::to_string(kBig) + "\n");
  const long growth = peak_rss_kib() - before;
  INFO("peak RSS grew by " << growth << " KiB");
  CHECK(growth < 24 * 1024);
  front.server.shutdown();
}
