// SPDX-License-Identifier: Apache-2.0
// WebSocket interop with real third-party peers, both directions, with and without
// permessage-deflate, on every transport: python3-websockets and node's ws (Debian
// python3-websockets, node-ws) as clients against khz's server, and as echo servers for khz's
// client. The peer servers start once per test binary (ws_peer.py, ws_peer.js).
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/app/websocket.h>
#include <khz/transport/dial.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using khz::WebSocket;
using khz::WebSocketMessage;
using khz::WebSocketOptions;
using khz::test::TestServer;
namespace ws = khz::protocol::websocket;

namespace {

const std::string kDir = std::string(KHZ_TEST_DIR) + "/integration/";
const std::string kPython = "/usr/bin/python3 " + kDir + "ws_peer.py";
const std::string kNode = "env NODE_PATH=/usr/share/nodejs node " + kDir + "ws_peer.js";

// The two echo servers of one peer (deflate and plain ports), for the whole binary.
struct PeerServer {
  pid_t pid = -1;
  std::uint16_t port_deflate = 0;
  std::uint16_t port_plain = 0;

  explicit PeerServer(const std::string& command) {
    port_deflate = khz::test::unused_port();
    port_plain = khz::test::unused_port();
    const std::string line = "exec " + command + " server " + std::to_string(port_deflate) + " " + std::to_string(port_plain);
    pid = ::fork();
    if (pid == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (std::uint16_t port : {port_deflate, port_plain}) {
      (void)khz::test::eventually([&] {
        try {
          ::close(khz::test::connect_loopback(port));
          return true;
        } catch (...) {
          return false;
        }
      }, 10s);
    }
  }
  ~PeerServer() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

PeerServer& python_server() {
  static PeerServer s(kPython);
  return s;
}
PeerServer& node_server() {
  static PeerServer s(kNode);
  return s;
}

void require_tools() {
  if (std::system("/usr/bin/python3 -c 'import websockets' > /dev/null 2>&1") != 0) {
    FAIL("python3-websockets is not installed (scripts/install-deps.sh)");
  }
  if (std::system("NODE_PATH=/usr/share/nodejs node -e \"require('ws')\" > /dev/null 2>&1") != 0) {
    FAIL("node's ws is not installed (Debian node-ws; scripts/install-deps.sh)");
  }
}

khz::ClientOptions client_options(const std::string& transport) {
  khz::ClientOptions o;
  o.transport = transport;
  o.proxy_from_environment = false;
  return o;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return s;
}

}  // namespace

TEST_CASE("websocket interop: python3-websockets and node ws clients against khz's server") {
  require_tools();
  for (const auto& transport : khz::test::transports()) {
    for (bool deflate : {true, false}) {
      DYNAMIC_SECTION("transport " << transport << " deflate " << deflate) {
        TestServer ts(transport);
        std::mutex mutex;
        std::vector<std::pair<std::uint16_t, std::string>> closes;
        ts.server.websocket("/echo", [&](WebSocket& socket) -> khz::Task<> {
          for (;;) {
            auto m = co_await socket.receive();
            if (!m) {
              std::lock_guard lock(mutex);
              closes.emplace_back(socket.close_code(), std::string(socket.close_reason()));
              co_return;
            }
            auto sent = co_await socket.send(*m);
            if (!sent) co_return;
          }
        }, {.subprotocols = {"chat"}, .permessage_deflate = deflate});
        ts.start();
        const std::string url = "ws://127.0.0.1:" + std::to_string(ts.port()) + "/echo";
        const std::string mode = deflate ? " deflate" : " plain";
        // Our server decides: the client offers deflate only when asked to, and khz accepts it
        // only when on; "plain" clients offer nothing.
        auto py = khz::test::run_command(kPython + " client " + url + (deflate ? " deflate" : " plain") + " 2>&1");
        INFO("python: " << py.output);
        REQUIRE(py.status == 0);
        REQUIRE(py.output == "ok\n");
        auto node = khz::test::run_command(kNode + " client " + url + mode + " 2>&1");
        INFO("node: " << node.output);
        REQUIRE(node.status == 0);
        REQUIRE(node.output == "ok\n");
        (void)khz::test::eventually([&] { std::lock_guard lock(mutex); return closes.size() >= 2; }, 3s);
        std::lock_guard lock(mutex);
        REQUIRE(closes.size() == 2);
        REQUIRE(closes[0] == std::make_pair(std::uint16_t{4000}, std::string("py done")));
        REQUIRE(closes[1] == std::make_pair(std::uint16_t{4000}, std::string("node done")));
      }
    }
  }
}

TEST_CASE("websocket interop: khz's client against python3-websockets and node ws servers") {
  require_tools();
  struct Peer {
    const char* name;
    PeerServer* server;
  };
  std::vector<Peer> peers{{"python3-websockets", &python_server()}, {"node ws", &node_server()}};
  for (const auto& transport : khz::test::transports()) {
    for (const auto& peer : peers) {
      for (bool deflate : {true, false}) {
        DYNAMIC_SECTION("transport " << transport << " " << peer.name << " deflate " << deflate) {
          khz::Client client(client_options(transport));
          auto loop = khz::transport::ClientLoop::make_on_caller(transport);
          loop->run([&]() -> khz::Task<> {
            const std::uint16_t port = deflate ? peer.server->port_deflate : peer.server->port_plain;
            const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";
            const WebSocketOptions options{.subprotocols = {"chat"}};
            auto opened = co_await client.websocket(url, options);
            INFO(url << ": " << (opened ? "open" : opened.error().message()));
            REQUIRE(opened);
            WebSocket socket = std::move(*opened);
            REQUIRE(socket.subprotocol() == "chat");
            REQUIRE(socket.compressed() == deflate);
            const std::string big = pattern(1024 * 1024 + 3);
            const std::vector<WebSocketMessage> messages{
                {WebSocketMessage::Type::text, "hello"},
                {WebSocketMessage::Type::binary, std::string("\0\x01\xff", 3)},
                {WebSocketMessage::Type::text, ""},
                {WebSocketMessage::Type::text, "κόσμε"},
                {WebSocketMessage::Type::text, big},
                {WebSocketMessage::Type::binary, big},
            };
            for (const auto& m : messages) {
              auto sent = co_await socket.send(m);
              REQUIRE(sent);
              auto back = co_await socket.receive();
              REQUIRE(back);
              REQUIRE(back->type == m.type);
              REQUIRE(back->data == m.data);
            }
            // Streamed in fragments.
            auto w = socket.stream(WebSocket::Type::text);
            const std::string first = "frag", second = "mented";
            auto r1 = co_await w.write(first);
            REQUIRE(r1);
            auto r2 = co_await w.write(second);
            REQUIRE(r2);
            const std::string last = " text";
            auto r3 = co_await w.finish(last);
            REQUIRE(r3);
            auto back = co_await socket.receive();
            REQUIRE(back);
            REQUIRE(back->data == "fragmented text");
            const std::string payload = "khz";
            auto pinged = co_await socket.ping(payload);
            REQUIRE(pinged);
            const std::string reason = "khz done";
            auto closed = co_await socket.close(4000, reason);
            REQUIRE(closed);
            REQUIRE(socket.close_code() == 4000);
          });
        }
      }
    }
  }
}
