// SPDX-License-Identifier: Apache-2.0
// khz-fetch, khz-load and the gateway example as users run them, on every transport
// (KHZ_TRANSPORT selects the client's backend), against a khz Server.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/common/event_loop.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using khz::test::run_command;
using khz::test::TestServer;

namespace {

const std::string kFetch = KHZ_FETCH_PATH;
const std::string kLoad = KHZ_LOAD_PATH;
const std::string kGateway = KHZ_GATEWAY_PATH;

void add_routes(khz::Server& s) {
  s.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
  s.post("/echo", [](khz::RequestContext& c) {
    c.set_header("X-Method", c.method());
    c.set_header("X-Type", c.header("Content-Type"));
    c.data(200, "application/octet-stream", c.body());
  });
  s.get("/stream", [](khz::RequestContext& c) -> khz::Task<> {
    c.set_header("X-Streamed", "yes");
    for (int i = 0; i < 3; ++i) {
      if (!co_await c.write("part" + std::to_string(i) + ";")) co_return;
      co_await khz::sleep_for(10ms);
    }
  });
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("khz-fetch") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport);
      add_routes(s.server);
      s.start();
      const std::string fetch = "KHZ_TRANSPORT=" + transport + " " + kFetch;

      auto r = run_command(fetch + " " + s.url("/ping"));
      REQUIRE(r.status == 0);
      REQUIRE(r.output == "pong");

      r = run_command(fetch + " -i " + s.url("/ping"));
      REQUIRE(r.status == 0);
      REQUIRE(r.output.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
      REQUIRE(r.output.find("Content-Length: 4\r\n") != std::string::npos);
      REQUIRE(r.output.ends_with("\r\n\r\npong"));

      r = run_command(fetch + " " + s.url("/nothing"));  // a 404 is a response: status 0
      REQUIRE(r.status == 0);

      r = run_command(fetch + " -d 'a=1&b=2' " + s.url("/echo") + " -i");
      REQUIRE(r.status == 0);
      REQUIRE(r.output.find("X-Method: POST") != std::string::npos);
      REQUIRE(r.output.find("X-Type: application/x-www-form-urlencoded") != std::string::npos);
      REQUIRE(r.output.ends_with("a=1&b=2"));

      const std::string in = "/tmp/khz_fetch_in_" + std::to_string(::getpid());
      const std::string out = "/tmp/khz_fetch_out_" + std::to_string(::getpid());
      std::ofstream(in, std::ios::binary) << std::string(300000, 'z');
      r = run_command(fetch + " -X PUT -H 'Content-Type: x/y' -d @" + in + " -o " + out + " " + s.url("/echo"));
      REQUIRE(r.status == 0);  // PUT /echo is not routed: 405/404 is still a response
      r = run_command(fetch + " -d @" + in + " -o " + out + " " + s.url("/echo"));
      REQUIRE(r.status == 0);
      REQUIRE(r.output.empty());
      REQUIRE(slurp(out) == std::string(300000, 'z'));
      std::remove(in.c_str());
      std::remove(out.c_str());

      r = run_command(fetch + " " + s.url("/stream"));
      REQUIRE(r.output == "part0;part1;part2;");

      // Errors: one line on stderr, non-zero.
      std::uint16_t dead = khz::test::unused_port();
      r = run_command(fetch + " http://127.0.0.1:" + std::to_string(dead) + "/ 2>&1");
      REQUIRE(r.status == 1);
      REQUIRE(r.output == "khz-fetch: Connection refused\n");
      // HTTP/2: h2c with prior knowledge (--http2 means the same on http:// URLs); -i says "HTTP/2 200".
      r = run_command(fetch + " --http2-prior-knowledge " + s.url("/ping") + " 2>&1");
      REQUIRE(r.status == 0);
      REQUIRE(r.output == "pong");
      r = run_command(fetch + " --http2 -i " + s.url("/ping"));
      REQUIRE(r.status == 0);
      REQUIRE(r.output.rfind("HTTP/2 200\r\n", 0) == 0);
      REQUIRE(r.output.find("\r\n\r\npong") != std::string::npos);
      r = run_command(fetch + " --http2-prior-knowledge -d hello " + s.url("/echo"));
      REQUIRE(r.output == "hello");
      r = run_command(fetch + " --http2 " + s.url("/stream"));
      REQUIRE(r.output == "part0;part1;part2;");
      r = run_command(fetch + " -i " + s.url("/ping"));
      REQUIRE(r.output.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
      r = run_command(fetch + " --timeout 0.2 " + s.url("/ping") + " -H 'bad header' 2>&1");
      REQUIRE(r.status == 2);
    }
  }
}

TEST_CASE("khz-fetch: https with --cacert and -k; a certificate that cannot be verified") {
  const auto& pki = khz::test::TestPki::get();
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::ServerOptions o;
      o.tls_cert_file = pki.alpha_cert;  // names localhost and 127.0.0.1; offers h2 and http/1.1
      o.tls_key_file = pki.alpha_key;
      TestServer s(transport, o);
      add_routes(s.server);
      s.start();
      const std::string fetch = "KHZ_TRANSPORT=" + transport + " " + kFetch;
      const std::string url = "https://localhost:" + std::to_string(s.port());

      auto r = run_command(fetch + " --cacert " + pki.ca_cert + " " + url + "/ping 2>&1");
      REQUIRE(r.status == 0);
      REQUIRE(r.output == "pong");
      r = run_command(fetch + " --cacert " + pki.ca_cert + " -d 'x=1' -i " + url + "/echo 2>&1");
      REQUIRE(r.status == 0);
      REQUIRE(r.output.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
      REQUIRE(r.output.ends_with("x=1"));
      r = run_command(fetch + " --http2 --cacert " + pki.ca_cert + " -d 'x=2' -i " + url + "/echo 2>&1");
      REQUIRE(r.status == 0);
      REQUIRE(r.output.rfind("HTTP/2 200\r\n", 0) == 0);  // h2 by ALPN
      REQUIRE(r.output.ends_with("x=2"));

      // Not trusted (system store only): one line, status 1.
      r = run_command(fetch + " " + url + "/ping 2>&1");
      REQUIRE(r.status == 1);
      REQUIRE(r.output == "khz-fetch: TLS: the server's certificate could not be verified\n");
      r = run_command(fetch + " --cacert " + pki.rogue_ca_cert + " " + url + "/ping 2>&1");
      REQUIRE(r.status == 1);
      REQUIRE(r.output.find("could not be verified") != std::string::npos);

      r = run_command(fetch + " -k " + url + "/ping 2>&1");
      REQUIRE(r.status == 0);
      REQUIRE(r.output == "pong");
      r = run_command(fetch + " --insecure " + url + "/stream 2>&1");
      REQUIRE(r.output == "part0;part1;part2;");

      r = run_command(fetch + " --cacert /nonexistent.pem " + url + "/ping 2>&1");
      REQUIRE(r.status == 2);
      r = run_command(fetch + " https://127.0.0.1:" + std::to_string(khz::test::unused_port()) + "/ 2>&1");
      REQUIRE(r.status == 1);
      REQUIRE(r.output == "khz-fetch: Connection refused\n");
    }
  }
}

TEST_CASE("khz-fetch: a server that never answers hits --timeout") {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(lfd, 16);
  socklen_t len = sizeof a;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_command(kFetch + " --timeout 0.3 http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/ 2>&1");
  ::close(lfd);
  REQUIRE(r.status == 1);
  REQUIRE(r.output == "khz-fetch: timed out\n");
  REQUIRE(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("khz-load: a short run") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      // A run that must succeed: exit 0, no errors, and a last line of more than 100 requests/s.
      auto load = [&transport](const std::string& args) {
        auto r = run_command("KHZ_TRANSPORT=" + transport + " " + kLoad + " " + args);
        INFO(r.output);
        REQUIRE(r.status == 0);
        REQUIRE(r.output.find("errors: 0,") != std::string::npos);
        const std::string last = r.output.substr(r.output.rfind("requests/s: "));
        REQUIRE(std::stod(last.substr(12)) > 100);
        REQUIRE(last.back() == '\n');
        return r.output;
      };
      TestServer s(transport);
      add_routes(s.server);
      s.start();
      load("-c 8 -d 0.5 --loops 2 " + s.url("/ping"));
      auto r = run_command(kLoad + " -c 1 -d 1 -m 10 " + s.url("/ping") + " 2>&1");
      REQUIRE(r.status == 2);  // -m needs HTTP/2
      REQUIRE(load("-c 2 -m 8 -d 0.5 --http2-prior-knowledge " + s.url("/ping")).find("2 HTTP/2 connection(s) x 8 stream(s)") !=
              std::string::npos);

      // By service name through discovery: the same server as the instance of "svc".
      REQUIRE(load("-c 4 -d 0.5 --discover svc=127.0.0.1:" + std::to_string(s.port()) + " http://svc/ping")
                  .find("http://svc/ping") != std::string::npos);
      r = run_command(kLoad + " -c 1 -d 1 --discover svc http://svc/ping 2>&1");
      REQUIRE(r.status == 2);  // no instances
      REQUIRE(r.output.find("--discover wants SERVICE=HOST:PORT") != std::string::npos);

      khz::ServerOptions o;
      o.tls_cert_file = khz::test::TestPki::get().alpha_cert;
      o.tls_key_file = khz::test::TestPki::get().alpha_key;
      TestServer tls(transport, o);
      add_routes(tls.server);
      tls.start();
      const std::string https = " https://localhost:" + std::to_string(tls.port()) + "/ping";
      load("-c 4 -d 0.5 --cacert " + khz::test::TestPki::get().ca_cert + https);
      load("-c 1 -m 4 -d 0.5 --http2 --cacert " + khz::test::TestPki::get().ca_cert + https);  // h2 by ALPN
    }
  }
}

TEST_CASE("gateway example: proxies /api/* with bodies and streams") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer upstream(transport);
      add_routes(upstream.server);
      upstream.start();
      std::uint16_t port = khz::test::unused_port();
      const std::string address = "127.0.0.1:" + std::to_string(port);
      const std::string up = "127.0.0.1:" + std::to_string(upstream.port());
      FILE* gw = ::popen(("KHZ_TRANSPORT=" + transport + " exec " + kGateway + " " + address + " " + up +
                          " >/tmp/khz_gateway_test.log 2>&1 & echo $!").c_str(), "r");
      char pid_text[32] = {};
      REQUIRE(std::fgets(pid_text, sizeof pid_text, gw) != nullptr);
      ::pclose(gw);
      struct Killer {
        int pid;
        ~Killer() { ::kill(pid, SIGTERM); }
      } killer{std::atoi(pid_text)};
      khz::BlockingClient c;
      const std::string base = "http://" + address;
      bool up_now = false;
      for (int i = 0; i < 100 && !up_now; ++i) {
        up_now = static_cast<bool>(c.get(base + "/api/ping"));
        if (!up_now) std::this_thread::sleep_for(30ms);
      }
      REQUIRE(up_now);
      auto ping = c.get(base + "/api/ping");
      REQUIRE(ping->body() == "pong");
      REQUIRE(ping->header("Content-Length") == "4");
      khz::ClientRequest post{.method = "POST", .url = base + "/api/echo", .body = std::string(50000, 'q')};
      auto echoed = c.send(post);
      REQUIRE(echoed->body() == post.body);
      // A chunked upload, streamed through the gateway.
      int n = 0;
      std::string piece;
      khz::ClientRequest chunked{.method = "POST", .url = base + "/api/echo"};
      chunked.body_source = [&]() -> khz::Task<khz::Result<std::string_view>> {
        if (n == 4) co_return std::string_view();
        piece = std::string(10000, static_cast<char>('a' + n++));
        co_return std::string_view(piece);
      };
      auto uploaded = c.send(std::move(chunked));
      REQUIRE(uploaded);
      REQUIRE(uploaded->body() == std::string(10000, 'a') + std::string(10000, 'b') + std::string(10000, 'c') +
                                std::string(10000, 'd'));
      auto streamed = c.get(base + "/api/stream");
      REQUIRE(streamed->body() == "part0;part1;part2;");
      REQUIRE(streamed->header("X-Streamed") == "yes");
      REQUIRE(streamed->header("Transfer-Encoding") == "chunked");
      REQUIRE(c.get(base + "/api/missing")->status() == 404);
      upstream.server.shutdown();
      REQUIRE(c.get(base + "/api/ping")->status() == 502);
    }
  }
}
