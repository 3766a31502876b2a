// SPDX-License-Identifier: Apache-2.0
// Server lifecycle on every transport: coroutine handlers sharing a loop, graceful shutdown,
// spin(), the lifecycle hooks (on_run, on_accept, on_drain, on_shutdown), the log flushed on stop.
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/common/log_sink.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::test::body_of;
using khz::test::header_of;
using khz::test::RawClient;
using khz::test::status_of;

TEST_CASE("two sleeping handlers on one loop overlap") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 1});
      std::atomic<int> started{0};
      // Each handler waits, by sleeping, until the other one has started. If a sleep blocked the
      // loop, the second handler could never start and both would answer "alone".
      ts.server.get("/meet", [&](khz::RequestContext& c) -> khz::Task<> {
        ++started;
        for (int i = 0; i < 1000 && started.load() < 2; ++i) co_await khz::sleep_for(5ms);
        c.string(200, started.load() >= 2 ? "overlapped" : "alone");
      });
      ts.start();
      RawClient a(ts.port());
      RawClient b(ts.port());
      a.send("GET /meet HTTP/1.1\r\nHost: t\r\n\r\n");
      b.send("GET /meet HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(body_of(a.read_response()) == "overlapped");
      REQUIRE(body_of(b.read_response()) == "overlapped");
    }
  }
}

TEST_CASE("graceful shutdown: in-flight request finishes with Connection: close, idle ones close, new ones refused") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.exit_wait_timeout = 5s});
      std::atomic<bool> in_handler{false}, finished{false};
      bool hook_ran = false;
      std::vector<std::string> hooks;  // on the shutdown() thread, one after another
      // on_drain runs as the shutdown begins: the request in flight has not finished yet.
      ts.server.on_drain([&] { hooks.push_back(finished ? "drain after the request" : "drain during the request"); });
      ts.server.on_drain([] { throw std::runtime_error("withdrawal failed"); });  // logged; the shutdown goes on
      ts.server.on_shutdown([&] {
        hook_ran = true;
        hooks.push_back(finished ? "shutdown after the request" : "shutdown during the request");
      });
      ts.server.get("/work", [&](khz::RequestContext& c) -> khz::Task<> {
        in_handler = true;
        co_await khz::sleep_for(300ms);
        finished = true;
        c.string(200, "finished");
      });
      ts.server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
      ts.start();
      const auto port = ts.port();

      RawClient idle(port);  // a keep-alive connection with nothing in flight
      idle.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(body_of(idle.read_response()) == "pong");

      RawClient busy(port);
      busy.send("GET /work HTTP/1.1\r\nHost: t\r\n\r\n");
      while (!in_handler) std::this_thread::sleep_for(1ms);

      auto stopped = std::async(std::launch::async, [&] { ts.server.shutdown(); });
      REQUIRE(idle.closed_by_peer(2s));
      std::string r = busy.read_response();
      REQUIRE(status_of(r) == 200);
      REQUIRE(body_of(r) == "finished");
      REQUIRE(header_of(r, "Connection") == "close");
      REQUIRE(busy.closed_by_peer(2s));
      stopped.get();
      REQUIRE(hook_ran);
      REQUIRE(hooks == std::vector<std::string>{"drain during the request", "shutdown after the request"});
      REQUIRE_THROWS(RawClient(port));
    }
  }
}

// A request that already sits in an idle keep-alive connection when the drain begins is
// answered (with Connection: close), not dropped. The loop is held busy by a handler that
// blocks it while the request arrives and shutdown() starts, so the drain reaches the idle
// connection before the loop has read the request.
TEST_CASE("graceful shutdown: a request already waiting on an idle connection is answered") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 1, .exit_wait_timeout = 5s});
      std::atomic<bool> in_handler{false};
      std::atomic<bool> release{false};
      ts.server.get("/block", [&](khz::RequestContext& c) {
        in_handler = true;
        while (!release) std::this_thread::sleep_for(1ms);  // holds the only loop
        c.string(200, "unblocked");
      });
      ts.server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
      ts.start();
      const auto port = ts.port();

      RawClient idle(port);
      idle.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(body_of(idle.read_response()) == "pong");

      RawClient busy(port);
      busy.send("GET /block HTTP/1.1\r\nHost: t\r\n\r\n");
      while (!in_handler) std::this_thread::sleep_for(1ms);
      idle.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");  // waits in the socket: the loop is held
      auto stopped = std::async(std::launch::async, [&] { ts.server.shutdown(); });
      std::this_thread::sleep_for(200ms);  // shutdown() has queued the drain behind the handler
      release = true;

      std::string r = idle.read_response();
      REQUIRE(status_of(r) == 200);
      REQUIRE(body_of(r) == "pong");
      REQUIRE(header_of(r, "Connection") == "close");
      REQUIRE(idle.closed_by_peer(2s));
      REQUIRE(body_of(busy.read_response()) == "unblocked");
      stopped.get();
    }
  }
}

TEST_CASE("shutdown past the drain deadline closes what is left") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.exit_wait_timeout = 200ms});
      std::atomic<bool> in_handler{false};
      ts.server.get("/forever", [&](khz::RequestContext& c) -> khz::Task<> {
        in_handler = true;
        co_await khz::sleep_for(60s);  // woken early by the forced shutdown
        c.string(200, "late");
      });
      ts.start();
      RawClient c(ts.port());
      c.send("GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
      while (!in_handler) std::this_thread::sleep_for(1ms);
      auto t0 = std::chrono::steady_clock::now();
      ts.server.shutdown();
      REQUIRE(std::chrono::steady_clock::now() - t0 < 10s);
      REQUIRE(c.closed_by_peer(2s));
    }
  }
}

// Over the wire: the answer to a handler's exception keeps what middleware set, and nothing of
// the handler's half-written response leaks into its framing, so the connection stays usable.
TEST_CASE("a handler's exception: the configured answer, middleware's headers, clean framing") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.handler_error = {.status = 503, .body = "try again later"}});
      ts.server.use([](khz::RequestContext& c) { c.set_header("X-Request-Id", "req-42"); });
      ts.server.get("/boom", [](khz::RequestContext& c) {
        c.set_header("Content-Encoding", "gzip");
        c.response().trailers().set("X-Checksum", "abc");
        c.string(200, "a long partial body that must not be sent");
        throw std::runtime_error("kaput");
      });
      ts.server.get("/ok", [](khz::RequestContext& c) { c.string(200, "fine"); });
      ts.start();
      RawClient c(ts.port());
      for (int i = 0; i < 2; ++i) {  // twice on one connection, then another request
        c.send("GET /boom HTTP/1.1\r\nHost: t\r\n\r\n");
        const std::string r = c.read_response();
        CAPTURE(r);
        REQUIRE(status_of(r) == 503);
        REQUIRE(body_of(r) == "try again later");
        REQUIRE(header_of(r, "Content-Length") == "15");
        REQUIRE(header_of(r, "X-Request-Id") == "req-42");
        REQUIRE(header_of(r, "Content-Type") == "text/plain; charset=utf-8");
        REQUIRE(header_of(r, "Content-Encoding").empty());
        REQUIRE(header_of(r, "Transfer-Encoding").empty());
        REQUIRE(header_of(r, "Trailer").empty());
      }
      c.send("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(body_of(c.read_response()) == "fine");
    }
  }
}

TEST_CASE("a bad address or transport is refused at construction") {
  REQUIRE_THROWS_AS(khz::Server({.address = "nonsense"}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::Server({.address = "127.0.0.1:0", .transport = "carrier-pigeon"}), std::invalid_argument);
}


TEST_CASE("spin: the calling thread runs the first loop; shutdown() from another thread ends it") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      const std::uint16_t port = khz::test::unused_port();
      khz::Server server({.address = "127.0.0.1:" + std::to_string(port), .transport = transport, .loops = 1});
      const auto spinner = std::this_thread::get_id();
      server.get("/who", [spinner](khz::RequestContext& c) {
        c.string(200, std::this_thread::get_id() == spinner ? "spinner" : "loop thread");
      });
      bool hook_ran = false;
      server.on_shutdown([&] { hook_ran = true; });
      std::string who;
      std::thread peer([&] {
        for (int i = 0; i < 300 && who.empty(); ++i) {
          try {
            RawClient c(port);
            c.send("GET /who HTTP/1.1\r\nHost: t\r\n\r\n");
            who = body_of(c.read_response());
          } catch (...) {
            std::this_thread::sleep_for(10ms);  // not listening yet
          }
        }
        server.shutdown();
      });
      server.spin();  // returns once the peer's shutdown() has finished
      peer.join();
      REQUIRE(hook_ran);
      REQUIRE(who == (transport == "asio" ? "loop thread" : "spinner"));
      REQUIRE_THROWS(RawClient(port));
    }
  }
}

namespace {
// "127.0.0.1:41234" -> 41234.
std::uint16_t port_of(std::string_view address) {
  return static_cast<std::uint16_t>(std::stoi(std::string(address.substr(address.rfind(':') + 1))));
}
// The client side's own address of a connected socket, as the server sees its peer.
std::string client_address(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}
}  // namespace

TEST_CASE("on_run: once, on the thread that starts the server, when it listens: the port picked for port 0 is served") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport);
      ts.server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
      int calls = 0;
      std::string address;
      std::thread::id ran_on;
      std::string answered_inside;
      ts.server.on_run([&](std::string_view listen_address) {
        ++calls;
        address = listen_address;
        ran_on = std::this_thread::get_id();
        // Listening, loops running: a request made from inside the hook is served.
        RawClient c(port_of(listen_address));
        c.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        answered_inside = body_of(c.read_response());
      });
      ts.start();
      REQUIRE(calls == 1);
      REQUIRE(address == "127.0.0.1:" + std::to_string(ts.port()));
      REQUIRE(address == ts.server.listen_address());
      REQUIRE(ran_on == std::this_thread::get_id());
      REQUIRE(answered_inside == "pong");
      REQUIRE_THROWS_AS(ts.server.on_run([](std::string_view) {}), std::logic_error);
      REQUIRE_THROWS_AS(ts.server.on_accept([](const khz::ConnectionInfo&) { return true; }), std::logic_error);
    }
  }
}

TEST_CASE("on_run under spin(): on the spinning thread, before it serves; the address it reports is served") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::Server server({.address = "127.0.0.1:0", .transport = transport, .loops = 1});
      server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
      std::promise<std::string> reported;
      std::thread::id ran_on;
      server.on_run([&](std::string_view address) {
        ran_on = std::this_thread::get_id();
        reported.set_value(std::string(address));
      });
      std::string answer;
      std::thread peer([&] {
        auto future = reported.get_future();
        if (future.wait_for(10s) != std::future_status::ready) {  // no hook ran: stop the server
          server.shutdown();
          return;
        }
        auto address = future.get();  // no port probing: on_run says where
        RawClient c(port_of(address));
        c.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        answer = body_of(c.read_response());
        server.shutdown();
      });
      server.spin();
      peer.join();
      REQUIRE(ran_on == std::this_thread::get_id());
      REQUIRE(answer == "pong");
    }
  }
}

TEST_CASE("on_run: a hook that throws stops the server; start() and spin() throw it; on_shutdown hooks run") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      for (bool spinning : {false, true}) {
        khz::Server server({.address = "127.0.0.1:0", .transport = transport, .loops = 1});
        bool later_hook = false;
        bool shut_down = false;
        server.on_run([](std::string_view) { throw std::runtime_error("registry unreachable"); });
        server.on_run([&](std::string_view) { later_hook = true; });
        server.on_shutdown([&] { shut_down = true; });
        if (spinning) {
          REQUIRE_THROWS_WITH(server.spin(), "registry unreachable");
        } else {
          REQUIRE_THROWS_WITH(server.start(), "registry unreachable");
        }
        REQUIRE_FALSE(later_hook);
        REQUIRE(shut_down);
        REQUIRE(server.port() != 0);
        REQUIRE_THROWS(RawClient(server.port()));  // no longer listening
      }
    }
  }
}

TEST_CASE("on_accept: sees peer and local address on the loop that then serves the connection; false closes it unread") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport, {.loops = 2});
      std::mutex mutex;
      std::vector<std::string> peers;
      std::vector<std::string> locals;
      std::map<std::string, std::thread::id> accepted_on;  // by peer address
      std::atomic<bool> refuse{false};
      std::atomic<int> served{0};
      ts.server.on_accept([&](const khz::ConnectionInfo& c) {
        std::lock_guard lock(mutex);
        peers.emplace_back(c.peer_address);
        locals.emplace_back(c.local_address);
        accepted_on[std::string(c.peer_address)] = std::this_thread::get_id();
        return !refuse.load();
      });
      ts.server.get("/where", [&](khz::RequestContext& c) {
        ++served;
        std::lock_guard lock(mutex);
        bool same = accepted_on[std::string(c.peer_address())] == std::this_thread::get_id();
        c.string(200, same ? "same loop" : "another thread");
      });
      ts.start();
      for (int i = 0; i < 6; ++i) {  // spread over both loops
        RawClient a(ts.port());
        a.send("GET /where HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(body_of(a.read_response()) == "same loop");
        std::lock_guard lock(mutex);
        REQUIRE(peers.back() == client_address(a.fd()));
        REQUIRE(locals.back() == ts.server.listen_address());
      }
      REQUIRE(served == 6);
      {  // once per connection, not once per request (the connection parks in between)
        RawClient keep_alive(ts.port());
        for (int i = 0; i < 3; ++i) {
          keep_alive.send("GET /where HTTP/1.1\r\nHost: t\r\n\r\n");
          REQUIRE(body_of(keep_alive.read_response()) == "same loop");
          std::this_thread::sleep_for(20ms);
        }
        std::lock_guard lock(mutex);
        REQUIRE(peers.size() == 7);
      }
      REQUIRE(served == 9);

      refuse = true;
      RawClient b(ts.port());
      b.send("GET /where HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(b.read_until_close().empty());  // closed, not a byte answered
      REQUIRE(served == 9);                   // and the request never reached a handler
      REQUIRE(khz::test::eventually([&] { return ts.server.active_connections() == 0; }));

      refuse = false;
      RawClient c(ts.port());
      c.send("GET /where HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(body_of(c.read_response()) == "same loop");
    }
  }
}

TEST_CASE("peer_address: each connection's own, over HTTP/1.1 and h2c, when a pooled session moves from one connection to the next") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      // One loop: every HTTP/1.1 connection borrows the same pooled session (and its request
      // context) while it has a request in hand, and gives it back when it parks.
      khz::test::TestServer ts(transport, {.loops = 1, .h2c = true});
      ts.server.get("/peer", [](khz::RequestContext& c) { c.string(200, std::string(c.peer_address())); });
      ts.start();
      RawClient a(ts.port());
      RawClient b(ts.port());
      for (int i = 0; i < 3; ++i) {  // a, b, a, b, ...: the session changes hands every time
        for (RawClient* client : {&a, &b}) {
          client->send("GET /peer HTTP/1.1\r\nHost: t\r\n\r\n");
          REQUIRE(body_of(client->read_response()) == client_address(client->fd()));
        }
      }
      // Pipelined: two requests in one read, one session throughout.
      a.send("GET /peer HTTP/1.1\r\nHost: t\r\n\r\nGET /peer HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(body_of(a.read_response()) == client_address(a.fd()));
      REQUIRE(body_of(a.read_response()) == client_address(a.fd()));
      // h2c: one connection after another from ports the test picks (curl), then three streams
      // on one connection (nghttp; curl 7.88 sends no second request on a prior-knowledge one).
      const std::string url = "http://127.0.0.1:" + std::to_string(ts.port()) + "/peer";
      for (int i = 0; i < 2; ++i) {
        const std::uint16_t local = khz::test::unused_port();
        const auto r = khz::test::run_command("curl -s --max-time 5 --http2-prior-knowledge --local-port " +
                                              std::to_string(local) + " " + url);
        REQUIRE(r.output == "127.0.0.1:" + std::to_string(local));
      }
      // (nghttp fetches a URL given twice once: the queries tell the three apart)
      const auto streams = khz::test::run_command("nghttp -t 5 " + url + "?1 " + url + "?2 " + url + "?3");
      REQUIRE(streams.output.size() % 3 == 0);
      const std::string one = streams.output.substr(0, streams.output.size() / 3);
      REQUIRE(one.starts_with("127.0.0.1:"));
      REQUIRE(streams.output == one + one + one);
    }
  }
}

TEST_CASE("on_accept: hooks run in order and the first refusal ends them; a hook that throws refuses; Unix socket addresses") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TempDir dir;
      const std::string address = "unix:" + dir.path + "/hooks.sock";
      khz::Server server({.address = address, .transport = transport, .loops = 1});
      std::atomic<int> verdict{0};  // 0: admit, 1: the first hook refuses, 2: the first hook throws
      std::atomic<int> second_calls{0};
      std::mutex mutex;
      std::string peer, local;
      server.on_accept([&](const khz::ConnectionInfo& c) {
        {
          std::lock_guard lock(mutex);
          peer = c.peer_address;
          local = c.local_address;
        }
        if (verdict == 2) throw std::runtime_error("hook failed");
        return verdict == 0;
      });
      server.on_accept([&](const khz::ConnectionInfo&) {
        ++second_calls;
        return true;
      });
      server.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong"); });
      REQUIRE(server.start().ok());

      RawClient admitted(address);
      admitted.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(body_of(admitted.read_response()) == "pong");
      REQUIRE(second_calls == 1);
      {
        std::lock_guard lock(mutex);
        REQUIRE(peer == "unix:");
        REQUIRE(local == address);
      }
      for (int v : {1, 2}) {
        verdict = v;
        RawClient refused(address);
        refused.send("GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(refused.read_until_close().empty());
        REQUIRE(second_calls == 1);  // not asked after a refusal
      }
      server.shutdown();
    }
  }
}

// A stopping server flushes the log: a file sink's lines still in its buffer reach the file.
TEST_CASE("shutdown: the log's buffered lines are written when the server stops") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      char dir[] = "/tmp/khz-server-log-XXXXXX";
      REQUIRE(::mkdtemp(dir) != nullptr);
      const std::string path = std::string(dir) + "/app.jsonl";
      // The writer is woken neither by time nor by size: only a flush writes.
      auto file = khz::log::FileSink::open({.path = path, .flush_interval = 3600s, .flush_bytes = 1 << 20});
      const auto previous = khz::log::level();
      khz::log::set_level(khz::log::Level::info);
      const auto sink = khz::log::add_sink(file, khz::log::Level::info);
      {
        khz::test::TestServer ts(transport, {});
        ts.server.get("/log", [](khz::RequestContext& c) {
          KHZ_LOG(info, "served", khz::log::f("route", "/log"));
          c.string(200, "ok");
        });
        ts.start();
        RawClient client(ts.port());
        client.send("GET /log HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(body_of(client.read_response()) == "ok");
        REQUIRE(file->written() == 0);
        ts.server.shutdown();
        REQUIRE(file->written() > 0);
      }
      khz::log::remove_sink(sink);
      khz::log::set_level(previous);
      std::ifstream in(path);
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      REQUIRE(text.find("\"msg\":\"served\",\"route\":\"/log\"") != std::string::npos);
      std::remove(path.c_str());
      ::rmdir(dir);
    }
  }
}
