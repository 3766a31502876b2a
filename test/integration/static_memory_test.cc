// SPDX-License-Identifier: Apache-2.0
// Serving a 64 MiB file keeps the server's memory bounded on every path a file body takes:
// sendfile (plaintext HTTP/1.1 on netpoll), the bounded copy (asio, TLS) and HTTP/2 DATA
// frames read from the file. The file is sparse (all zeros; no disk used); curl fetches it
// whole and the peak resident size of this process (which runs the server) may grow by a few
// MiB, not by the file. A binary of its own, so the peak is this test's.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

using khz::test::run_command;
using khz::test::TempDir;
using khz::test::TestPki;
using khz::test::TestServer;

namespace {

long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

constexpr long kFileBytes = 64L << 20;

}  // namespace

TEST_CASE("a 64 MiB file is served without the server's memory growing by its size") {
  TempDir dir;
  const std::string path = dir.path + "/big.bin";
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, kFileBytes) == 0);  // sparse
  ::close(fd);
  ::mkdir((dir.path + "/small").c_str(), 0755);
  {
    std::ofstream(dir.path + "/small/warm.bin") << std::string(1 << 20, 'w');
  }
  const auto& pki = TestPki::get();
  const std::string want = run_command("head -c " + std::to_string(kFileBytes) + " /dev/zero | md5sum").output;

  for (const auto& transport : khz::test::transports()) {
    for (bool tls : {false, true}) {
      khz::ServerOptions o;
      o.loops = 1;
      if (tls) {
        o.tls_cert_file = pki.alpha_cert;
        o.tls_key_file = pki.alpha_key;
      }
      TestServer s(transport, o);
      s.server.static_fs("/files", dir.path);
      s.start();
      const std::string p = std::to_string(s.port());
      const std::string base = tls ? "curl -sS --max-time 60 --cacert " + pki.ca_cert + " --resolve alpha.test:" + p +
                                         ":127.0.0.1 "
                                   : "curl -sS --max-time 60 ";
      const std::string url = tls ? "https://alpha.test:" + p : "http://127.0.0.1:" + p;
      for (const std::string version : {"--http1.1", tls ? "--http2" : "--http2-prior-knowledge"}) {
        INFO(transport << (tls ? " TLS " : " plaintext ") << version);
        // Warm up the pools with a 1 MiB file, then take the baseline.
        REQUIRE(run_command(base + version + " " + url + "/files/small/warm.bin | wc -c").output == "1048576\n");
        const long before = peak_rss_kib();
        auto got = run_command(base + version + " " + url + "/files/big.bin | md5sum");
        const long after = peak_rss_kib();
        REQUIRE(got.status == 0);
        REQUIRE(got.output == want);
        INFO("peak RSS before " << before << " KiB, after " << after << " KiB");
        REQUIRE(before > 0);
        CHECK(after - before < 16 * 1024);  // 16 MiB against a 64 MiB file
      }
    }
  }
}
