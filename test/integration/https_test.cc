// SPDX-License-Identifier: Apache-2.0
// HTTPS end to end on every transport, with real clients (curl, openssl s_client): ALPN, SNI,
// client certificates, protocol versions, handshake timeout, garbage instead of a ClientHello,
// large bodies, keep-alive and graceful shutdown. The PKI is made at run time.
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using khz::test::eventually;
using khz::test::RawClient;
using khz::test::run_command;
using khz::test::StderrCapture;
using khz::test::TestPki;
using khz::test::TestServer;
using khz::transport::ClientCertMode;
using khz::transport::TlsVersion;

namespace {

khz::ServerOptions tls_options(khz::ServerOptions o = {}) {
  const auto& pki = TestPki::get();
  o.tls_cert_file = pki.alpha_cert;
  o.tls_key_file = pki.alpha_key;
  o.tls_sni_certificates = {{pki.beta_cert, pki.beta_key}};
  return o;
}

std::atomic<bool> slow_started{false};

void add_routes(khz::Server& s) {
  s.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
  s.post("/echo", [](khz::RequestContext& c) { c.data(200, "application/octet-stream", c.body()); });
  s.get("/slow", [](khz::RequestContext& c) -> khz::Task<> {
    slow_started = true;
    co_await khz::sleep_for(400ms);
    c.string(200, "slow done");
  });
}

// curl against https://<name>:<port><path>, <name> resolved to 127.0.0.1; stderr included.
std::string curl(std::uint16_t port, const std::string& name, const std::string& path, const std::string& extra = "") {
  const auto& pki = TestPki::get();
  std::string p = std::to_string(port);
  return run_command("curl -sS -v --max-time 10 --cacert " + pki.ca_cert + " --resolve " + name + ":" + p +
                     ":127.0.0.1 " + extra + " https://" + name + ":" + p + path + " 2>&1")
      .output;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("https: curl GET, ALPN h2 and http/1.1, keep-alive, SNI picks the certificate") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, tls_options());
      add_routes(s.server);
      s.start();

      // ALPN: h2 first (HTTP/2 over TLS through the same handlers), http/1.1 when asked for.
      std::string out = curl(s.port(), "alpha.test", "/ping");
      INFO(out);
      REQUIRE(contains(out, "pong"));
      REQUIRE(contains(out, "ALPN: server accepted h2"));
      REQUIRE(contains(out, "< HTTP/2 200"));
      out = curl(s.port(), "alpha.test", "/ping", "--http1.1");
      REQUIRE(contains(out, "pong"));
      REQUIRE(contains(out, "ALPN: server accepted http/1.1"));
      REQUIRE(contains(out, "< HTTP/1.1 200"));
      REQUIRE(contains(out, "subject: CN=alpha.test"));
      REQUIRE(contains(out, "SSL certificate verify ok"));

      // SNI: the second certificate for its name (and its wildcard); curl checks the name.
      out = curl(s.port(), "beta.test", "/ping");
      INFO(out);
      REQUIRE(contains(out, "pong"));
      REQUIRE(contains(out, "subject: CN=beta.test"));
      out = curl(s.port(), "www.beta.test", "/ping");
      REQUIRE(contains(out, "pong"));
      REQUIRE(contains(out, "subject: CN=beta.test"));
      // An unknown name gets the default certificate (and curl refuses it).
      out = curl(s.port(), "gamma.test", "/ping");
      REQUIRE(!contains(out, "pong"));
      REQUIRE(contains(out, "subject: CN=alpha.test"));
      // openssl s_client: no SNI → default; -servername beta.test → beta.
      auto sc = run_command("openssl s_client -connect 127.0.0.1:" + std::to_string(s.port()) +
                            " -noservername -alpn http/1.1 </dev/null 2>&1");
      REQUIRE(contains(sc.output, "subject=CN = alpha.test"));
      REQUIRE(contains(sc.output, "ALPN protocol: http/1.1"));
      sc = run_command("openssl s_client -connect 127.0.0.1:" + std::to_string(s.port()) +
                       " -servername beta.test </dev/null 2>&1");
      REQUIRE(contains(sc.output, "subject=CN = beta.test"));
      // A client that offers only protocols the server lacks negotiates none and still works.
      sc = run_command("openssl s_client -connect 127.0.0.1:" + std::to_string(s.port()) +
                       " -alpn foo </dev/null 2>&1");
      REQUIRE(contains(sc.output, "No ALPN negotiated"));

      // Keep-alive: three requests on one TLS connection, over HTTP/1.1 and over h2.
      std::string p = std::to_string(s.port());
      std::string url = "https://alpha.test:" + p + "/ping";
      for (std::string version : {"--http1.1", "--http2"}) {
        out = run_command("curl -sS -v " + version + " --cacert " + TestPki::get().ca_cert + " --resolve alpha.test:" + p +
                          ":127.0.0.1 " + url + " " + url + " " + url + " 2>&1")
                  .output;
        INFO(out);
        std::size_t pongs = 0;
        for (auto at = out.find("pong"); at != std::string::npos; at = out.find("pong", at + 1)) ++pongs;
        REQUIRE(pongs == 3);
        REQUIRE(contains(out, "Re-using existing connection"));
        REQUIRE(!contains(out, "Connection #0 to host alpha.test left intact\n* Hostname alpha.test was found in DNS cache\n*   Trying"));
      }
    }
  }
}

TEST_CASE("https: a 3 MiB POST is echoed intact") {
  const auto& pki = TestPki::get();
  std::string body(3 * 1024 * 1024 + 17, '\0');
  std::mt19937 rng(7);
  for (auto& c : body) c = static_cast<char>(rng());
  std::string in = pki.dir + "/body.bin";
  std::string out = pki.dir + "/echo.bin";
  std::ofstream(in, std::ios::binary) << body;
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, tls_options({.max_body_bytes = 8 * 1024 * 1024}));
      add_routes(s.server);
      s.start();
      std::string r = curl(s.port(), "alpha.test", "/echo",
                           "-H 'Content-Type: application/octet-stream' --data-binary @" + in + " -o " + out);
      INFO(r);
      std::ifstream f(out, std::ios::binary);
      std::string echoed((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      REQUIRE(echoed.size() == body.size());
      REQUIRE(echoed == body);
    }
  }
}

TEST_CASE("https: TLS versions") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, tls_options());
      add_routes(s.server);
      s.start();
      std::string out = curl(s.port(), "alpha.test", "/ping", "--tlsv1.2 --tls-max 1.2");
      INFO(out);
      REQUIRE(contains(out, "SSL connection using TLSv1.2"));
      REQUIRE(contains(out, "pong"));
      out = curl(s.port(), "alpha.test", "/ping", "--tlsv1.3");
      REQUIRE(contains(out, "SSL connection using TLSv1.3"));
      REQUIRE(contains(out, "pong"));
      // TLS 1.1 is never accepted.
      auto sc = run_command("openssl s_client -connect 127.0.0.1:" + std::to_string(s.port()) +
                            " -tls1_1 </dev/null 2>&1");
      REQUIRE(contains(sc.output, "Cipher is (NONE)"));
      REQUIRE(contains(sc.output, "alert protocol version"));
    }
    DYNAMIC_SECTION("min TLS 1.3, transport " << transport) {
      StderrCapture log;
      TestServer s(transport, tls_options({.tls_min_version = TlsVersion::tls1_3}));
      add_routes(s.server);
      s.start();
      std::string out = curl(s.port(), "alpha.test", "/ping", "--tlsv1.2 --tls-max 1.2");
      INFO(out);
      REQUIRE(!contains(out, "pong"));
      REQUIRE(contains(curl(s.port(), "alpha.test", "/ping", "--tlsv1.3"), "pong"));
      REQUIRE(eventually([&] { return contains(log.text(), "unsupported protocol"); }));
    }
  }
}

TEST_CASE("https: client certificates") {
  const auto& pki = TestPki::get();
  std::string good = "--cert " + pki.client_cert + " --key " + pki.client_key;
  std::string rogue = "--cert " + pki.rogue_client_cert + " --key " + pki.rogue_client_key;
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("required, transport " << transport) {
      StderrCapture log;
      TestServer s(transport, tls_options({.tls_client_ca_file = pki.ca_cert,
                                           .tls_client_verify = ClientCertMode::require}));
      add_routes(s.server);
      s.start();
      REQUIRE(contains(curl(s.port(), "alpha.test", "/ping", good), "pong"));
      std::string out = curl(s.port(), "alpha.test", "/ping");
      INFO(out);
      REQUIRE(!contains(out, "pong"));
      REQUIRE(!contains(curl(s.port(), "alpha.test", "/ping", rogue), "pong"));
      REQUIRE(eventually([&] {
        std::string t = log.text();
        return contains(t, "peer did not return a certificate") && contains(t, "certificate verify failed");
      }));
      REQUIRE(contains(log.text(), "tls: handshake with 127.0.0.1:"));
      // TLS 1.2 refuses before the request too.
      REQUIRE(!contains(curl(s.port(), "alpha.test", "/ping", "--tls-max 1.2"), "pong"));
      REQUIRE(contains(curl(s.port(), "alpha.test", "/ping", good + " --tls-max 1.2"), "pong"));
    }
    DYNAMIC_SECTION("optional, transport " << transport) {
      TestServer s(transport, tls_options({.tls_client_ca_file = pki.ca_cert,
                                           .tls_client_verify = ClientCertMode::optional}));
      add_routes(s.server);
      s.start();
      REQUIRE(contains(curl(s.port(), "alpha.test", "/ping"), "pong"));
      REQUIRE(contains(curl(s.port(), "alpha.test", "/ping", good), "pong"));
      REQUIRE(!contains(curl(s.port(), "alpha.test", "/ping", rogue), "pong"));  // presented but bad
    }
  }
}

TEST_CASE("https: handshake timeout and garbage close cleanly, with a log line") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      StderrCapture log;
      TestServer s(transport, tls_options({.tls_handshake_timeout = 300ms}));
      add_routes(s.server);
      s.start();
      {
        // Silent client: closed after the handshake timeout, not before.
        RawClient c(s.port());
        auto start = std::chrono::steady_clock::now();
        REQUIRE(c.closed_by_peer(3s));
        auto took = std::chrono::steady_clock::now() - start;
        REQUIRE(took >= 250ms);
        REQUIRE(took < 2s);
      }
      REQUIRE(eventually([&] { return contains(log.text(), "timed out after 300 ms"); }));
      {
        // Half a ClientHello, then silence: the same deadline covers the whole handshake.
        RawClient c(s.port());
        c.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
        REQUIRE(c.closed_by_peer(3s));
      }
      {
        // Plain HTTP and random bytes instead of a ClientHello.
        RawClient c(s.port());
        c.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(c.closed_by_peer(3s));
        RawClient d(s.port());
        d.send(std::string(300, '\x01'));
        REQUIRE(d.closed_by_peer(3s));
      }
      REQUIRE(eventually([&] {
        std::string t = log.text();
        return contains(t, "http request") && contains(t, "wrong version number");
      }));
      REQUIRE(contains(log.text(), "tls: handshake with 127.0.0.1:"));
      // A TCP probe connects and leaves: logged, but at info (test binaries log warn and up).
      auto level = khz::log::level();
      khz::log::set_level(khz::log::Level::info);
      { RawClient probe(s.port()); }
      bool probe_logged = eventually([&] { return contains(log.text(), "failed: connection closed by peer"); });
      khz::log::set_level(level);
      INFO(log.text());
      REQUIRE(probe_logged);
      REQUIRE(contains(log.text(), "INFO  tls: handshake with 127.0.0.1:"));
      // And the server goes on serving.
      REQUIRE(contains(curl(s.port(), "alpha.test", "/ping"), "pong"));
      REQUIRE(eventually([&] { return s.server.active_connections() == 0; }));
    }
  }
}

TEST_CASE("https: graceful shutdown with idle, in-flight and silent TLS connections") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, tls_options({.exit_wait_timeout = 5s}));
      add_routes(s.server);
      s.start();
      std::uint16_t port = s.port();
      // In flight: the handler is sleeping when the shutdown starts; its response still arrives.
      std::string slow;
      slow_started = false;
      std::thread client([&] { slow = curl(port, "alpha.test", "/slow", "--http1.1"); });
      // Idle: an s_client that completed a handshake and sends nothing.
      std::thread idle([&] {
        (void)run_command("sleep 2 | openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                          " -quiet >/dev/null 2>&1");
      });
      // Silent: connected, no ClientHello yet (the handshake timeout is 10 s).
      RawClient silent(port);
      REQUIRE(eventually([&] { return s.server.active_connections() == 3 && slow_started; }));
      std::this_thread::sleep_for(50ms);  // the s_client handshake is long done
      auto start = std::chrono::steady_clock::now();
      s.server.shutdown();
      auto took = std::chrono::steady_clock::now() - start;
      client.join();
      idle.join();
      INFO(slow);
      REQUIRE(contains(slow, "slow done"));
      REQUIRE(contains(slow, "Connection: close"));
      REQUIRE(took < 2s);  // nobody waited for the drain deadline
      REQUIRE(silent.closed_by_peer(1s));
    }
  }
}

TEST_CASE("https: session resumption (TLS 1.3 tickets, TLS 1.2 tickets)") {
  const auto& pki = TestPki::get();
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, tls_options());
      add_routes(s.server);
      s.start();
      for (std::string version : {"-tls1_3", "-tls1_2"}) {
        INFO(version);
        std::string session = pki.dir + "/session" + version + ".pem";
        std::string base = "openssl s_client -connect 127.0.0.1:" + std::to_string(s.port()) +
                           " -servername alpha.test -CAfile " + pki.ca_cert + " " + version;
        // The first connection stays long enough to receive the (post-handshake) tickets.
        auto first = run_command("sleep 0.3 | " + base + " -sess_out " + session + " 2>&1");
        REQUIRE(contains(first.output, "New, TLSv1."));
        auto second = run_command("sleep 0.3 | " + base + " -sess_in " + session + " 2>&1");
        INFO(second.output);
        REQUIRE(contains(second.output, "Reused, TLSv1."));
      }
    }
  }
}

TEST_CASE("https: over the connection limit a TLS client gets 503 (h2: GOAWAY)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, tls_options({.max_connections = 1}));
      add_routes(s.server);
      s.start();
      std::uint16_t port = s.port();
      std::thread holder([&] {
        (void)run_command("sleep 1 | openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                          " >/dev/null 2>&1");
      });
      REQUIRE(eventually([&] { return s.server.active_connections() == 1; }));
      std::string out = curl(port, "alpha.test", "/ping", "--http1.1");
      // Over h2 the refusal is a GOAWAY before any stream: curl reports it, nothing hangs.
      std::string h2 = curl(port, "alpha.test", "/ping", "--http2");
      holder.join();
      INFO(out);
      REQUIRE(contains(out, "< HTTP/1.1 503"));
      INFO(h2);
      REQUIRE(contains(h2, "ALPN: server accepted h2"));
      REQUIRE(!contains(h2, "pong"));
      REQUIRE(contains(curl(port, "alpha.test", "/ping"), "pong"));
    }
  }
}

TEST_CASE("https: bad TLS options fail at construction") {
  const auto& pki = TestPki::get();
  REQUIRE_THROWS_AS(khz::Server({.tls_cert_file = pki.alpha_cert}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::Server({.tls_cert_file = pki.alpha_cert, .tls_key_file = pki.beta_key}),
                    std::invalid_argument);
  REQUIRE_THROWS_AS(khz::Server({.tls_cert_file = pki.dir + "/missing.crt", .tls_key_file = pki.alpha_key}),
                    std::invalid_argument);
  REQUIRE_THROWS_AS(khz::Server({.tls_cert_file = pki.alpha_cert, .tls_key_file = pki.alpha_key,
                                 .tls_client_verify = ClientCertMode::require}),
                    std::invalid_argument);
  try {
    khz::Server bad({.tls_cert_file = pki.alpha_cert, .tls_key_file = pki.beta_key});
  } catch (const std::invalid_argument& e) {
    INFO(e.what());
    REQUIRE(contains(e.what(), "key values mismatch"));
  }
}

TEST_CASE("https: a client's KeyUpdate (update requested) mid-connection") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, tls_options());
      add_routes(s.server);
      s.start();
      // s_client takes a line "K" on stdin as "send KeyUpdate, update_requested": the server
      // must answer with its own KeyUpdate while reading, then keep serving on new keys.
      std::string req = "GET /ping HTTP/1.1\\r\\nHost: alpha.test\\r\\n\\r\\n";
      std::string last = "GET /ping HTTP/1.1\\r\\nHost: alpha.test\\r\\nConnection: close\\r\\n\\r\\n";
      auto r = run_command("(printf '" + req + "'; sleep 0.3; printf 'K\\n'; sleep 0.3; printf '" + req +
                           "'; sleep 0.3; printf 'K\\n'; sleep 0.3; printf '" + last +
                           "'; sleep 0.5) | openssl s_client -connect 127.0.0.1:" + std::to_string(s.port()) +
                           " -tls1_3 2>&1");
      INFO(r.output);
      REQUIRE(contains(r.output, "KEYUPDATE"));
      std::size_t pongs = 0;
      for (auto at = r.output.find("\r\n\r\npong"); at != std::string::npos; at = r.output.find("\r\n\r\npong", at + 1)) {
        ++pongs;
      }
      REQUIRE(pongs == 3);
    }
  }
}

namespace {
khz::Task<> stream_echo(khz::RequestContext& ctx) {
  for (;;) {
    auto piece = co_await ctx.read_body_chunk();
    if (!piece) {
      ctx.abort_with_status(400);
      co_return;
    }
    if (piece->empty()) co_return;
    if (!co_await ctx.write(*piece)) co_return;
  }
}
}  // namespace

TEST_CASE("https: a streamed 8 MiB body echoed while it arrives") {
  const auto& pki = TestPki::get();
  std::string body(8 * 1024 * 1024 + 5, '\0');
  std::mt19937 rng(11);
  for (auto& c : body) c = static_cast<char>(rng());
  std::string in = pki.dir + "/stream.bin";
  std::string out = pki.dir + "/stream-echo.bin";
  std::ofstream(in, std::ios::binary) << body;
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, tls_options());
      s.server.put("/stream", stream_echo).stream_body();
      s.start();
      std::string r = curl(s.port(), "alpha.test", "/stream", "-T " + in + " -o " + out);
      INFO(r);
      std::ifstream f(out, std::ios::binary);
      std::string echoed((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      REQUIRE(echoed.size() == body.size());
      REQUIRE(echoed == body);
    }
  }
}

TEST_CASE("https: HTTP/2 over TLS with nghttp and h2load; h2 off offers http/1.1 only") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, tls_options({.max_body_bytes = 8 * 1024 * 1024}));
      add_routes(s.server);
      s.start();
      const std::string url = "https://127.0.0.1:" + std::to_string(s.port());
      // nghttp does not verify the certificate; ALPN must still pick h2.
      auto nghttp = run_command("nghttp -v " + url + "/ping 2>&1");
      INFO(nghttp.output);
      REQUIRE(nghttp.status == 0);
      REQUIRE(contains(nghttp.output, "The negotiated protocol: h2"));
      REQUIRE(contains(nghttp.output, "pong"));
      // A 1 MiB upload echoed over h2 through TLS, checked byte for byte.
      const auto& pki = TestPki::get();
      std::string body(1 << 20, '\0');
      for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 131 % 251);
      const std::string in = pki.dir + "/h2-body.bin";
      const std::string out = pki.dir + "/h2-echo.bin";
      std::ofstream(in, std::ios::binary) << body;
      std::string r = curl(s.port(), "alpha.test", "/echo", "--http2 --data-binary @" + in + " -o " + out);
      INFO(r);
      REQUIRE(contains(r, "ALPN: server accepted h2"));
      std::ifstream f(out, std::ios::binary);
      REQUIRE(std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>()) == body);
      // h2load over TLS: every request answered.
      auto load = run_command("h2load -n 2000 -c 4 -m 8 " + url + "/ping 2>&1");
      INFO(load.output);
      REQUIRE(load.status == 0);
      REQUIRE(contains(load.output, "Application protocol: h2"));
      REQUIRE(contains(load.output, "2000 succeeded, 0 failed, 0 errored"));
    }
    DYNAMIC_SECTION("transport " << transport << ", h2 off") {
      TestServer s(transport, tls_options({.h2 = false}));
      add_routes(s.server);
      s.start();
      std::string out = curl(s.port(), "alpha.test", "/ping");
      INFO(out);
      REQUIRE(contains(out, "pong"));
      REQUIRE(contains(out, "ALPN: server accepted http/1.1"));
    }
  }
}
