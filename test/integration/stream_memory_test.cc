// SPDX-License-Identifier: Apache-2.0
// Echoing a 1 GiB streamed request body keeps the server's memory bounded: curl uploads
// 1 GiB (chunked) of a deterministic stream through a route that writes back each piece as it
// reads it, and the peak resident size of this process (which runs the server) may grow by
// a few MiB, not by the body. A binary of its own, so the peak is this test's.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <fstream>
#include <string>

using khz::test::run_command;

namespace {

// Peak resident set size of this process, in KiB (VmHWM).
long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// 1 GiB of AES-CTR keystream: deterministic, incompressible, fast to make twice.
const std::string kSource =
    "head -c 1073741824 /dev/zero | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f "
    "-iv 00000000000000000000000000000000";

}  // namespace

TEST_CASE("a 1 GiB body echoed through a streaming route keeps server memory bounded") {
  const std::string transport = khz::test::transports().front();
  khz::test::TestServer ts(transport, {.loops = 1});
  ts.server.put("/echo", [](khz::RequestContext& c) -> khz::Task<> {
    for (;;) {
      auto piece = co_await c.read_body_chunk();
      if (!piece || piece->empty()) co_return;
      if (!co_await c.write(*piece)) co_return;
    }
  }).stream_body();
  ts.start();
  // Warm up the buffer pools, then take the baseline.
  REQUIRE(run_command("head -c 4194304 /dev/zero | curl -sS -T - " + ts.url("/echo") + " | wc -c").output == "4194304\n");
  const long before = peak_rss_kib();

  auto echoed = run_command(kSource + " | curl -sS -T - -H 'Transfer-Encoding: chunked' " + ts.url("/echo") +
                            " | md5sum");
  auto want = run_command(kSource + " | md5sum");
  const long after = peak_rss_kib();
  REQUIRE(echoed.status == 0);
  REQUIRE(want.output.size() > 32);
  REQUIRE(echoed.output == want.output);
  INFO("peak RSS before " << before << " KiB, after " << after << " KiB");
  REQUIRE(before > 0);
  REQUIRE(after - before < 32 * 1024);  // 32 MiB against a 1 GiB body
}
