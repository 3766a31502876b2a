// SPDX-License-Identifier: Apache-2.0
// RFC 8441 (extended CONNECT) end to end: a khz::Server whose CONNECT route hijacks the stream
// as a tunnel, against python3-h2 (h2_tunnel.py) over h2c and over TLS (ALPN h2), on every
// transport; WebSocket over HTTP/2 (server.websocket(), h2_websocket.py) the same ways; and
// HTTP/1.1, where connect_protocol() is always "".
#include <khz/app/server.h>
#include <khz/app/websocket.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <mutex>
#include <string>
#include <system_error>

using khz::test::RawClient;
using khz::test::run_command;
using khz::test::TestServer;

namespace {

const std::string kTunnel = std::string("/usr/bin/python3 ") + KHZ_TEST_DIR + "/integration/h2_tunnel.py ";
const std::string kWebSocket = std::string("/usr/bin/python3 ") + KHZ_TEST_DIR + "/integration/h2_websocket.py ";

// How the last tunnel's handler ended (handlers run on the server's loops).
struct LastTunnel {
  std::mutex mutex;
  std::string how = "none yet";
  void set(std::string h) {
    std::lock_guard lock(mutex);
    how = std::move(h);
  }
  std::string get() {
    std::lock_guard lock(mutex);
    return how;
  }
};

// Echoes until the client ends its half (eof) or resets the stream.
khz::Task<void> echo(khz::transport::Connection& c, LastTunnel* last) {
  for (;;) {
    auto& in = c.input();
    if (in.empty()) {
      std::error_code ec = co_await c.fill(1);
      if (ec) {
        last->set(ec == khz::transport::errc::eof ? "eof" : ec == std::errc::connection_reset ? "reset" : ec.message());
        co_return;
      }
    }
    in.for_each_segment([&](std::string_view s) { c.output().append(s); });
    in.skip(in.size());
    in.release();
    if (std::error_code ec = co_await c.flush()) {
      last->set("flush: " + ec.message());
      co_return;
    }
  }
}

void add_routes(khz::Server& server, LastTunnel& last) {
  server.handle("CONNECT", "/echo", [&last](khz::RequestContext& c) {
    if (c.connect_protocol() != "websocket") return c.string(400, "websocket only\n");
    c.set_header("x-protocol", c.connect_protocol());
    c.set_status(200);
    c.hijack([&last](khz::transport::Connection& conn) { return echo(conn, &last); });
  });
  // upgrade() answers 200 to an extended CONNECT (101 on HTTP/1.1).
  server.handle("CONNECT", "/upgrade", [&last](khz::RequestContext& c) {
    c.upgrade("websocket", [&last](khz::transport::Connection& conn) { return echo(conn, &last); });
  });
  server.get("/plain", [](khz::RequestContext& c) { c.string(200, "plain"); });
  server.get("/last", [&last](khz::RequestContext& c) { c.string(200, last.get()); });
  server.get("/proto", [](khz::RequestContext& c) { c.string(200, "[" + std::string(c.connect_protocol()) + "]"); });
}

// server.websocket("/ws"): echoes, answers "version?" with the version the WebSocket came on;
// GET /last: "<code> <reason>" of the last close it saw.
void add_websocket_routes(khz::Server& server, LastTunnel& last) {
  server.websocket("/ws", [&last](khz::WebSocket& socket) -> khz::Task<> {
    for (;;) {
      auto m = co_await socket.receive();
      if (!m) {
        last.set(std::to_string(socket.close_code()) + " " + std::string(socket.close_reason()));
        co_return;
      }
      if (m->is_text() && m->data == "version?") {
        const bool h2 = socket.request().request.version() == khz::Version::http2;
        auto sent = co_await socket.send_text(h2 ? "HTTP/2" : "HTTP/1.1");
        if (!sent) co_return;
        continue;
      }
      auto sent = co_await socket.send(*m);
      if (!sent) co_return;
    }
  }, {.subprotocols = {"chat"}, .allowed_origins = {"http://good.test"}});
  server.get("/plain", [](khz::RequestContext& c) { c.string(200, "plain"); });
  server.get("/last", [&last](khz::RequestContext& c) { c.string(200, last.get()); });
}

khz::ServerOptions tls_options() {
  khz::ServerOptions o;
  o.tls_cert_file = khz::test::TestPki::get().alpha_cert;  // alpha.test, localhost, 127.0.0.1
  o.tls_key_file = khz::test::TestPki::get().alpha_key;
  return o;
}

}  // namespace

TEST_CASE("http2 extended CONNECT: tunnels with python3-h2 over h2c and over TLS, on every transport") {
  for (const auto& transport : khz::test::transports()) {
    for (bool tls : {false, true}) {
      DYNAMIC_SECTION("transport " << transport << (tls ? ", TLS (ALPN h2)" : ", h2c")) {
        LastTunnel last;
        TestServer s(transport, tls ? tls_options() : khz::ServerOptions{});
        add_routes(s.server, last);
        s.start();
        std::string command = kTunnel + std::to_string(s.port());
        if (tls) command += " --tls " + khz::test::TestPki::get().ca_cert;
        auto r = run_command(command + " 2>&1");
        INFO(r.output);
        REQUIRE(r.status == 0);
        REQUIRE(r.output == "ok   settings\nok   echo\nok   big\nok   reset\nok   refused\nok   upgrade\n");
      }
    }
  }
}

TEST_CASE("http2 extended CONNECT: WebSocket over HTTP/2 with python3-h2, h2c and TLS, on every transport") {
  for (const auto& transport : khz::test::transports()) {
    for (bool tls : {false, true}) {
      DYNAMIC_SECTION("transport " << transport << (tls ? ", TLS (ALPN h2)" : ", h2c")) {
        LastTunnel last;
        TestServer s(transport, tls ? tls_options() : khz::ServerOptions{});
        add_websocket_routes(s.server, last);
        s.start();
        std::string command = kWebSocket + std::to_string(s.port());
        if (tls) command += " --tls " + khz::test::TestPki::get().ca_cert;
        auto r = run_command(command + " 2>&1");
        INFO(r.output);
        REQUIRE(r.status == 0);
        REQUIRE(r.output == "ok   echo\nok   deflate\nok   beside\nok   wrong_protocol\nok   bad_origin\nok   no_version\n");
      }
    }
  }
}

TEST_CASE("http2 extended CONNECT: connect_protocol() is empty on HTTP/1.1") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      LastTunnel last;
      TestServer s(transport);
      add_routes(s.server, last);
      s.start();
      RawClient c(s.port());
      c.send("GET /proto HTTP/1.1\r\nHost: t\r\n\r\n");
      std::string response = c.read_response();
      REQUIRE(khz::test::status_of(response) == 200);
      REQUIRE(response.substr(response.size() - 2) == "[]");
    }
  }
}
