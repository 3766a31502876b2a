// SPDX-License-Identifier: Apache-2.0
// HTTP/1.1 end to end, on every transport: curl and raw sockets against a real server.
#include <khz/app/server.h>
#include <khz/common/event_loop.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <chrono>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using khz::test::body_of;
using khz::test::header_of;
using khz::test::RawClient;
using khz::test::run_command;
using khz::test::status_of;

namespace {

void add_routes(khz::Server& s) {
  auto ping = [](khz::RequestContext& c) { c.json(200, khz::H{{"message", "pong"}}); };
  s.get("/ping", ping);
  s.head("/ping", ping);
  s.get("/slow/:ms", [](khz::RequestContext& c) -> khz::Task<> {
    co_await khz::sleep_for(std::chrono::milliseconds(std::stoi(std::string(c.param("ms")))));
    c.string(200, "slept " + std::string(c.param("ms")));
  });
  s.post("/echo", [](khz::RequestContext& c) { c.data(200, "application/octet-stream", c.body()); });
  s.get("/stream", [](khz::RequestContext& c) -> khz::Task<> {
    for (int i = 0; i < 3; ++i) {
      if (!co_await c.write("part" + std::to_string(i) + ";")) co_return;
    }
  });
  s.handle("PURGE", "/cache/*key", [](khz::RequestContext& c) {
    c.string(200, std::string(c.request().method()) + " " + std::string(c.param("key")));
  });
  s.get("/close", [](khz::RequestContext& c) {
    c.set_header("Connection", "close");
    c.string(200, "bye");
  });
}

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

}  // namespace

TEST_CASE("http1 end to end") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.header_timeout = 1s, .read_timeout = 1s, .max_uri_bytes = 1024, .max_header_bytes = 4096,
                                           .max_body_bytes = 64 * 1024});
      add_routes(ts.server);
      ts.start();
      const auto port = ts.port();

      SECTION("curl: GET /ping") {
        auto r = run_command("curl -s -i " + ts.url("/ping"));
        REQUIRE(r.status == 0);
        REQUIRE(status_of(r.output) == 200);
        REQUIRE(body_of(r.output) == R"({"message":"pong"})");
        REQUIRE(header_of(r.output, "Server") == "khz");
        REQUIRE_FALSE(header_of(r.output, "Date").empty());
      }

      SECTION("curl: keep-alive reuses one connection") {
        auto r = run_command("curl -sv " + ts.url("/ping") + " " + ts.url("/ping") + " 2>&1");
        REQUIRE(r.status == 0);
        REQUIRE(r.output.find("Re-using existing connection") != std::string::npos);
      }

      SECTION("curl: chunked upload and Content-Length upload echo back") {
        auto chunked = run_command("printf 'abc%.0s' $(seq 1000) | curl -s -H 'Transfer-Encoding: chunked' "
                                   "--data-binary @- " + ts.url("/echo"));
        REQUIRE(chunked.output == [] {
          std::string s;
          for (int i = 0; i < 1000; ++i) s += "abc";
          return s;
        }());
        auto plain = run_command("curl -s --data-binary 'hello there' " + ts.url("/echo"));
        REQUIRE(plain.output == "hello there");
      }

      SECTION("curl: chunked response") {
        auto r = run_command("curl -s --raw -i " + ts.url("/stream"));
        REQUIRE(header_of(r.output, "Transfer-Encoding") == "chunked");
        REQUIRE(body_of(r.output) == "part0;part1;part2;");
        REQUIRE(r.output.find("\r\n0\r\n\r\n") != std::string::npos);
      }

      SECTION("raw: keep-alive serves several requests on one connection") {
        RawClient c(port);
        for (int i = 0; i < 3; ++i) {
          c.send(get("/ping"));
          auto r = c.read_response();
          REQUIRE(status_of(r) == 200);
          REQUIRE(body_of(r) == R"({"message":"pong"})");
        }
      }

      SECTION("raw: an idle keep-alive connection takes requests of any length, whole or in pieces") {
        // The idle wait reads into a small buffer of the connection's own (asio: 512 bytes): a
        // request just under, at and over that size, a long one, and one sent in pieces, each
        // after the connection went idle.
        RawClient c(port);
        auto post = [](std::size_t total) {
          std::string head = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: ";
          std::string tail = "\r\n\r\n";
          std::size_t digits = 3;  // bodies here are 100..999 bytes
          std::size_t body = total - head.size() - digits - tail.size();
          REQUIRE(std::to_string(body).size() == digits);
          std::string r = head + std::to_string(body) + tail;
          for (std::size_t i = 0; i < body; ++i) r += static_cast<char>('a' + i % 26);
          REQUIRE(r.size() == total);
          return r;
        };
        for (std::size_t total : {511u, 512u, 513u, 1024u, 1050u}) {
          std::this_thread::sleep_for(20ms);  // idle again
          std::string request = post(total);
          c.send(request);
          auto r = c.read_response();
          REQUIRE(status_of(r) == 200);
          REQUIRE(body_of(r) == request.substr(request.find("\r\n\r\n") + 4));
        }
        std::this_thread::sleep_for(20ms);
        std::string request = post(700);
        c.send(request.substr(0, 5));
        std::this_thread::sleep_for(20ms);
        c.send(request.substr(5, 600));
        std::this_thread::sleep_for(20ms);
        c.send(request.substr(605));
        auto r = c.read_response();
        REQUIRE(status_of(r) == 200);
        REQUIRE(body_of(r).size() == 700 - request.find("\r\n\r\n") - 4);
        // A pipelined batch longer than the first read, after idling: every response, in order.
        std::this_thread::sleep_for(20ms);
        std::string batch;
        for (int i = 0; i < 40; ++i) batch += get("/slow/" + std::to_string(i % 3));
        REQUIRE(batch.size() > 1024);
        c.send(batch);
        for (int i = 0; i < 40; ++i) REQUIRE(body_of(c.read_response()) == "slept " + std::to_string(i % 3));
      }

      SECTION("raw: pipelined responses come back in request order") {
        RawClient c(port);
        c.send(get("/slow/150") + get("/slow/1") + get("/ping") + get("/slow/20"));
        REQUIRE(body_of(c.read_response()) == "slept 150");
        REQUIRE(body_of(c.read_response()) == "slept 1");
        REQUIRE(body_of(c.read_response()) == R"({"message":"pong"})");
        REQUIRE(body_of(c.read_response()) == "slept 20");
      }

      SECTION("raw: HEAD gets the headers of GET and no body") {
        RawClient c(port);
        c.send("HEAD /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        std::string head = c.read_response(true);  // framed by its head alone: HEAD has no body...
        REQUIRE(status_of(head) == 200);
        REQUIRE(header_of(head, "Content-Length") == "18");
        c.send(get("/ping"));
        std::string next = c.read_response();  // ...which the next response proves: no stray bytes
        REQUIRE(next.rfind("HTTP/1.1 200 OK", 0) == 0);
        REQUIRE(body_of(next) == R"({"message":"pong"})");
      }

      SECTION("raw: HTTP/1.0 closes by default and keeps alive on request") {
        {
          RawClient c(port);
          c.send("GET /ping HTTP/1.0\r\n\r\n");
          std::string all = c.read_until_close();
          REQUIRE(status_of(all) == 200);
          REQUIRE(all.rfind("HTTP/1.0 200 OK", 0) == 0);
          REQUIRE(header_of(all, "Connection") == "close");
        }
        {
          RawClient c(port);
          c.send("GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
          auto r = c.read_response();
          REQUIRE(header_of(r, "Connection") == "keep-alive");
          c.send("GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
          REQUIRE(status_of(c.read_response()) == 200);
        }
        {
          RawClient c(port);  // HTTP/1.0 stream: no chunked framing, the close ends the body
          c.send("GET /stream HTTP/1.0\r\n\r\n");
          std::string all = c.read_until_close();
          REQUIRE(header_of(all, "Transfer-Encoding").empty());
          REQUIRE(body_of(all) == "part0;part1;part2;");
        }
      }

      SECTION("raw: Connection: close from the client or the handler closes after the response") {
        RawClient a(port);
        a.send(get("/ping", "Connection: close\r\n"));
        std::string all = a.read_until_close();
        REQUIRE(status_of(all) == 200);
        REQUIRE(header_of(all, "Connection") == "close");
        RawClient b(port);
        b.send(get("/close"));
        std::string closed = b.read_until_close();
        REQUIRE(body_of(closed) == "bye");
        REQUIRE(header_of(closed, "Connection") == "close");
      }

      SECTION("raw: Expect: 100-continue") {
        RawClient c(port);
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        auto interim = c.read_response();
        REQUIRE(status_of(interim) == 100);
        c.send("hello");
        auto r = c.read_response();
        REQUIRE(status_of(r) == 200);
        REQUIRE(body_of(r) == "hello");
        // A body over the limit: 413 straight away, no 100, and the connection closes.
        RawClient d(port);
        d.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n");
        std::string refused = d.read_until_close();
        REQUIRE(status_of(refused) == 413);
        REQUIRE(refused.find("100 Continue") == std::string::npos);
      }

      SECTION("raw: limits answer 414, 431, 413 and close") {
        struct Row {
          std::string request;
          int status;
        };
        const Row rows[] = {
            {get("/" + std::string(2000, 'u')), 414},
            {get("/ping", "X-Fill: " + std::string(5000, 'h') + "\r\n"), 431},
            {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n", 413},
            {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string("10000\r\n") +
                 std::string(65536, 'x') + "\r\n10\r\n" + std::string(16, 'x') + "\r\n0\r\n\r\n",
             413},
        };
        for (const auto& row : rows) {
          CAPTURE(row.status);
          RawClient c(port);
          c.send(row.request);
          std::string all = c.read_until_close();
          REQUIRE(status_of(all) == row.status);
          REQUIRE(header_of(all, "Connection") == "close");
        }
      }

      SECTION("raw: malformed requests get 400 and a closed connection") {
        for (std::string bad : {std::string("GARBAGE\r\n\r\n"), std::string("GET / HTTP/1.1\r\n\r\n"),
                                std::string("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n"),
                                std::string("GET / HTTP/1.1\r\nHost: t\r\nBad\x01Header: v\r\n\r\n")}) {
          CAPTURE(bad);
          RawClient c(port);
          c.send(bad);
          std::string all = c.read_until_close();
          REQUIRE(status_of(all) == 400);
          REQUIRE(header_of(all, "Connection") == "close");
        }
      }

      SECTION("raw: an unknown method is a 501 and the connection stays; a custom method's route is reached") {
        RawClient c(port);
        c.send("FROB /ping HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
        std::string refused = c.read_response();
        REQUIRE(status_of(refused) == 501);
        REQUIRE(header_of(refused, "Connection").empty());
        c.send("PURGE /cache/a/b HTTP/1.1\r\nHost: t\r\n\r\n");
        std::string purged = c.read_response();
        REQUIRE(status_of(purged) == 200);
        REQUIRE(body_of(purged) == "PURGE a/b");
        c.send(get("/ping"));
        REQUIRE(status_of(c.read_response()) == 200);
        // A standard method with no route stays a 404.
        c.send("TRACE /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(status_of(c.read_response()) == 404);
        auto curl = run_command("curl -s -i -X PURGE " + ts.url("/cache/k"));
        REQUIRE(body_of(curl.output) == "PURGE k");
      }

      SECTION("raw: request-line, Host and CR faults get 400 and a closed connection") {
        for (std::string bad : {get("/bob#frag"), std::string("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
                                std::string("GET / HTTP/1.1\r\nHost: t:99999\r\n\r\n"),
                                std::string("GET / HTTP/1.1\rHost: t\r\n\r\n"),
                                std::string("GET / HTTP/1.1\r\nHost: t\r\n\rX") + get("/ping")}) {
          CAPTURE(bad);
          RawClient c(port);
          c.send(bad);
          std::string all = c.read_until_close();
          REQUIRE(status_of(all) == 400);
          REQUIRE(all.find("pong") == std::string::npos);
          REQUIRE(header_of(all, "Connection") == "close");
        }
      }

      SECTION("raw: a header section that stalls gets 408 after the header timeout") {
        RawClient c(port);
        c.send("GET /ping HTTP/1.1\r\nHost: t\r\n");  // no blank line
        std::string all = c.read_until_close();
        REQUIRE(status_of(all) == 408);
      }
    }
  }
}
