// SPDX-License-Identifier: Apache-2.0
// The middleware on the wire: a typical stack on a real server, on each transport, over
// HTTP/1.1, h2c and TLS (h2 and http/1.1 by ALPN), driven by curl.
#include <khz/app/server.h>
#include <khz/middleware/cors.h>
#include <khz/middleware/https_redirect.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/request_id.h>
#include <khz/middleware/secure_headers.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <stdexcept>
#include <string>

using khz::test::run_command;
using khz::test::TestPki;
using khz::test::TestServer;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void add_stack(khz::Server& s) {
  s.use(khz::middleware::recovery({.stack_trace = false}),
        khz::middleware::request_id(),
        khz::middleware::cors({.allow_origins = {"https://app.example"}, .expose_headers = {"X-Request-ID"}}),
        khz::middleware::secure_headers());
  s.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
  s.get("/boom", [](khz::RequestContext&) { throw std::runtime_error("boom"); });
}

// curl's verbose output (the response head lines start with "< "), lower-cased header names
// are what HTTP/2 sends, so the checks below compare in lower case.
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

std::string curl_plain(std::uint16_t port, const std::string& path, const std::string& extra) {
  return lower(run_command("curl -sS -v --max-time 10 " + extra + " http://127.0.0.1:" + std::to_string(port) + path +
                           " 2>&1").output);
}

std::string curl_tls(std::uint16_t port, const std::string& path, const std::string& extra) {
  const auto& pki = TestPki::get();
  const std::string p = std::to_string(port);
  return lower(run_command("curl -sS -v --max-time 10 --cacert " + pki.ca_cert + " --resolve alpha.test:" + p +
                           ":127.0.0.1 " + extra + " https://alpha.test:" + p + path + " 2>&1").output);
}

}  // namespace

TEST_CASE("middleware stack on the wire: HTTP/1.1 and h2c") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport);
      add_stack(s.server);
      s.server.use(khz::middleware::https_redirect({.skip_path_prefixes = {"/ping", "/boom"}}));
      s.server.get("/secure", [](khz::RequestContext& c) { c.string(200, "secret"); });
      s.start();
      for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
        CAPTURE(version);
        const std::string ok = curl_plain(s.port(), "/ping", version + " -H 'Origin: https://app.example' -H 'X-Request-ID: wire-1'");
        CAPTURE(ok);
        REQUIRE(contains(ok, " 200"));
        REQUIRE(contains(ok, "< x-request-id: wire-1"));
        REQUIRE(contains(ok, "< access-control-allow-origin: https://app.example"));
        REQUIRE(contains(ok, "< access-control-expose-headers: x-request-id"));
        REQUIRE(contains(ok, "< vary: origin"));
        REQUIRE(contains(ok, "< x-content-type-options: nosniff"));
        REQUIRE_FALSE(contains(ok, "strict-transport-security"));  // plain http
        REQUIRE(contains(ok, "pong"));

        const std::string pre = curl_plain(s.port(), "/ping", version + " -X OPTIONS -H 'Origin: https://app.example'"
                                                              " -H 'Access-Control-Request-Method: GET'"
                                                              " -H 'Access-Control-Request-Headers: content-type'");
        CAPTURE(pre);
        REQUIRE(contains(pre, " 204"));
        REQUIRE(contains(pre, "< access-control-allow-methods: get, head, put, patch, post, delete"));
        REQUIRE(contains(pre, "< access-control-allow-headers: accept"));

        const std::string refused = curl_plain(s.port(), "/ping", version + " -H 'Origin: https://app.example.evil'");
        REQUIRE(contains(refused, " 403"));
        REQUIRE_FALSE(contains(refused, "access-control-allow-origin"));

        const std::string boom = curl_plain(s.port(), "/boom", version + " -H 'Origin: https://app.example'");
        CAPTURE(boom);
        REQUIRE(contains(boom, " 500"));
        REQUIRE(contains(boom, "< x-request-id: "));
        REQUIRE(contains(boom, "< access-control-allow-origin: https://app.example"));
        REQUIRE(contains(boom, "< x-frame-options: sameorigin"));
        REQUIRE(contains(boom, "500 internal server error"));

        const std::string moved = curl_plain(s.port(), "/secure?a=1", version);
        CAPTURE(moved);
        REQUIRE(contains(moved, " 301"));
        REQUIRE(contains(moved, "< location: https://127.0.0.1/secure?a=1"));
      }
    }
  }
}

TEST_CASE("middleware stack on the wire: over TLS, HSTS is sent and nothing is redirected") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      const auto& pki = TestPki::get();
      TestServer s(transport, {.tls_cert_file = pki.alpha_cert, .tls_key_file = pki.alpha_key});
      add_stack(s.server);
      s.server.use(khz::middleware::https_redirect());
      s.server.get("/secure", [](khz::RequestContext& c) { c.string(200, c.is_tls() ? "over tls" : "plain"); });
      s.start();
      for (const std::string version : {"--http1.1", "--http2"}) {
        CAPTURE(version);
        const std::string out = curl_tls(s.port(), "/secure", version);
        CAPTURE(out);
        REQUIRE(contains(out, " 200"));
        REQUIRE(contains(out, "over tls"));
        REQUIRE(contains(out, "< strict-transport-security: max-age=31536000; includesubdomains"));
        REQUIRE(contains(out, version == "--http2" ? "< http/2 200" : "< http/1.1 200"));
      }
    }
  }
}

TEST_CASE("a route group's body limit on the wire: 413 above it, over HTTP/1.1 (curl) and h2c (nghttp)") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport);
      auto api = s.server.group("/api").max_body_bytes(10);
      api.post("/echo", [](khz::RequestContext& c) { c.string(200, std::to_string(c.body().size())); });
      s.server.post("/open", [](khz::RequestContext& c) { c.string(200, std::to_string(c.body().size())); });
      s.start();
      REQUIRE(contains(curl_plain(s.port(), "/api/echo", "--http1.1 -d 0123456789"), "< http/1.1 200"));
      REQUIRE(contains(curl_plain(s.port(), "/api/echo", "--http1.1 -d 0123456789X"), "< http/1.1 413"));
      REQUIRE(contains(curl_plain(s.port(), "/open", "--http1.1 -d 0123456789X"), "< http/1.1 200"));
      // Over HTTP/2 the 413 goes out before the body is read, then RST_STREAM(NO_ERROR) stops
      // the upload (RFC 9113 §8.1); nghttp shows the answer (curl 7.88 often drops it).
      const std::string dir = khz::test::TestPki::get().dir;
      run_command("printf 0123456789 > " + dir + "/ten; printf 0123456789X > " + dir + "/eleven");
      auto nghttp = [&](const std::string& path, const std::string& file) {
        return run_command("nghttp -v -d " + dir + "/" + file + " http://127.0.0.1:" + std::to_string(s.port()) + path +
                           " 2>&1").output;
      };
      REQUIRE(contains(nghttp("/api/echo", "ten"), ":status: 200"));
      const std::string over = nghttp("/api/echo", "eleven");
      CAPTURE(over);
      REQUIRE(contains(over, ":status: 413"));
      REQUIRE(contains(nghttp("/open", "eleven"), ":status: 200"));
    }
  }
}
