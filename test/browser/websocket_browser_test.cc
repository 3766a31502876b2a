// SPDX-License-Identifier: Apache-2.0
// A browser's WebSocket against a khz server, on every transport, over http (the HTTP/1.1
// Upgrade) and https: headless Chromium loads a page whose script opens `new WebSocket()` to
// the page's own host and port, sends a text and a binary (ArrayBuffer) message, checks the
// echoes, closes with a code and a reason, and writes its verdict into the DOM. The server
// records which HTTP version each WebSocket arrived on and the close it saw: over https the
// page comes on h2 (ALPN), the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, and
// Chromium opens the WebSocket as an RFC 8441 extended CONNECT on that same connection.
#include <khz/app/server.h>
#include <khz/app/websocket.h>
#include <khz/common/event_loop.h>

#include <catch2/catch.hpp>

#include "browser/browser.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

using khz::test::TestServer;

namespace {

constexpr std::string_view kPage = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>khz websocket</title></head>
<body><pre id="result">pending</pre>
<script>
const out = document.getElementById('result');
const log = [];
// A WebSocket does not hold Chromium's virtual time (a fetch does), so fetches hold it: /opening
// while the handshake is under way (answered shortly after the server opened the socket), then
// /hold from the socket's open until the verdict is in the DOM (/done releases it). Not /hold
// from the start: while a fetch holds virtual time, Chromium may not deliver the socket's open
// (its 101 in, the first message unsent until the fetch ended: 30 s stalls, and in a sanitizer
// run a DOM printed before the verdict).
fetch('/opening');
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
const socket = new WebSocket(url, ['chat']);
socket.binaryType = 'arraybuffer';
const bytes = new Uint8Array([0, 1, 2, 127, 128, 254, 255]);
let step = 0;
socket.onopen = () => {
  fetch('/hold');
  log.push('open ' + socket.protocol);
  socket.send('héllo wörld');
};
socket.onmessage = (e) => {
  if (step === 0) {
    log.push(e.data === 'héllo wörld' ? 'text ok' : 'text bad:' + e.data);
    step = 1;
    socket.send(bytes.buffer);
  } else if (step === 1) {
    const got = new Uint8Array(e.data);
    const same = e.data instanceof ArrayBuffer && got.length === bytes.length && got.every((b, i) => b === bytes[i]);
    log.push(same ? 'binary ok' : 'binary bad:' + Array.from(got).join(','));
    step = 2;
    socket.close(4000, 'page done');
  }
};
socket.onerror = () => { log.push('error'); };
socket.onclose = (e) => {
  log.push('closed ' + e.code + ' ' + e.wasClean);
  out.textContent = log.join('; ');
  fetch('/done');
};
</script></body></html>
)";

struct Echo {
  std::mutex mutex;
  std::vector<std::string> seen;  // per WebSocket: "<HTTP version> <close code> <close reason>"
  std::string page_peer;          // the page's connection ("host:port" of the client)
  std::string socket_peer;        // the WebSocket's
  bool done = false;              // the page has written its verdict
  bool opened = false;            // the WebSocket's handler has begun

  // Until `flag` is set (30 s at most): what keeps a fetch of the page pending.
  khz::Task<> until(bool Echo::*flag) {
    for (int i = 0; i < 3000; ++i) {
      {
        std::lock_guard lock(mutex);
        if (this->*flag) co_return;
      }
      co_await khz::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void add_routes(khz::Server& server) {
    server.get("/", [this](khz::RequestContext& ctx) {
      {
        std::lock_guard lock(mutex);
        page_peer = ctx.peer_address();
      }
      ctx.html_raw(200, kPage);
    });
    server.get("/opening", [this](khz::RequestContext& ctx) -> khz::Task<> {
      co_await until(&Echo::opened);
      // A little longer: Chromium has read the 101 by then, so its open waits only for
      // virtual time to move, which it may once this fetch is over.
      co_await khz::sleep_for(std::chrono::milliseconds(50));
      ctx.string(200, "opened");
    });
    server.get("/hold", [this](khz::RequestContext& ctx) -> khz::Task<> {
      co_await until(&Echo::done);
      ctx.string(200, "released");
    });
    server.get("/done", [this](khz::RequestContext& ctx) {
      {
        std::lock_guard lock(mutex);
        done = true;
      }
      ctx.string(200, "ok");
    });
    server.websocket("/ws", [this](khz::WebSocket& socket) -> khz::Task<> {
      {
        std::lock_guard lock(mutex);
        opened = true;
      }
      for (;;) {
        auto m = co_await socket.receive();
        if (!m) break;
        auto sent = co_await socket.send(*m);
        if (!sent) break;
      }
      std::lock_guard lock(mutex);
      socket_peer = socket.request().peer_address;
      seen.push_back(std::string(khz::to_string(socket.request().request.version())) + " " +
                     std::to_string(socket.close_code()) + " " + std::string(socket.close_reason()));
    }, {.subprotocols = {"chat"}});
  }
};

}  // namespace

TEST_CASE("browser: Chromium's WebSocket echoes text and binary through khz and closes with a code") {
  for (const auto& transport : khz::test::transports()) {
    for (bool tls : {false, true}) {
      DYNAMIC_SECTION("transport " << transport << (tls ? " https" : " http/1.1")) {
        for (int attempt = 1;; ++attempt) {
          Echo echo;
          TestServer s(transport, khz::test::page_server_options(tls));
          echo.add_routes(s.server);
          s.start();
          const std::string url = khz::test::page_url(tls, s.port());
          auto run = khz::test::load_page(url);
          INFO("chromium: " << run.error);
          REQUIRE(run.ok());
          const std::string result = khz::test::element_text(run.dom, "result");
          if (result == "pending" && attempt == 1) {
            // The DOM was printed before the page's verdict. It happened (two in a row, in a
            // sanitizer run) when /hold was fetched from the start: Chromium withheld the
            // socket's open until that fetch ended 30 s later, and then printed the DOM while
            // the exchange ran (the server had seen the close 4000). The page now holds virtual
            // time with /opening during the handshake instead. Reported, and the page loaded
            // once more on a fresh server; twice in a row fails.
            std::lock_guard lock(echo.mutex);
            WARN("the page did not finish (server saw: " << (echo.seen.empty() ? std::string("nothing") : echo.seen.front())
                                                         << "); loading it again");
            continue;
          }
          CHECK(result == "open chat; text ok; binary ok; closed 4000 true");
          REQUIRE(khz::test::eventually([&] { std::lock_guard lock(echo.mutex); return !echo.seen.empty(); }));
          std::lock_guard lock(echo.mutex);
          const std::string version = tls ? "HTTP/2" : "HTTP/1.1";
          CHECK(echo.seen == std::vector<std::string>{version + " 4000 page done"});
          // Over h2 the WebSocket is a stream of the page's own connection; over HTTP/1.1 the
          // upgrade takes a connection of its own.
          if (tls) CHECK(echo.socket_peer == echo.page_peer);
          break;
        }
      }
    }
  }
}
