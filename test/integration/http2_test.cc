// SPDX-License-Identifier: Apache-2.0
// HTTP/2 (h2c) end to end, on every transport: real clients (curl, nghttp, h2load) against a
// khz::Server, and against a bare ServerCore that streams request bodies; the frame-level
// conformance and abuse checks of h2_frames.py (python3-h2's hpack); graceful shutdown.
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/protocol/http2.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using khz::test::run_command;

namespace {

const std::string kFrames = std::string("/usr/bin/python3 ") + KHZ_TEST_DIR + "/integration/h2_frames.py ";

std::string temp_file(const std::string& name, std::size_t size) {
  std::string path = "/tmp/khz_h2_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream f(path, std::ios::binary);
  for (std::size_t i = 0; i < size; ++i) f.put(static_cast<char>('a' + i % 26));
  return path;
}

// A ServerCore of its own (no Engine): the routes h2_frames.py expects, plus request bodies
// streamed through body_reader.
class FrameCore final : public khz::ServerCore {
 public:
  khz::BodyPolicy body_policy(khz::Exchange& ex) override {
    khz::BodyPolicy p;
    p.stream = ex.request.path() == "/hold" || ex.request.path() == "/count";
    if (p.stream) p.max_bytes = khz::BodyPolicy::unlimited;  // else Http2Options::max_body_bytes
    return p;
  }

  khz::Task<void> serve(khz::Exchange& ex) override {
    std::string_view path = ex.request.path();
    auto& r = ex.response;
    if (path == "/slow") {
      ++slow_started;
      co_await khz::sleep_for(300ms);
      r.set_body("slow");
    } else if (path == "/big") {
      r.set_body(std::string(256 * 1024, 'b'));
    } else if (path == "/hold") {
      co_await khz::sleep_for(1s);  // the body is not read: its window stays shut
      r.set_body("held");
    } else if (path == "/stream" || path == "/broken") {
      // 64 pieces of 16 KiB through BodyWriter; "/broken" fails after the first piece.
      std::string piece(16 * 1024, 's');
      for (int i = 0; i < 64; ++i) {
        if (auto ec = co_await ex.body_writer->write(piece)) co_return;  // the peer reset or left
        if (path == "/broken") {
          ex.failed = true;
          co_return;
        }
      }
    } else if (path == "/204" || path == "/304") {
      r.set_status(path == "/204" ? 204 : 304);
      r.set_body("dropped: no content for this status");
    } else if (path == "/hijack") {
      r.set_status(101);
      ex.hijack = [](khz::transport::Connection&) -> khz::Task<void> { co_return; };
    } else if (path == "/count") {
      // Reads slowly, so the body piles up against the stream's window.
      std::size_t total = 0, largest = 0;
      for (;;) {
        auto piece = co_await ex.body_reader->read();
        if (!piece) {
          r.set_status(400);
          r.set_body("read failed: " + piece.error().message());
          co_return;
        }
        if (piece->empty()) break;
        total += piece->size();
        largest = std::max(largest, piece->size());
        co_await khz::sleep_for(1ms);
      }
      r.set_body("bytes=" + std::to_string(total) + " largest=" + std::to_string(largest) +
                 " trailers=" + std::to_string(ex.request.trailers().size()));
    } else {
      r.set_body("ok");
    }
  }

  std::atomic<int> slow_started{0};
};

// FrameCore on a transport, served by serve_http (HTTP/1.1, h2c prior knowledge and Upgrade on
// one port), or by serve_http2 alone (an HTTP/2-only port, as after ALPN h2).
enum class Port { shared, http2_only };

struct FrameServer {
  FrameServer(const std::string& transport, khz::Http2Options h2opt, Port port_kind = Port::shared) {
    auto h2 = std::make_shared<const khz::Http2Options>(std::move(h2opt));
    auto h1 = std::make_shared<const khz::Http1Options>(khz::Http1Options{.h2c = h2});
    t = khz::transport::make_transporter(transport, {.address = "127.0.0.1:0", .loops = 2});
    auto p = t->start([this, h1, h2, port_kind](khz::transport::Connection& c) {
      return port_kind == Port::shared ? khz::serve_http(c, core, h1, h2) : khz::serve_http2(c, core, h2);
    });
    REQUIRE(p.ok());
    port = *p;
  }
  ~FrameServer() { t->shutdown(2s); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }

  FrameCore core;
  std::unique_ptr<khz::transport::Transporter> t;
  std::uint16_t port = 0;
};

khz::Http2Options frame_options() {
  khz::Http2Options o;
  o.max_header_list_size = 16 * 1024;
  o.stall_timeout = 300ms;
  o.idle_timeout = 1s;
  o.read_timeout = 500ms;
  o.max_body_bytes = 100000;
  o.max_continuations = 4;  // not nghttp2's default (8), so h2_frames.py sees that it is khz's
  return o;
}

}  // namespace

TEST_CASE("http2: curl, nghttp and h2load against a Server (h2c by prior knowledge and by Upgrade)") {
  const std::string big(1 << 20, 'z');
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport);
      ts.server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
      ts.server.head("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
      ts.server.post("/echo", [](khz::RequestContext& c) {
        c.string(200, std::string(c.request().body()) + " via " + std::string(khz::to_string(c.request().version())) +
                          " host=" + std::string(c.header("Host")));
      });
      ts.server.get("/sleep", [](khz::RequestContext& c) -> khz::Task<> {
        co_await khz::sleep_for(300ms);
        c.string(200, "slept");
      });
      ts.server.get("/stream", [](khz::RequestContext& c) -> khz::Task<> {
        c.set_header("Content-Type", "application/octet-stream");
        std::string piece(16 * 1024, 's');
        for (int i = 0; i < 64; ++i) {  // 1 MiB, far over the client's 64 KiB stream window
          if (!co_await c.write(piece)) co_return;
        }
        c.response().trailers().set("x-pieces", "64");
      });
      ts.server.get("/trailers", [](khz::RequestContext& c) {
        c.string(200, "with trailers");
        c.response().trailers().set("x-checksum", "abc123");
      });
      ts.server.get("/big", [&big](khz::RequestContext& c) { c.data(200, "text/plain", big); });
      // The Engine's streamed request bodies over HTTP/2: echoed back as they arrive.
      ts.server.put("/echo-stream", [](khz::RequestContext& c) -> khz::Task<> {
        for (;;) {
          auto piece = co_await c.read_body_chunk();
          if (!piece) {
            c.abort_with_status(400);
            co_return;
          }
          if (piece->empty()) co_return;
          if (!co_await c.write(*piece)) co_return;
        }
      }).stream_body();
      ts.start();
      const std::string base = "http://127.0.0.1:" + std::to_string(ts.port());

      // curl, prior knowledge
      auto r = run_command("curl -s --max-time 5 --http2-prior-knowledge -w ' %{http_version} %{http_code}' " + base +
                           "/ping");
      REQUIRE(r.output == "pong 2 200");
      // curl, Upgrade: h2c from HTTP/1.1 (the POST body travels before the switch)
      r = run_command("curl -sv --max-time 5 --http2 -d hello " + base + "/echo 2>&1");
      INFO(r.output);
      REQUIRE(r.output.find("< HTTP/1.1 101 Switching Protocols") != std::string::npos);
      REQUIRE(r.output.find("< HTTP/2 200") != std::string::npos);
      REQUIRE(r.output.find("hello via HTTP/2 host=127.0.0.1:" + std::to_string(ts.port())) != std::string::npos);
      // HTTP2-Settings is checked before switching: the status an upgrade with `settings` gets
      auto upgrade_status = [&](std::string_view settings) {
        khz::test::RawClient c(ts.port());
        c.send("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               "HTTP2-Settings: " + std::string(settings) + "\r\n\r\n");
        return khz::test::status_of(c.read_response(/*head_only=*/true));
      };
      REQUIRE(upgrade_status("!!") == 400);
      // base64url only: '+' and '/' are the standard alphabet (a 6-byte setting, id 0xf800)
      REQUIRE(upgrade_status("+AAAAABk") == 400);
      // a length that is not whole 6-byte settings
      REQUIRE(upgrade_status("AAMAAA") == 400);
      // token68's trailing '=' are allowed (SETTINGS_MAX_CONCURRENT_STREAMS = 100)
      REQUIRE(upgrade_status("AAMAAABk==") == 101);
      // POST with a body over HTTP/2; :authority is the Host
      r = run_command("curl -s --max-time 5 --http2-prior-knowledge -d world " + base + "/echo");
      REQUIRE(r.output == "world via HTTP/2 host=127.0.0.1:" + std::to_string(ts.port()));
      // HEAD: the headers of GET, no body
      r = run_command("curl -sI --max-time 5 --http2-prior-knowledge " + base + "/ping");
      INFO(r.output);
      REQUIRE(r.output.find("HTTP/2 200") == 0);
      REQUIRE(r.output.find("content-length: 4") != std::string::npos);
      r = run_command("curl -s --max-time 5 --http2-prior-knowledge -X HEAD -o /dev/null -w '%{size_download}' " +
                      base + "/ping");
      REQUIRE(r.output == "0");
      // A streamed response larger than the window, with trailers (nghttp: 64 KiB stream window)
      r = run_command("nghttp -v " + base + "/stream | grep -E 'recv DATA|x-pieces' | tail -3");
      INFO(r.output);
      REQUIRE(r.output.find("x-pieces: 64") != std::string::npos);
      r = run_command("nghttp " + base + "/stream | wc -c");
      REQUIRE(std::stoul(r.output) == 1024 * 1024);
      r = run_command("curl -s --max-time 5 --http2-prior-knowledge " + base + "/big | md5sum");
      auto expected = run_command("head -c 1048576 /dev/zero | tr '\\0' z | md5sum");
      REQUIRE(r.output == expected.output);
      {
        const std::string file = temp_file("echo", 1 << 20);
        r = run_command("curl -s --max-time 10 --http2-prior-knowledge -T " + file + " " + base + "/echo-stream | md5sum");
        auto want = run_command("md5sum < " + file);
        std::remove(file.c_str());
        REQUIRE(r.output == want.output);
      }
      // Trailers of a whole (not streamed) response
      r = run_command("nghttp -v " + base + "/trailers");
      INFO(r.output);
      REQUIRE(r.output.find("x-checksum: abc123") != std::string::npos);
      REQUIRE(r.output.find("with trailers") != std::string::npos);
      // Concurrent streams on one connection: five 300 ms handlers take about 300 ms, not 1.5 s.
      auto start = std::chrono::steady_clock::now();
      r = run_command("nghttp -n " + base + "/sleep " + base + "/sleep " + base + "/sleep " + base + "/sleep " + base +
                      "/sleep; echo rc=$?");
      auto took = std::chrono::steady_clock::now() - start;
      REQUIRE(r.output == "rc=0\n");
      REQUIRE(took < 1200ms);
      // h2load: thousands of requests, 10 connections x 10 streams, all 2xx
      r = run_command("h2load -n 4000 -c 10 -m 10 " + base + "/ping");
      INFO(r.output);
      REQUIRE(r.output.find("4000 succeeded, 0 failed, 0 errored") != std::string::npos);
      REQUIRE(r.output.find("status codes: 4000 2xx") != std::string::npos);
      // HTTP/1.1 still shares the port; a short request is not held back by the preface check
      khz::test::RawClient c(ts.port());
      c.send("GET /ping HTTP/1.0\r\n\r\n");  // 22 bytes: shorter than the preface
      REQUIRE(khz::test::body_of(c.read_response()) == "pong");
    }
  }
}

TEST_CASE("http2: streamed request bodies open the window only as the handler reads") {
  const std::string file = temp_file("upload", 1 << 20);
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      FrameServer s(transport, frame_options());
      // 1 MiB through a 65535-byte stream window: no piece handed to the reader can be larger.
      auto r = run_command("nghttp -d " + file + " " + s.url("/count"));
      INFO(r.output);
      REQUIRE(r.output.find("bytes=1048576 largest=") == 0);
      REQUIRE(std::stoul(r.output.substr(r.output.find("largest=") + 8)) <= 65535);
      r = run_command("curl -s --max-time 10 --http2-prior-knowledge --data-binary @" + file + " " + s.url("/count"));
      REQUIRE(r.output.find("bytes=1048576 largest=") == 0);
      REQUIRE(std::stoul(r.output.substr(r.output.find("largest=") + 8)) <= 65535);
    }
  }
  std::remove(file.c_str());
}

TEST_CASE("http2: frame-level conformance (RFC 9113) and protections, by h2_frames.py") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      FrameServer s(transport, frame_options());
      auto r = run_command(kFrames + std::to_string(s.port) + " 2>&1");
      INFO(r.output);
      REQUIRE(r.status == 0);
      REQUIRE(r.output.find("FAIL") == std::string::npos);
    }
  }
}

TEST_CASE("http2: PING, SETTINGS and CONTINUATION floods get GOAWAY ENHANCE_YOUR_CALM, then the close") {
  // h2_frames.py: max_continuations CONTINUATION frames pass and one more does not; 2000 of
  // them; a burst of PINGs from a client that reads is no flood; megabytes of PINGs or
  // SETTINGS from a client that never reads.
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      FrameServer s(transport, frame_options());
      auto r = run_command(kFrames + std::to_string(s.port) +
                           " continuation_limit continuation_flood ping_burst ping_flood settings_flood 2>&1");
      INFO(r.output);
      REQUIRE(r.status == 0);
      REQUIRE(r.output.find("FAIL") == std::string::npos);
    }
  }
}

TEST_CASE("http2: a client preface that differs gets GOAWAY PROTOCOL_ERROR, on the shared and HTTP/2-only ports") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport << ", shared port") {
      FrameServer s(transport, frame_options());
      auto r = run_command(kFrames + std::to_string(s.port) + " bad_preface preface_sniff 2>&1");
      INFO(r.output);
      REQUIRE(r.status == 0);
      REQUIRE(r.output.find("FAIL") == std::string::npos);
    }
    DYNAMIC_SECTION("transport " << transport << ", HTTP/2-only port") {
      FrameServer s(transport, frame_options(), Port::http2_only);
      auto r = run_command(kFrames + std::to_string(s.port) + " bad_preface not_http2 basic 2>&1");
      INFO(r.output);
      REQUIRE(r.status == 0);
      REQUIRE(r.output.find("FAIL") == std::string::npos);
    }
  }
}

TEST_CASE("http2: a graceful shutdown sends GOAWAY and lets the stream in hand finish") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      FrameServer s(transport, frame_options());
      khz::test::CommandResult r{};
      std::thread client([&] { r = run_command(kFrames + std::to_string(s.port) + " shutdown 2>&1"); });
      // Shut down while the request is in its handler (which takes 300 ms).
      for (int i = 0; i < 500 && s.core.slow_started == 0; ++i) std::this_thread::sleep_for(10ms);
      CHECK(s.core.slow_started == 1);  // (not REQUIRE: the client thread must be joined)
      s.t->shutdown(3s);
      client.join();
      INFO(r.output);
      REQUIRE(r.status == 0);
      REQUIRE(r.output == "ok   shutdown\n");
    }
  }
}
