// SPDX-License-Identifier: Apache-2.0
// Request smuggling and framing (RFC 9110/9112), one row per rule: raw bytes in; status and
// connection state out. Each request carries a second, smuggled request behind it; a framing
// error must close the connection without ever answering that one.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <string>

using khz::test::RawClient;
using khz::test::status_of;

namespace {

const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";

struct Rule {
  const char* rule;
  std::string request;
  int status;
};

const Rule kRejected[] = {
    // Content-Length and Transfer-Encoding
    {"CL with TE", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    {"TE with CL", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
    {"two differing CL", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
    {"two equal CL", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400},
    {"CL list", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 2, 2\r\n\r\nab", 400},
    {"CL empty", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n", 400},
    {"CL with sign", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: +2\r\n\r\nab", 400},
    {"CL negative", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: -2\r\n\r\nab", 400},
    {"CL overflow", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 184467440737095516160\r\n\r\n", 400},
    {"CL hex", "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 0x2\r\n\r\nab", 400},
    // Transfer-Encoding
    {"TE final not chunked", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nab", 400},
    {"TE chunked then gzip", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
    {"TE unknown coding", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501},
    {"TE unimplemented coding", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
    {"TE identity", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n", 501},
    {"TE in HTTP/1.0", "POST /e HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    // RFC 9110 §9.3.6: a CONNECT request has no content, and llhttp reads none after its head.
    // A front end that honours the Content-Length takes the smuggled request behind it for the
    // CONNECT's body; before the refusal, khz answered the CONNECT and then served it.
    {"CONNECT with Content-Length", "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\nContent-Length: 35\r\n\r\n", 400},
    {"CONNECT with Transfer-Encoding", "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    {"TE chunked twice", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    // Chunked framing
    {"chunk size not hex", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400},
    {"chunk size negative", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nab\r\n0\r\n\r\n", 400},
    {"chunk size overflow", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nab\r\n", 400},
    {"chunk size with space", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nab\r\n0\r\n\r\n", 400},
    {"chunk extension control char", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;\x01\r\nab\r\n0\r\n\r\n", 400},
    {"chunk data without CRLF", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n", 400},
    // llhttp 8.1 alone takes "XY" as the CRLF and answers 200 with body "ab".
    {"chunk data then two other bytes", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n", 400},
    {"chunk data then CR and another byte", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\rX0\r\n\r\n", 400},
    {"chunk bare LF", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\n0\n\n", 400},
    // Field syntax
    {"obs-fold", "GET /e HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400},
    {"space before colon", "GET /e HTTP/1.1\r\nHost: t\r\nX-A : a\r\n\r\n", 400},
    {"space in field name", "GET /e HTTP/1.1\r\nHost: t\r\nX A: a\r\n\r\n", 400},
    {"empty field name", "GET /e HTTP/1.1\r\nHost: t\r\n: a\r\n\r\n", 400},
    {"CR in value", "GET /e HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400},
    // llhttp 8.1 alone reads these as an empty X-A and drops the "E" (the CVE-2023-30589 kind).
    {"CR where the value starts", "GET /e HTTP/1.1\r\nHost: t\r\nX-A:\rE\r\n\r\n", 400},
    {"CR after the OWS", "GET /e HTTP/1.1\r\nHost: t\r\nX-A: \rE\r\n\r\n", 400},
    {"NUL in value", std::string("GET /e HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n", 39), 400},
    {"control char in value", "GET /e HTTP/1.1\r\nHost: t\r\nX-A: a\x01" "b\r\n\r\n", 400},
    {"DEL in value", "GET /e HTTP/1.1\r\nHost: t\r\nX-A: a\x7f\r\n\r\n", 400},
    {"bare LF after a field", "GET /e HTTP/1.1\r\nHost: t\nX-A: a\r\n\r\n", 400},
    {"bare LF after the request line", "GET /e HTTP/1.1\nHost: t\r\n\r\n", 400},
    // Request line
    {"bad method token", "G(T /e HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    // (An unknown but well-formed method is framed like any other: 501 on a connection that
    // stays usable, http1_test.cc.)
    {"fragment in the target", "GET /e#frag HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"CR after the version", "GET /e HTTP/1.1\rHost: t\r\n\r\n", 400},
    // llhttp 8.1 alone takes "\rX" as the end of the header section.
    {"CR then another byte ending the head", "GET /e HTTP/1.1\r\nHost: t\r\n\rX", 400},
    {"double space", "GET  /e HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"space in target", "GET /e x HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"authority form with GET", "GET t:80 HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"asterisk with GET", "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"HTTP/2.0 request line", "GET /e HTTP/2.0\r\nHost: t\r\n\r\n", 505},
    {"HTTP/1.2", "GET /e HTTP/1.2\r\nHost: t\r\n\r\n", 505},
    {"HTTP/0.9", "GET /e HTTP/0.9\r\n\r\n", 505},
    {"HTTP/3.0", "GET /e HTTP/3.0\r\nHost: t\r\n\r\n", 505},
    // Host
    {"HTTP/1.1 without Host", "GET /e HTTP/1.1\r\nX: y\r\n\r\n", 400},
    {"repeated Host", "GET /e HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 400},
    // RFC 9110 §4.2.1: an http URI has a non-empty host, so an empty Host names no valid target.
    {"empty Host", "GET /host HTTP/1.1\r\nHost:\r\n\r\n", 400},
    {"Host with a space", "GET /e HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    {"Host with a port out of range", "GET /e HTTP/1.1\r\nHost: t:65536\r\n\r\n", 400},
    {"Host with a path", "GET /e HTTP/1.1\r\nHost: t/x\r\n\r\n", 400},
};

struct Accepted {
  const char* rule;
  std::string request;
  const char* body;  // what the echo handler answers
};

const Accepted kAccepted[] = {
    {"leading empty lines are ignored", "\r\n\r\nGET /host HTTP/1.1\r\nHost: t\r\n\r\n", "t"},
    {"a leading bare LF is an empty line", "\nGET /host HTTP/1.1\r\nHost: t\r\n\r\n", "t"},
    {"absolute form: host from the target", "GET http://target.example/host HTTP/1.1\r\nHost: other\r\n\r\n", "target.example"},
    {"HTAB and obs-text in a value", "GET /hdr HTTP/1.1\r\nHost: t\r\nX-A: a\tb\xe9\r\n\r\n", "a\tb\xe9"},
    {"chunk extensions", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nab\r\n0\r\n\r\n", "ab"},
    {"chunked coding name is case-insensitive", "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", "ab"},
    {"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", "options"},
    {"HTAB around a Transfer-Encoding value (OWS, RFC 9110 §5.6.3)",
     "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\tchunked\t\r\n\r\n2\r\nab\r\n0\r\n\r\n", "ab"},
    {"Host with an IPv6 literal and a port", "GET /host HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "[::1]:8080"},
    {"trailers are read after the body, not as headers",
     "POST /trailer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-Checksum: 42\r\nHost: evil\r\n\r\n",
     "ab|42|t"},
};

void add_routes(khz::Server& s) {
  s.post("/e", [](khz::RequestContext& c) { c.data(200, "text/plain", c.body()); });
  s.get("/e", [](khz::RequestContext& c) { c.string(200, "e"); });
  s.get("/smuggled", [](khz::RequestContext& c) { c.string(200, "SMUGGLED"); });
  s.get("/host", [](khz::RequestContext& c) { c.string(200, std::string(c.request().host())); });
  s.get("/hdr", [](khz::RequestContext& c) { c.string(200, std::string(c.header("X-A"))); });
  s.options("/", [](khz::RequestContext& c) { c.string(200, "options"); });
  s.post("/trailer", [](khz::RequestContext& c) {
    c.string(200, std::string(c.body()) + "|" + std::string(c.request().trailers().get("X-Checksum")) + "|" +
                      std::string(c.header("Host")));
  });
}

}  // namespace

TEST_CASE("smuggling: every framing violation is refused and the connection closed") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport);
      add_routes(ts.server);
      ts.start();
      for (const auto& rule : kRejected) {
        CAPTURE(rule.rule);
        RawClient c(ts.port());
        c.send(rule.request + kSmuggled);
        std::string all = c.read_until_close();  // returns once the server closes
        REQUIRE(status_of(all) == rule.status);
        REQUIRE(khz::test::header_of(all, "Connection") == "close");
        REQUIRE(all.find("SMUGGLED") == std::string::npos);
        REQUIRE(all.find("HTTP/1.1", 1) == std::string::npos);  // exactly one response
      }
    }
  }
}

TEST_CASE("smuggling: what RFC 9112 allows is accepted, and the connection stays usable") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport);
      add_routes(ts.server);
      ts.start();
      for (const auto& rule : kAccepted) {
        CAPTURE(rule.rule);
        RawClient c(ts.port());
        c.send(rule.request + kSmuggled);
        std::string first = c.read_response();
        REQUIRE(status_of(first) == 200);
        REQUIRE(khz::test::body_of(first) == rule.body);
        // The next request on the connection is framed where the first one ended.
        REQUIRE(khz::test::body_of(c.read_response()) == "SMUGGLED");
      }
    }
  }
}

TEST_CASE("response splitting: a header value with CR or LF never reaches the wire") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport);
      ts.server.get("/inject", [](khz::RequestContext& c) {
        c.response().headers().add("X-Echo", c.query("v"));
        c.string(200, "ok");
      });
      ts.start();
      RawClient c(ts.port());
      c.send("GET /inject?v=a%0D%0ASet-Cookie:%20evil=1 HTTP/1.1\r\nHost: t\r\n\r\n");
      std::string first = c.read_response();
      CAPTURE(first);
      REQUIRE(first.find("\r\nSet-Cookie") == std::string::npos);
      REQUIRE(first.find("evil") == std::string::npos);
    }
  }
}

TEST_CASE("handler statuses that cannot be final are answered 500, buffered and streamed") {
  // A 1xx as the final status left the client waiting for the real answer (curl timed out);
  // 42 or 1000 made a status line without three digits.
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport);
      ts.server.get("/status/:n", [](khz::RequestContext& c) {
        c.set_status(std::stoi(std::string(c.param("n"))));
        c.response().set_body("x");
      });
      ts.server.get("/streamed/:n", [](khz::RequestContext& c) -> khz::Task<> {
        c.set_status(std::stoi(std::string(c.param("n"))));
        co_await c.write("x");
      });
      // A hand-over under a status that is not 101 or final: the 500 hands nothing over.
      ts.server.get("/hijack/:n", [](khz::RequestContext& c) {
        c.set_status(std::stoi(std::string(c.param("n"))));
        c.hijack([](khz::transport::Connection& conn) -> khz::Task<void> {
          conn.output().append("HIJACKED");
          (void)co_await conn.flush();
        });
      });
      ts.start();
      RawClient c(ts.port());
      for (std::string route : {"/status/", "/streamed/", "/hijack/"}) {
        for (int status : {100, 103, 199, 42, 0, -5, 1000}) {
          CAPTURE(route, status);
          c.send("GET " + route + std::to_string(status) + " HTTP/1.1\r\nHost: t\r\n\r\n");
          std::string r = c.read_response();
          REQUIRE(status_of(r) == 500);
        }
        if (route == "/hijack/") continue;  // a 204 there would hand the connection over
        c.send("GET " + route + "204 HTTP/1.1\r\nHost: t\r\n\r\n");  // the connection goes on
        REQUIRE(status_of(c.read_response()) == 204);
      }
    }
  }
}
