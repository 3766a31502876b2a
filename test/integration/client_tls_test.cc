// SPDX-License-Identifier: Apache-2.0
// khz::Client over https, on every transport, against a khz Server with TLS (which offers h2
// and http/1.1 by ALPN; these tests turn the client's HTTP/2 off, so it must get http/1.1 —
// HTTP/2 over https is covered by client_h2_test.cc): verification against a CA file, a wrong
// name and an unknown CA refused, insecure_skip_verify, keep-alive reuse of one TLS
// connection, the handshake timeout, a client certificate, CONNECT through a proxy (options
// and HTTPS_PROXY, NO_PROXY), redirects between http and https.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include "support/connect_proxy.h"
#include "support/script_server.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using khz::BlockingClient;
using khz::ClientOptions;
using khz::test::ConnectProxy;
using khz::test::Peers;
using khz::test::ScriptServer;
using khz::test::TestPki;
using khz::test::TestServer;

namespace {

khz::ServerOptions tls_server_options(khz::ServerOptions o = {}) {
  const auto& pki = TestPki::get();
  o.tls_cert_file = pki.alpha_cert;  // alpha.test, localhost, 127.0.0.1
  o.tls_key_file = pki.alpha_key;
  return o;
}

ClientOptions tls_client(const std::string& transport) {
  ClientOptions o;
  o.transport = transport;
  o.proxy_from_environment = false;
  o.dial_timeout = 2s;
  o.response_header_timeout = 3s;
  o.tls_handshake_timeout = 3s;
  o.tls_ca_file = TestPki::get().ca_cert;
  o.http2 = false;  // HTTP/1.1 over TLS here (ALPN offers only http/1.1)
  return o;
}

void add_routes(khz::Server& s, Peers& peers) {
  s.get("/ping", [&peers](khz::RequestContext& c) {
    peers.add(c.peer_address());
    c.string(200, "pong");
  });
  s.get("/echo", [](khz::RequestContext& c) {
    c.set_header("X-Auth", c.header("Authorization"));
    c.set_header("X-Cookie", c.header("Cookie"));
    c.string(200, "echo");
  });
}

std::string https_url(std::uint16_t port, std::string_view path, std::string_view host = "localhost") {
  return "https://" + std::string(host) + ":" + std::to_string(port) + std::string(path);
}


// Sets an environment variable for a scope.
struct EnvVar {
  std::string name;
  EnvVar(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~EnvVar() { ::unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE("client https: GET verified by a CA file, http/1.1 by ALPN, one TLS connection kept alive") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Peers peers;
      TestServer s(transport, tls_server_options());
      add_routes(s.server, peers);
      s.start();
      BlockingClient c(tls_client(transport));
      for (int i = 0; i < 5; ++i) {
        auto r = c.get(https_url(s.port(), "/ping"));
        REQUIRE(r);
        REQUIRE(r->status() == 200);
        REQUIRE(r->body() == "pong");
      }
      REQUIRE(peers.count() == 1);  // one TLS connection served all five
      std::size_t open = 0, plain = 0;
      c.run([&]() -> khz::Task<void> {
        open = c.client().open_connections("https://localhost:" + std::to_string(s.port()));
        plain = c.client().open_connections("localhost:" + std::to_string(s.port()));
        co_return;
      });
      REQUIRE(open == 1);
      REQUIRE(plain == 0);  // https pools are apart from http ones

      // IP address URL: the certificate's IP SAN is checked (no SNI for IPs).
      auto ip = c.get(https_url(s.port(), "/ping", "127.0.0.1"));
      REQUIRE(ip);
      REQUIRE(ip->body() == "pong");
      REQUIRE(peers.count() == 2);  // another host: another pool
    }
  }
}

TEST_CASE("client https: a wrong name and an unknown CA fail verification; insecure_skip_verify passes") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Peers peers;
      TestServer s(transport, tls_server_options());
      add_routes(s.server, peers);
      s.start();
      // Names resolved to the server; the certificate names alpha.test but not wrong.test.
      auto resolver = std::make_shared<khz::StaticResolver>();
      resolver->add("alpha.test", {{"127.0.0.1", s.port()}});
      resolver->add("wrong.test", {{"127.0.0.1", s.port()}});

      ClientOptions o = tls_client(transport);
      o.resolver = resolver;
      BlockingClient c(o);
      auto good = c.get(https_url(s.port(), "/ping", "alpha.test"));  // SNI and check: alpha.test
      REQUIRE(good);
      REQUIRE(good->body() == "pong");
      auto wrong = c.get(https_url(s.port(), "/ping", "wrong.test"));
      REQUIRE_FALSE(wrong);
      REQUIRE(wrong.error() == khz::client::errc::certificate_verify_failed);
      REQUIRE(std::string(wrong.error().message()).find("certificate could not be verified") != std::string::npos);

      ClientOptions rogue = tls_client(transport);
      rogue.tls_ca_file = TestPki::get().rogue_ca_cert;  // and the system store: neither signed it
      BlockingClient c2(rogue);
      auto unknown = c2.get(https_url(s.port(), "/ping"));
      REQUIRE_FALSE(unknown);
      REQUIRE(unknown.error() == khz::client::errc::certificate_verify_failed);

      ClientOptions none = tls_client(transport);
      none.tls_ca_file.clear();  // system store only
      BlockingClient c3(none);
      auto system_only = c3.get(https_url(s.port(), "/ping"));
      REQUIRE_FALSE(system_only);
      REQUIRE(system_only.error() == khz::client::errc::certificate_verify_failed);

      ClientOptions insecure = tls_client(transport);
      insecure.tls_ca_file.clear();
      insecure.insecure_skip_verify = true;
      insecure.resolver = resolver;
      BlockingClient c4(insecure);
      auto ok = c4.get(https_url(s.port(), "/ping", "wrong.test"));
      REQUIRE(ok);
      REQUIRE(ok->body() == "pong");

      // Plain http to the TLS port is not https: the server closes it (no hang).
      BlockingClient c5(tls_client(transport));
      REQUIRE_FALSE(c5.get("http://127.0.0.1:" + std::to_string(s.port()) + "/ping"));
      // An unusable CA file fails when the Client is made.
      ClientOptions bad = tls_client(transport);
      bad.tls_ca_file = "/nonexistent/ca.pem";
      REQUIRE_THROWS_AS(khz::Client(bad), std::invalid_argument);
    }
  }
}

TEST_CASE("client https: the system CA store is loaded by the first connection that verifies, not by the Client") {
  // OpenSSL's default paths honour SSL_CERT_FILE: made the test CA, it plays the system store.
  const auto& pki = khz::test::TestPki::get();
  const std::string transport = khz::test::transports().front();
  TestServer s(transport, tls_server_options());
  Peers peers;
  add_routes(s.server, peers);
  s.start();
  ClientOptions o = tls_client(transport);
  o.tls_ca_file.clear();  // the system store only
  EnvVar missing("SSL_CERT_FILE", pki.dir + "/no-such-file.pem");
  BlockingClient c(o);  // nothing loaded yet: the variable still points nowhere
  EnvVar test_ca("SSL_CERT_FILE", pki.ca_cert);
  auto r = c.get(https_url(s.port(), "/ping"));
  REQUIRE(r);
  REQUIRE(r->body() == "pong");
}

TEST_CASE("client https: the server closes an idle TLS connection; the next request uses a new one") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Peers peers;
      khz::ServerOptions so = tls_server_options();
      so.idle_timeout = 100ms;
      TestServer s(transport, so);
      add_routes(s.server, peers);
      s.start();
      BlockingClient c(tls_client(transport));
      REQUIRE(c.get(https_url(s.port(), "/ping"))->body() == "pong");
      std::this_thread::sleep_for(400ms);  // the server closed the pooled connection meanwhile
      auto r = c.get(https_url(s.port(), "/ping"));
      REQUIRE(r);
      REQUIRE(r->body() == "pong");
      REQUIRE(peers.count() == 2);
    }
  }
}

TEST_CASE("client https: the handshake timeout against a server that never answers") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      ScriptServer silent([](ScriptServer::Peer& p) { p.hold(3s); });
      ClientOptions o = tls_client(transport);
      o.tls_handshake_timeout = 300ms;
      BlockingClient c(o);
      auto start = std::chrono::steady_clock::now();
      auto r = c.get(https_url(silent.port(), "/"));
      auto took = std::chrono::steady_clock::now() - start;
      REQUIRE_FALSE(r);
      REQUIRE(r.error() == khz::transport::errc::timed_out);
      REQUIRE(took >= 250ms);
      REQUIRE(took < 2s);

      // total_timeout bounds the handshake too.
      ClientOptions total = tls_client(transport);
      total.tls_handshake_timeout = 10s;
      total.total_timeout = 300ms;
      BlockingClient c2(total);
      start = std::chrono::steady_clock::now();
      auto r2 = c2.get(https_url(silent.port(), "/"));
      took = std::chrono::steady_clock::now() - start;
      REQUIRE_FALSE(r2);
      REQUIRE(r2.error() == khz::transport::errc::timed_out);
      REQUIRE(took < 2s);
    }
  }
}

TEST_CASE("client https: a client certificate when the server requires one") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      const auto& pki = TestPki::get();
      Peers peers;
      khz::ServerOptions so = tls_server_options();
      so.tls_client_ca_file = pki.ca_cert;
      so.tls_client_verify = khz::transport::ClientCertMode::require;
      TestServer s(transport, so);
      add_routes(s.server, peers);
      s.start();
      ClientOptions o = tls_client(transport);
      o.tls_client_cert_file = pki.client_cert;
      o.tls_client_key_file = pki.client_key;
      BlockingClient with(o);
      auto r = with.get(https_url(s.port(), "/ping"));
      REQUIRE(r);
      REQUIRE(r->body() == "pong");
      BlockingClient without(tls_client(transport));
      REQUIRE_FALSE(without.get(https_url(s.port(), "/ping")));
    }
  }
}

TEST_CASE("client https: through an HTTP proxy with CONNECT (options, HTTPS_PROXY, NO_PROXY)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Peers peers;
      TestServer s(transport, tls_server_options());
      add_routes(s.server, peers);
      s.start();
      const std::string authority = "localhost:" + std::to_string(s.port());
      {
        ConnectProxy proxy;
        ClientOptions o = tls_client(transport);
        o.proxy = "http://127.0.0.1:" + std::to_string(proxy.server.port());
        BlockingClient c(o);
        for (int i = 0; i < 3; ++i) {
          auto r = c.get(https_url(s.port(), "/ping"));
          REQUIRE(r);
          REQUIRE(r->body() == "pong");
        }
        REQUIRE(proxy.count() == 1);  // one tunnel, kept alive
        REQUIRE(proxy.first() == "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
        // HTTP/2 negotiated by ALPN inside the tunnel (TLS end to end with the origin).
        ConnectProxy proxy2;
        ClientOptions o2 = o;
        o2.http2 = true;
        o2.proxy = "http://127.0.0.1:" + std::to_string(proxy2.server.port());
        BlockingClient c2(o2);
        for (int i = 0; i < 3; ++i) {
          auto r = c2.get(https_url(s.port(), "/ping"));
          REQUIRE(r);
          REQUIRE(r->body() == "pong");
          REQUIRE(r->version() == khz::Version::http2);
        }
        REQUIRE(proxy2.count() == 1);  // one tunnel, one multiplexed connection
        std::size_t open = 0;
        c.run([&]() -> khz::Task<void> {
          open = c.client().open_connections("https://" + authority);
          co_return;
        });
        REQUIRE(open == 1);
      }
      {
        ConnectProxy proxy;
        EnvVar env("HTTPS_PROXY", "127.0.0.1:" + std::to_string(proxy.server.port()));
        ClientOptions o = tls_client(transport);
        o.proxy_from_environment = true;
        BlockingClient c(o);
        auto r = c.get(https_url(s.port(), "/ping"));
        REQUIRE(r);
        REQUIRE(proxy.count() == 1);
        EnvVar no("NO_PROXY", "example.com,localhost");
        BlockingClient direct(o);
        auto d = direct.get(https_url(s.port(), "/ping"));
        REQUIRE(d);
        REQUIRE(proxy.count() == 1);  // NO_PROXY: dialled directly
      }
      {
        ScriptServer refusing([](ScriptServer::Peer& p) {
          p.read_head();
          p.send("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        });
        ClientOptions o = tls_client(transport);
        o.proxy = "127.0.0.1:" + std::to_string(refusing.port());
        BlockingClient c(o);
        auto r = c.get(https_url(s.port(), "/ping"));
        REQUIRE_FALSE(r);
        REQUIRE(r.error() == khz::client::errc::proxy_refused);
      }
    }
  }
}

TEST_CASE("client https: redirects between http and https drop credentials") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Peers peers;
      TestServer tls(transport, tls_server_options());
      add_routes(tls.server, peers);
      tls.start();
      TestServer plain(transport);
      const std::string to_https = https_url(tls.port(), "/echo");
      plain.server.get("/go", [&](khz::RequestContext& c) { c.redirect(302, to_https); });
      plain.server.get("/echo", [](khz::RequestContext& c) {
        c.set_header("X-Auth", c.header("Authorization"));
        c.string(200, "plain echo");
      });
      plain.start();
      const std::string to_http = "http://localhost:" + std::to_string(plain.port()) + "/echo";
      tls.server.get("/back", [&](khz::RequestContext& c) { c.redirect(301, to_http); });

      BlockingClient c(tls_client(transport));
      khz::ClientRequest req;
      req.url = "http://localhost:" + std::to_string(plain.port()) + "/go";
      req.headers.add("Authorization", "Bearer secret");
      req.headers.add("Cookie", "a=b");
      auto r = c.send(req);
      REQUIRE(r);
      REQUIRE(r->status() == 200);
      REQUIRE(r->body() == "echo");         // served over https
      REQUIRE(r->header("X-Auth").empty());  // another scheme and port: credentials dropped
      REQUIRE(r->header("X-Cookie").empty());

      khz::ClientRequest back;
      back.url = https_url(tls.port(), "/back");
      back.headers.add("Authorization", "Bearer secret");
      auto b = c.send(back);
      REQUIRE(b);
      REQUIRE(b->body() == "plain echo");
      REQUIRE(b->header("X-Auth").empty());
    }
  }
}
