// SPDX-License-Identifier: Apache-2.0
// Sessions on the wire with the cookie store: curl keeps a cookie jar across requests, on each
// transport, over HTTP/1.1, h2c and TLS (h2 and http/1.1 by ALPN; the cookie Secure).
#include <khz/app/server.h>
#include <khz/middleware/session.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <filesystem>
#include <string>

using khz::test::run_command;
using khz::test::TestPki;
using khz::test::TestServer;

namespace {

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

void add_routes(khz::Server& s) {
  s.post("/login", [](khz::RequestContext& c) {
    auto& session = khz::middleware::session(c);
    session.regenerate();
    session.set("user", std::string(c.query("user")));
    c.string(200, "welcome");
  });
  s.get("/me", [](khz::RequestContext& c) {
    const std::string* user = khz::middleware::session(c).get("user");
    c.string(200, "user=" + (user != nullptr ? *user : std::string("nobody")));
  });
  s.post("/logout", [](khz::RequestContext& c) {
    khz::middleware::session(c).destroy();
    c.string(200, "bye");
  });
  // A streamed response: the session is saved before the head goes out.
  s.get("/stream", [](khz::RequestContext& c) -> khz::Task<> {
    auto& session = khz::middleware::session(c);
    session.set("streamed", "yes");
    const bool saved = co_await session.save();
    const bool a = co_await c.write(saved ? "saved;" : "not saved;");
    const bool b = a && co_await c.write("done");
    (void)b;
  });
  // Changed after the head went out: not saved, and said so.
  s.get("/late", [](khz::RequestContext& c) -> khz::Task<> {
    const bool a = co_await c.write("late;");
    (void)a;
    khz::middleware::session(c).set("streamed", "late");
  });
  s.get("/streamed", [](khz::RequestContext& c) {
    const std::string* v = khz::middleware::session(c).get("streamed");
    c.string(200, "streamed=" + (v != nullptr ? *v : std::string("no")));
  });
}

// Runs the login / me / stream / logout sequence through curl with `base` (a curl command
// line ending in the scheme://host:port) and its cookie jar.
void run_sequence(const std::string& base_cmd, const std::string& origin, const std::string& jar) {
  std::filesystem::remove(jar);
  auto curl = [&](const std::string& method, const std::string& path) {
    return run_command(base_cmd + " -b " + jar + " -c " + jar + " -X " + method + " '" + origin + path + "' 2>&1").output;
  };
  REQUIRE(contains(curl("GET", "/me"), "user=nobody"));
  const std::string login = curl("POST", "/login?user=ann");
  CAPTURE(login);
  REQUIRE(contains(login, "welcome"));
  REQUIRE(contains(login, "khz_session="));
  REQUIRE(contains(curl("GET", "/me"), "user=ann"));
  REQUIRE(contains(curl("GET", "/stream"), "saved;done"));
  REQUIRE(contains(curl("GET", "/streamed"), "streamed=yes"));
  {
    khz::test::LogCapture log;
    REQUIRE(contains(curl("GET", "/late"), "late;"));
    REQUIRE(contains(log.text(), "session: GET /late: changed after the streamed response began, not saved"));
  }
  REQUIRE(contains(curl("GET", "/streamed"), "streamed=yes"));
  REQUIRE(contains(curl("GET", "/me"), "user=ann"));
  REQUIRE(contains(curl("POST", "/logout"), "bye"));
  REQUIRE(contains(curl("GET", "/me"), "user=nobody"));
}

}  // namespace

TEST_CASE("session (cookie store) on the wire: HTTP/1.1 and h2c") {
  const std::string jar = TestPki::get().dir + "/session-jar";
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport);
      s.server.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {std::string(32, 'k')}}),
                                             .cookie = {.secure = false}}));
      add_routes(s.server);
      s.start();
      for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
        CAPTURE(version);
        run_sequence("curl -sS -v --max-time 10 " + version, "http://127.0.0.1:" + std::to_string(s.port()), jar);
      }
    }
  }
}

TEST_CASE("session (cookie store) on the wire: over TLS with a Secure cookie") {
  const auto& pki = TestPki::get();
  const std::string jar = pki.dir + "/session-jar-tls";
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, {.tls_cert_file = pki.alpha_cert, .tls_key_file = pki.alpha_key});
      s.server.use(khz::middleware::session({.store = khz::middleware::cookie_store({.keys = {std::string(32, 'k')}})}));
      add_routes(s.server);
      s.start();
      const std::string p = std::to_string(s.port());
      for (const std::string version : {"--http1.1", "--http2"}) {
        CAPTURE(version);
        run_sequence("curl -sS -v --max-time 10 --cacert " + pki.ca_cert + " --resolve alpha.test:" + p + ":127.0.0.1 " + version,
                     "https://alpha.test:" + p, jar);
      }
    }
  }
}
