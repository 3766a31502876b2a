// SPDX-License-Identifier: Apache-2.0
// A handler awaiting the HTTP client: when its own (downstream) client goes away, the outbound
// call is cancelled and the upstream connection closed, on every transport and protocol —
// a client hanging up over HTTP/1.1 and over https, an HTTP/2 client resetting its stream
// (python3-h2) or closing its connection. And no false alarm while the client stays.
#include <khz/app/client.h>
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/script_server.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <atomic>
#include <cstdio>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

using namespace std::chrono_literals;
using khz::test::ScriptServer;
using khz::test::TestServer;

namespace {

enum Outcome { pending, answered, cancelled, other_error };

// The upstream: "/late" answers after 300 ms; "/stream" sends a head and one piece of a chunked
// body; then (and for anything else) it holds the connection (up to 5 s)
// and records how long it stayed open.
struct Upstream {
  std::atomic<long> held_ms{-1};
  std::atomic<int> requests{0};
  ScriptServer server{[this](ScriptServer::Peer& p) {
    std::string head = p.read_head();
    ++requests;
    if (head.find("/stream") != std::string::npos) {  // one piece of a chunked body, then nothing
      p.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
    } else if (head.find("/late") != std::string::npos) {
      std::this_thread::sleep_for(300ms);
      p.send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate");
      return;
    }
    auto t0 = std::chrono::steady_clock::now();
    p.hold(5s);
    held_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  }};
};

struct Front {
  Upstream upstream;
  TestServer server;
  khz::Client client;  // after the server: destroyed first, while its loops still run
  std::atomic<int> outcome{pending};

  Front(const std::string& transport, khz::ServerOptions options) : server(transport, std::move(options)), client(client_options(transport)) {
    server.server.get("/proxy/*path", [this](khz::RequestContext& ctx) -> khz::Task<> {
      auto r = co_await client.get(upstream.server.url("/" + std::string(ctx.param("path"))));
      outcome = r ? answered : r.error() == khz::client::errc::cancelled ? cancelled : other_error;
      if (r) {
        ctx.string(200, r->body());
      } else {
        ctx.string(502, r.error().message());
      }
    });
    // Relays the upstream's body as it arrives (Client::stream, ResponseStream::read).
    server.server.get("/relay", [this](khz::RequestContext& ctx) -> khz::Task<> {
      khz::ClientRequest request{.url = upstream.server.url("/stream")};
      auto stream = co_await client.stream(std::move(request));
      if (!stream) {
        outcome = other_error;
        co_return;
      }
      for (;;) {
        auto piece = co_await stream->read();
        if (!piece) {
          outcome = piece.error() == khz::client::errc::cancelled ? cancelled : other_error;
          co_return;
        }
        if (piece->empty()) break;
        if (!co_await ctx.write(*piece)) break;
      }
      outcome = answered;
    });
    server.start();
  }

  static khz::ClientOptions client_options(const std::string& transport) {
    khz::ClientOptions o;
    o.transport = transport;
    o.proxy_from_environment = false;
    o.response_header_timeout = 10s;
    return o;
  }

  // Waits for the handler's call to end; its outcome.
  int wait_outcome(std::chrono::milliseconds wait = 4s) {
    for (auto end = std::chrono::steady_clock::now() + wait; outcome == pending && std::chrono::steady_clock::now() < end;) {
      std::this_thread::sleep_for(5ms);
    }
    return outcome;
  }
  // Waits until the handler's call reached the upstream.
  bool wait_request() {
    for (int i = 0; i < 1000 && upstream.requests == 0; ++i) std::this_thread::sleep_for(5ms);
    return upstream.requests == 1;
  }
  long wait_upstream_closed() {
    for (int i = 0; i < 600 && upstream.held_ms < 0; ++i) std::this_thread::sleep_for(5ms);
    return upstream.held_ms;
  }
};

khz::ServerOptions https_options() {
  const auto& pki = khz::test::TestPki::get();
  khz::ServerOptions o;
  o.tls_cert_file = pki.alpha_cert;
  o.tls_key_file = pki.alpha_key;
  return o;
}

// A client process driven step by step through its stdin: each line written lets it take its
// next step (see the scripts below); closing the pipe ends it.
class Steps {
 public:
  explicit Steps(const std::string& python) : pipe_(::popen(("/usr/bin/python3 -c '" + python + "'").c_str(), "w")) {}
  ~Steps() { finish(); }
  void next() {
    std::fputs("go\n", pipe_);
    std::fflush(pipe_);
  }
  int finish() { return pipe_ != nullptr ? ::pclose(std::exchange(pipe_, nullptr)) : 0; }

 private:
  FILE* pipe_;
};

// HTTP/1.1 over TLS: sends a GET for `path`; at the first step, closes.
std::string tls_client(std::uint16_t port, const std::string& path) {
  return "import socket, ssl, sys\n"
         "ctx = ssl.create_default_context()\n"
         "ctx.check_hostname = False\n"
         "ctx.verify_mode = ssl.CERT_NONE\n"
         "s = ctx.wrap_socket(socket.create_connection((\"127.0.0.1\", " + std::to_string(port) + ")))\n"
         "s.sendall(b\"GET " + path + " HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\")\n"
         "sys.stdin.readline()\n"
         "s.close()\n";
}

// HTTP/2 (prior knowledge): asks for `path`; at the first step resets the stream (CANCEL) when
// `reset_stream`, else closes; at the second step closes.
std::string h2_client(std::uint16_t port, const std::string& path, bool reset_stream) {
  return "import socket, sys, h2.connection, h2.config, h2.errors\n"
         "s = socket.create_connection((\"127.0.0.1\", " + std::to_string(port) + "))\n"
         "c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))\n"
         "c.initiate_connection()\n"
         "c.send_headers(1, [(\":method\", \"GET\"), (\":path\", \"" + path + "\"), (\":scheme\", \"http\"),"
         " (\":authority\", \"localhost\")], end_stream=True)\n"
         "s.sendall(c.data_to_send())\n"
         "sys.stdin.readline()\n" +
         (reset_stream ? "c.reset_stream(1, h2.errors.ErrorCodes.CANCEL)\n"
                         "s.sendall(c.data_to_send())\n"
                         "sys.stdin.readline()\n"
                       : "") +
         "s.close()\n";
}

}  // namespace

TEST_CASE("client: a handler's outbound call is cancelled when its downstream client goes away") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport << ": HTTP/1.1, the client hangs up") {
      Front f(transport, {});
      {
        khz::test::RawClient c(f.server.port());
        c.send("GET /proxy/hold HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(f.wait_request());  // the handler's call is out
      }
      auto t0 = std::chrono::steady_clock::now();
      REQUIRE(f.wait_outcome() == cancelled);
      REQUIRE(f.wait_upstream_closed() >= 0);
      REQUIRE(std::chrono::steady_clock::now() - t0 < 2s);  // not the upstream's 5 s
    }
    DYNAMIC_SECTION("transport " << transport << ": HTTP/1.1, the client hangs up while a body is relayed") {
      Front f(transport, {});
      {
        khz::test::RawClient c(f.server.port());
        c.send("GET /relay HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(f.wait_request());
        std::string got = c.read_response(/*head_only=*/true);
        REQUIRE(khz::test::status_of(got) == 200);  // and the first piece is on its way
      }
      REQUIRE(f.wait_outcome() == cancelled);  // the handler's stream->read() ended
      REQUIRE(f.wait_upstream_closed() >= 0);
    }
    DYNAMIC_SECTION("transport " << transport << ": HTTP/1.1 over TLS, the client hangs up") {
      Front f(transport, https_options());
      Steps client(tls_client(f.server.port(), "/proxy/hold"));
      REQUIRE(f.wait_request());
      client.next();  // close
      REQUIRE(f.wait_outcome() == cancelled);
      REQUIRE(f.wait_upstream_closed() >= 0);
      REQUIRE(client.finish() == 0);
    }
    DYNAMIC_SECTION("transport " << transport << ": HTTP/2, the client resets its stream") {
      Front f(transport, {});
      Steps client(h2_client(f.server.port(), "/proxy/hold", true));
      REQUIRE(f.wait_request());
      client.next();  // RST_STREAM; the connection stays open
      REQUIRE(f.wait_outcome() == cancelled);
      REQUIRE(f.wait_upstream_closed() >= 0);
      client.next();  // close
      REQUIRE(client.finish() == 0);
    }
    DYNAMIC_SECTION("transport " << transport << ": HTTP/2, the client closes its connection") {
      Front f(transport, {});
      Steps client(h2_client(f.server.port(), "/proxy/hold", false));
      REQUIRE(f.wait_request());
      client.next();  // close
      REQUIRE(f.wait_outcome() == cancelled);
      REQUIRE(f.wait_upstream_closed() >= 0);
      REQUIRE(client.finish() == 0);
    }
    DYNAMIC_SECTION("transport " << transport << ": a client that waits gets its answer") {
      Front f(transport, {});
      auto r = khz::test::run_command("curl -s --max-time 5 " + f.server.url("/proxy/late"));
      REQUIRE(r.status == 0);
      REQUIRE(r.output == "late");
      REQUIRE(f.outcome == answered);
      f.outcome = pending;
      r = khz::test::run_command("curl -s --http2-prior-knowledge --max-time 5 " + f.server.url("/proxy/late"));
      REQUIRE(r.output == "late");
      REQUIRE(f.outcome == answered);
    }
  }
}
