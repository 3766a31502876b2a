// SPDX-License-Identifier: Apache-2.0
// khz::Client over HTTP/2, on every transport: h2c with prior knowledge and h2 by ALPN against
// a khz Server (100 concurrent requests on exactly one connection, the timeouts, cancelling one
// stream, retries, redirects, streamed bodies both ways, body_file, max_body_bytes, middleware,
// send_into reuse, an h2 connection replaced after the server closed it), against scripted raw
// servers (REFUSED_STREAM and GOAWAY sent again automatically), and interop with nghttpd over
// TLS (ALPN) and h2c, started and stopped here.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/protocol/error.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/script_server.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::BlockingClient;
using khz::ClientOptions;
using khz::ClientRequest;
using khz::Task;
using khz::test::ScriptServer;
using khz::test::TestPki;
using khz::test::TestServer;

namespace {

ClientOptions h2c(const std::string& transport) {
  ClientOptions o;
  o.transport = transport;
  o.proxy_from_environment = false;
  o.dial_timeout = 2s;
  o.response_header_timeout = 3s;
  o.http2_prior_knowledge = true;
  return o;
}

ClientOptions h2_tls(const std::string& transport) {
  ClientOptions o = h2c(transport);
  o.http2_prior_knowledge = false;
  o.tls_ca_file = TestPki::get().ca_cert;
  return o;
}

void add_routes(khz::Server& s, std::atomic<int>& flaky, std::atomic<int>& busy, std::atomic<int>& peak) {
  s.get("/ping", [](khz::RequestContext& c) { c.string(200, "pong " + std::string(c.header("X-Mw"))); });
  s.post("/echo", [](khz::RequestContext& c) { c.data(200, "application/octet-stream", c.body()); });
  s.get("/slow/:ms", [&busy, &peak](khz::RequestContext& c) -> Task<> {
    int now = ++busy;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    co_await khz::sleep_for(std::chrono::milliseconds(std::stoi(std::string(c.param("ms")))));
    --busy;
    c.string(200, "slept");
  });
  s.get("/flaky", [&flaky](khz::RequestContext& c) {
    if (++flaky <= 2) {
      c.string(503, "try again");
    } else {
      c.string(200, "finally");
    }
  });
  s.get("/redirect", [](khz::RequestContext& c) { c.redirect(302, "/ping"); });
  s.get("/big/:n", [](khz::RequestContext& c) {
    c.string(200, std::string(std::stoul(std::string(c.param("n"))), 'x'));
  });
  s.get("/stream", [](khz::RequestContext& c) -> Task<> {
    for (int i = 0; i < 3; ++i) {
      if (!co_await c.write("part" + std::to_string(i) + ";")) co_return;
      co_await khz::sleep_for(20ms);
    }
  });
  s.get("/gap", [](khz::RequestContext& c) -> Task<> {
    if (!co_await c.write("first;")) co_return;
    co_await khz::sleep_for(1500ms);
    (void)co_await c.write("late");
  });
  s.post("/count", [](khz::RequestContext& c) -> Task<> {
    std::size_t n = 0;
    for (;;) {
      auto piece = co_await c.read_body_chunk();
      if (!piece) {
        c.string(400, "broken");
        co_return;
      }
      if (piece->empty()) break;
      n += piece->size();
    }
    c.string(200, std::to_string(n));
  }).stream_body();
}

struct Fixture {
  std::atomic<int> flaky{0};
  std::atomic<int> busy{0};
  std::atomic<int> peak{0};
};

// `n` concurrent GETs of `path` on the client's loop; returns how many succeeded with HTTP/2.
Task<void> one_get(khz::Client* c, std::string url, std::atomic<int>* ok, std::atomic<int>* left) {
  auto r = co_await c->get(std::move(url));
  if (r && r->status() == 200 && r->version() == khz::Version::http2) ++*ok;
  --*left;
}

}  // namespace

TEST_CASE("client h2: against khz's HTTP/2 server, h2c and h2 by ALPN") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Fixture f;
      const auto& pki = TestPki::get();
      TestServer plain(transport);
      add_routes(plain.server, f.flaky, f.busy, f.peak);
      plain.start();
      khz::ServerOptions tls_options;
      tls_options.tls_cert_file = pki.alpha_cert;
      tls_options.tls_key_file = pki.alpha_key;
      TestServer tls(transport, tls_options);
      add_routes(tls.server, f.flaky, f.busy, f.peak);
      tls.start();
      const std::string h2c_base = "http://127.0.0.1:" + std::to_string(plain.port());
      const std::string tls_base = "https://localhost:" + std::to_string(tls.port());
      const std::string h2c_key = "127.0.0.1:" + std::to_string(plain.port());
      const std::string tls_key = "https://localhost:" + std::to_string(tls.port());

      SECTION("100 concurrent requests share exactly one connection (h2c and h2)") {
        for (bool over_tls : {false, true}) {
          INFO("tls " << over_tls);
          BlockingClient c(over_tls ? h2_tls(transport) : h2c(transport));
          std::atomic<int> ok{0};
          std::size_t open_during = 0;
          std::size_t open_after = 0;
          c.run([&]() -> Task<void> {
            std::atomic<int> left{100};
            for (int i = 0; i < 100; ++i) {
              spawn(one_get(&c.client(), (over_tls ? tls_base : h2c_base) + "/slow/100", &ok, &left));
            }
            for (int i = 0; i < 2000 && f.busy.load() < 50; ++i) co_await khz::sleep_for(1ms);
            open_during = c.client().open_connections(over_tls ? tls_key : h2c_key);
            while (left.load() > 0) co_await khz::sleep_for(2ms);
            open_after = c.client().open_connections(over_tls ? tls_key : h2c_key);
          });
          CHECK(ok.load() == 100);
          CHECK(open_during == 1);
          CHECK(open_after == 1);
          CHECK(f.peak.load() > 10);  // concurrent streams, not one after another
        }
      }

      SECTION("version, ALPN fallback to HTTP/1.1 when http2 is off") {
        BlockingClient on(h2_tls(transport));
        auto r = on.get(tls_base + "/ping");
        REQUIRE(r);
        CHECK(r->version() == khz::Version::http2);
        CHECK(r->body() == "pong ");
        ClientOptions o = h2_tls(transport);
        o.http2 = false;
        BlockingClient off(o);
        auto r1 = off.get(tls_base + "/ping");
        REQUIRE(r1);
        CHECK(r1->version() == khz::Version::http11);
        ClientOptions h1 = h2c(transport);
        h1.http2_prior_knowledge = false;
        BlockingClient plain_h1(h1);
        auto r2 = plain_h1.get(h2c_base + "/ping");
        REQUIRE(r2);
        CHECK(r2->version() == khz::Version::http11);  // http:// without prior knowledge
      }

      SECTION("timeouts: response header, read gap, total; the connection survives a timed-out stream") {
        ClientOptions o = h2c(transport);
        o.response_header_timeout = 200ms;
        o.read_timeout = 300ms;
        BlockingClient c(o);
        auto t0 = std::chrono::steady_clock::now();
        auto r = c.get(h2c_base + "/slow/2000");
        REQUIRE_FALSE(r);
        CHECK(r.error() == khz::transport::errc::timed_out);
        CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
        auto gap = c.get(h2c_base + "/gap");
        REQUIRE_FALSE(gap);
        CHECK(gap.error() == khz::transport::errc::timed_out);
        auto ok = c.get(h2c_base + "/ping");
        REQUIRE(ok);
        std::size_t open = 0;
        c.run([&]() -> Task<void> {
          open = c.client().open_connections(h2c_key);
          co_return;
        });
        CHECK(open == 1);
        ClientRequest req;
        req.url = h2c_base + "/slow/2000";
        req.timeout = 150ms;
        o.response_header_timeout = 5s;
        BlockingClient c2(o);
        auto total = c2.send(std::move(req));
        REQUIRE_FALSE(total);
        CHECK(total.error() == khz::transport::errc::timed_out);
      }

      SECTION("cancel resets just that stream") {
        BlockingClient c(h2c(transport));
        std::error_code cancelled_ec;
        bool other_ok = false;
        std::size_t open = 0;
        c.run([&]() -> Task<void> {
          struct Local {
            static Task<void> other(khz::Client* c, std::string url, bool* ok) {
              auto r = co_await c->get(std::move(url));
              *ok = r && r->body() == "slept";
            }
            static Task<void> cancel_later(khz::CancellationToken t) {
              co_await khz::sleep_for(100ms);
              t.cancel();
            }
          };
          spawn(Local::other(&c.client(), h2c_base + "/slow/300", &other_ok));
          ClientRequest req;
          req.url = h2c_base + "/slow/3000";
          spawn(Local::cancel_later(req.cancel));
          auto r = co_await c.client().send(std::move(req));
          cancelled_ec = r ? std::error_code() : r.error();
          co_await khz::sleep_for(400ms);
          open = c.client().open_connections(h2c_key);
        });
        CHECK(cancelled_ec == khz::client::errc::cancelled);
        CHECK(other_ok);
        CHECK(open == 1);
      }

      SECTION("retries on 503, redirects, middleware, max_body_bytes, send_into reuse") {
        ClientOptions o = h2c(transport);
        o.retry.max_attempts = 3;
        o.retry.backoff = 1ms;
        o.max_body_bytes = 1000;
        BlockingClient c(o);
        c.client().use([](khz::ClientContext& ctx) -> Task<void> {
          ctx.request().headers.set("X-Mw", "on");
          co_await ctx.next();
        });
        auto r = c.get(h2c_base + "/flaky");
        REQUIRE(r);
        CHECK(r->body() == "finally");
        auto red = c.get(h2c_base + "/redirect");
        REQUIRE(red);
        CHECK(red->body() == "pong on");
        CHECK(red->version() == khz::Version::http2);
        auto big = c.get(h2c_base + "/big/5000");
        REQUIRE_FALSE(big);
        CHECK(big.error() == khz::protocol::errc::response_too_large);
        int good = 0;
        c.run([&]() -> Task<void> {
          ClientRequest req;
          req.url = h2c_base + "/ping";
          khz::Response resp;
          for (int i = 0; i < 20; ++i) {
            auto ec = co_await c.client().send_into(req, resp);
            if (!ec && resp.body() == "pong on") ++good;
          }
        });
        CHECK(good == 20);
      }

      SECTION("streamed request bodies (body_source, body_file) and streamed responses") {
        BlockingClient c(h2c(transport));
        ClientRequest up;
        up.method = "POST";
        up.url = h2c_base + "/count";
        auto pieces = std::make_shared<int>(0);
        std::string piece(300000, 'p');
        up.body_source = [pieces, &piece]() -> Task<khz::Result<std::string_view>> {
          if (++*pieces > 10) co_return std::string_view();
          co_return std::string_view(piece);
        };
        auto r = c.send(std::move(up));
        REQUIRE(r);
        CHECK(r->body() == "3000000");

        auto path = std::filesystem::temp_directory_path() / ("khz_h2_body_" + std::to_string(::getpid()));
        {
          std::ofstream out(path, std::ios::binary);
          out << std::string(200000, 'f');
        }
        ClientRequest file;
        file.method = "POST";
        file.url = h2c_base + "/count";
        file.body_file = path.string();
        auto rf = c.send(std::move(file));
        std::filesystem::remove(path);
        REQUIRE(rf);
        CHECK(rf->body() == "200000");

        std::string got;
        bool finished = false;
        c.run([&]() -> Task<void> {
          ClientRequest req;
          req.url = h2c_base + "/stream";
          auto s = co_await c.client().stream(std::move(req));
          REQUIRE(s);
          CHECK(s->response().version() == khz::Version::http2);
          for (;;) {
            auto piece = co_await s->read();
            REQUIRE(piece);
            if (piece->empty()) break;
            got += *piece;
          }
          finished = s->finished();
        });
        CHECK(got == "part0;part1;part2;");
        CHECK(finished);
      }

      SECTION("the server closes the connection: the next request uses a new one") {
        khz::ServerOptions so;
        so.http2.idle_timeout = 100ms;
        TestServer quick(transport, so);
        add_routes(quick.server, f.flaky, f.busy, f.peak);
        quick.start();
        BlockingClient c(h2c(transport));
        const std::string base = "http://127.0.0.1:" + std::to_string(quick.port());
        REQUIRE(c.get(base + "/ping"));
        std::this_thread::sleep_for(400ms);  // GOAWAY + close from the server meanwhile
        auto r = c.get(base + "/ping");
        REQUIRE(r);
        CHECK(r->version() == khz::Version::http2);
      }
    }
  }
}

TEST_CASE("client h2: REFUSED_STREAM and GOAWAY are sent again automatically") {
  // Frames by hand, as in http2_client_test.cc.
  auto frame = [](int type, int flags, std::uint32_t sid, std::string_view payload) {
    std::string f;
    std::size_t n = payload.size();
    for (int shift : {16, 8, 0}) f.push_back(static_cast<char>((n >> shift) & 0xff));
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    for (int shift : {24, 16, 8, 0}) f.push_back(static_cast<char>((sid >> shift) & 0xff));
    f.append(payload);
    return f;
  };
  auto u32 = [](std::uint32_t v) {
    std::string s;
    for (int shift : {24, 16, 8, 0}) s.push_back(static_cast<char>((v >> shift) & 0xff));
    return s;
  };
  // ":status: 200" (static table index 8), "content-length: 2" literal.
  const std::string head200 = std::string("\x88", 1) + std::string("\x0f\x0d\x01", 3) + "2";
  // Reads the preface and frames; returns the stream ids of HEADERS seen, up to `n`.
  auto serve = [&](ScriptServer::Peer& p, std::size_t n) {
    std::vector<std::uint32_t> ids;
    if (p.read_exact(24).size() != 24) return ids;
    p.send(frame(4, 0, 0, ""));
    while (ids.size() < n) {
      std::string h = p.read_exact(9);
      if (h.size() != 9) break;
      std::size_t len = (std::size_t(std::uint8_t(h[0])) << 16) | (std::size_t(std::uint8_t(h[1])) << 8) | std::uint8_t(h[2]);
      if (len > 0 && p.read_exact(len).size() != len) break;
      if (h[3] == 4 && !(h[4] & 1)) p.send(frame(4, 1, 0, ""));
      if (h[3] == 1) ids.push_back((std::uint32_t(std::uint8_t(h[7])) << 8) | std::uint8_t(h[8]));
    }
    return ids;
  };

  SECTION("REFUSED_STREAM: a POST is sent again on the same connection") {
    // The second HEADERS comes on the same connection: answer it.
    ScriptServer s2([&](ScriptServer::Peer& p) {
      std::vector<std::uint32_t> ids;
      if (p.read_exact(24).size() != 24) return;
      p.send(frame(4, 0, 0, ""));
      int seen = 0;
      while (seen < 2) {
        std::string h = p.read_exact(9);
        if (h.size() != 9) return;
        std::size_t len = (std::size_t(std::uint8_t(h[0])) << 16) | (std::size_t(std::uint8_t(h[1])) << 8) | std::uint8_t(h[2]);
        if (len > 0 && p.read_exact(len).size() != len) return;
        if (h[3] == 4 && !(h[4] & 1)) p.send(frame(4, 1, 0, ""));
        if (h[3] != 1) continue;
        std::uint32_t sid = (std::uint32_t(std::uint8_t(h[7])) << 8) | std::uint8_t(h[8]);
        if (++seen == 1) {
          p.send(frame(3, 0, sid, u32(7)));  // REFUSED_STREAM
        } else {
          p.send(frame(1, 4, sid, head200));
          p.send(frame(0, 1, sid, "ok"));
        }
      }
      p.hold(1s);
    });
    ClientOptions o = h2c("");
    BlockingClient c(o);
    ClientRequest post;
    post.method = "POST";
    post.url = s2.url("/");
    post.body = "data";
    auto r = c.send(std::move(post));
    REQUIRE(r);
    CHECK(r->body() == "ok");
    CHECK(s2.connections() == 1);
  }

  SECTION("GOAWAY: the stream above last_stream_id goes again on a new connection") {
    std::atomic<int> conns{0};
    ScriptServer s([&](ScriptServer::Peer& p) {
      int n = ++conns;
      auto ids = serve(p, n == 1 ? 2 : 1);
      if (ids.empty()) return;
      if (n == 1) {
        if (ids.size() != 2) return;
        p.send(frame(7, 0, 0, u32(ids[0]) + u32(0)));  // GOAWAY: only the first is processed
        p.send(frame(1, 4, ids[0], head200));
        p.send(frame(0, 1, ids[0], "ok"));
      } else {
        p.send(frame(1, 4, ids[0], head200));
        p.send(frame(0, 1, ids[0], "ok"));
      }
      p.hold(1s);
    });
    BlockingClient c(h2c(""));
    int ok = 0;
    c.run([&]() -> Task<void> {
      struct Local {
        static Task<void> get(khz::Client* c, std::string url, int* ok, std::atomic<int>* left) {
          ClientRequest post;  // not idempotent: still sent again (never processed)
          post.method = "POST";
          post.url = std::move(url);
          auto r = co_await c->send(std::move(post));
          if (r && r->body() == "ok") ++*ok;
          --*left;
        }
      };
      std::atomic<int> left{2};
      spawn(Local::get(&c.client(), s.url("/a"), &ok, &left));
      spawn(Local::get(&c.client(), s.url("/b"), &ok, &left));
      while (left.load() > 0) co_await khz::sleep_for(2ms);
    });
    CHECK(ok == 2);
    CHECK(s.connections() == 2);
  }

  SECTION("GOAWAY while a streamed POST waits for a stream slot: it goes on a new connection, body whole") {
    // The server allows one stream at a time; the POST (a body_source, which cannot be replayed
    // once asked for bytes) waits for the slot a GET holds, and the GOAWAY ends that wait before
    // its body began: it is sent again, as any refused request is.
    std::atomic<int> conns{0};
    std::mutex m;
    std::string posted;  // the body the second connection received
    ScriptServer s([&](ScriptServer::Peer& p) {
      const int n = ++conns;
      if (p.read_exact(24).size() != 24) return;
      p.send(frame(4, 0, 0, std::string("\x00\x03", 2) + u32(1)));  // MAX_CONCURRENT_STREAMS 1
      std::string body;
      for (;;) {
        std::string h = p.read_exact(9);
        if (h.size() != 9) return;
        std::size_t len = (std::size_t(std::uint8_t(h[0])) << 16) | (std::size_t(std::uint8_t(h[1])) << 8) | std::uint8_t(h[2]);
        std::string payload = len > 0 ? p.read_exact(len) : std::string();
        if (payload.size() != len) return;
        const std::uint32_t sid = (std::uint32_t(std::uint8_t(h[7])) << 8) | std::uint8_t(h[8]);
        if (h[3] == 4 && !(h[4] & 1)) p.send(frame(4, 1, 0, ""));
        if (n == 1 && h[3] == 1) {  // the GET: let the POST wait for its slot, then go away
          std::this_thread::sleep_for(150ms);
          p.send(frame(7, 0, 0, u32(sid) + u32(0)));
          p.send(frame(1, 4, sid, head200));
          p.send(frame(0, 1, sid, "ok"));
          break;
        }
        if (n == 2 && h[3] == 0) {
          body += payload;
          if (h[4] & 1) {  // END_STREAM: answer the POST
            p.send(frame(1, 4, sid, head200));
            p.send(frame(0, 1, sid, "ok"));
            std::lock_guard lock(m);
            posted = body;
            break;
          }
        }
      }
      p.hold(1s);
    });
    BlockingClient c(h2c(""));
    std::string got, get_got;
    int asked = 0;
    c.run([&]() -> Task<void> {
      struct Local {
        static Task<void> get(khz::Client* c, std::string url, std::string* out, std::atomic<int>* left) {
          auto r = co_await c->get(std::move(url));
          *out = r ? std::string(r->body()) : r.error().message();
          --*left;
        }
        // "data", then the end: the source's first ask gives the piece, its second the end.
        static Task<khz::Result<std::string_view>> piece(int* asked) {
          co_return std::string_view(++*asked == 1 ? "data" : "");
        }
        static Task<void> post(khz::Client* c, std::string url, int* asked, std::string* out, std::atomic<int>* left) {
          ClientRequest req;
          req.method = "POST";
          req.url = std::move(url);
          req.body_length = 4;
          req.body_source = [asked] { return piece(asked); };
          auto r = co_await c->send(std::move(req));
          *out = r ? std::string(r->body()) : r.error().message();
          --*left;
        }
      };
      std::atomic<int> left{2};
      spawn(Local::get(&c.client(), s.url("/a"), &get_got, &left));
      co_await khz::sleep_for(50ms);  // the GET holds the one slot
      spawn(Local::post(&c.client(), s.url("/b"), &asked, &got, &left));
      while (left.load() > 0) co_await khz::sleep_for(2ms);
    });
    CHECK(get_got == "ok");
    CHECK(got == "ok");
    CHECK(asked == 2);  // its piece and its end, once each: nothing was asked before the GOAWAY
    std::lock_guard lock(m);
    CHECK(posted == "data");
    CHECK(s.connections() == 2);
  }
}

TEST_CASE("client h2: a handler's outbound h2 stream is reset when its downstream client goes away") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Fixture f;
      TestServer upstream(transport);
      std::mutex peers_mutex;
      std::set<std::string> peers;  // the upstream connections the front's client used
      upstream.server.get("/held/:ms", [&](khz::RequestContext& c) -> Task<> {
        {
          std::lock_guard lock(peers_mutex);
          peers.emplace(c.peer_address());
        }
        ++f.busy;
        co_await khz::sleep_for(std::chrono::milliseconds(std::stoi(std::string(c.param("ms")))));
        --f.busy;
        c.string(200, "slept");
      });
      upstream.start();
      const std::string up = "http://127.0.0.1:" + std::to_string(upstream.port());
      TestServer front(transport, {.loops = 1});  // one loop: one pool, one h2 connection
      khz::Client client(h2c(transport));          // after the server: destroyed first
      std::atomic<int> outcome{0};                 // 1 answered, 2 cancelled, 3 other
      std::atomic<long> took_ms{-1};
      std::atomic<int> upstream_peers{0};
      front.server.get("/proxy/:ms", [&](khz::RequestContext& ctx) -> Task<> {
        auto t0 = std::chrono::steady_clock::now();
        auto r = co_await client.get(up + "/held/" + std::string(ctx.param("ms")));
        took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        outcome = r ? 1 : r.error() == khz::client::errc::cancelled ? 2 : 3;
        upstream_peers = static_cast<int>(client.open_connections("127.0.0.1:" + std::to_string(upstream.port())));
        ctx.string(r ? 200 : 502, r ? std::string(r->body()) : r.error().message());
      });
      front.server.get("/close_idle", [&](khz::RequestContext& ctx) {
        client.close_idle();
        ctx.string(200, "closed");
      });
      front.start();

      int fd = khz::test::connect_loopback(front.port());
      std::string get = "GET /proxy/2000 HTTP/1.1\r\nHost: x\r\n\r\n";
      REQUIRE(::send(fd, get.data(), get.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(get.size()));
      REQUIRE(khz::test::eventually([&] { return f.busy.load() == 1; }));  // the stream reached upstream
      ::close(fd);  // the downstream client goes away
      REQUIRE(khz::test::eventually([&] { return outcome.load() != 0; }, 2s));
      CHECK(outcome.load() == 2);
      CHECK(took_ms.load() < 1000);
      CHECK(upstream_peers.load() == 1);
      // The shared h2 connection survived: the next call goes through it.
      outcome = 0;
      BlockingClient downstream(h2c(transport));
      auto r = downstream.get("http://127.0.0.1:" + std::to_string(front.port()) + "/proxy/10");
      REQUIRE(r);
      CHECK(r->body() == "slept");
      CHECK(outcome.load() == 1);
      CHECK(upstream_peers.load() == 1);
      std::lock_guard lock(peers_mutex);
      CHECK(peers.size() == 1);  // both calls on the one h2 connection: only the stream was reset
      auto closed = downstream.get("http://127.0.0.1:" + std::to_string(front.port()) + "/close_idle");
      CHECK(closed);  // the client's pools closed on the front's loop, before the client goes
    }
  }
}

TEST_CASE("client h2: dial and TLS handshake failures end the request (and its waiters) cleanly") {
  // A server that accepts and never answers: the handshake timeout (https, h2 offered) and,
  // for h2c, the response-header timeout; requests that waited for that dial fail too.
  ScriptServer silent([](ScriptServer::Peer& p) { p.hold(3s); });
  ClientOptions o = h2_tls("");
  o.tls_handshake_timeout = 300ms;
  BlockingClient c(o);
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.get("https://localhost:" + std::to_string(silent.port()) + "/");
  REQUIRE_FALSE(r);
  CHECK(r.error() == khz::transport::errc::timed_out);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);

  ClientOptions p = h2c("");
  p.response_header_timeout = 300ms;
  BlockingClient plain(p);
  std::vector<std::error_code> errors(5);
  plain.run([&]() -> Task<void> {
    struct Local {
      static Task<void> get(khz::Client* c, std::string url, std::error_code* ec, std::atomic<int>* left) {
        auto r = co_await c->get(std::move(url));
        *ec = r ? std::error_code() : r.error();
        --*left;
      }
    };
    std::atomic<int> left{5};
    for (auto& ec : errors) spawn(Local::get(&plain.client(), silent.url("/"), &ec, &left));
    while (left.load() > 0) co_await khz::sleep_for(2ms);
  });
  for (auto& ec : errors) CHECK(ec == khz::transport::errc::timed_out);

  BlockingClient refused(h2c(""));
  auto rr = refused.get("http://127.0.0.1:" + std::to_string(khz::test::unused_port()) + "/");
  REQUIRE_FALSE(rr);
  CHECK(rr.error() == std::errc::connection_refused);
}

namespace {

// nghttpd serving `docroot` on a free port (TLS with the test PKI, or h2c), stopped at scope end.
struct Nghttpd {
  pid_t pid = -1;
  std::uint16_t port = 0;
  Nghttpd(const std::string& docroot, bool tls) {
    port = khz::test::unused_port();
    const auto& pki = TestPki::get();
    std::string port_text = std::to_string(port);
    pid = ::fork();
    if (pid == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (tls) {
        ::execlp("nghttpd", "nghttpd", "-d", docroot.c_str(), "--address=127.0.0.1", port_text.c_str(),
                 pki.alpha_key.c_str(), pki.alpha_cert.c_str(), static_cast<char*>(nullptr));
      } else {
        ::execlp("nghttpd", "nghttpd", "-d", docroot.c_str(), "--address=127.0.0.1", "--no-tls", port_text.c_str(),
                 static_cast<char*>(nullptr));
      }
      ::_exit(127);
    }
    khz::test::eventually([&] {
      try {
        int fd = khz::test::connect_loopback(port);
        ::close(fd);
        return true;
      } catch (...) {
        return false;
      }
    });
  }
  ~Nghttpd() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

}  // namespace

TEST_CASE("client h2: interop with nghttpd over TLS (ALPN) and h2c") {
  if (std::system("command -v nghttpd > /dev/null 2>&1") != 0) {
    FAIL("nghttpd is not installed (Debian nghttp2-server; scripts/install-deps.sh)");
  }
  auto docroot = std::filesystem::temp_directory_path() / ("khz_nghttpd_" + std::to_string(::getpid()));
  std::filesystem::create_directories(docroot);
  std::string big(1 << 20, 'n');
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  {
    std::ofstream(docroot / "hello.txt") << "hello from nghttpd\n";
    std::ofstream(docroot / "big.bin", std::ios::binary) << big;
  }
  for (bool tls : {true, false}) {
    DYNAMIC_SECTION((tls ? "h2 over TLS" : "h2c")) {
      Nghttpd server(docroot.string(), tls);
      ClientOptions o = tls ? h2_tls("") : h2c("");
      BlockingClient c(o);
      std::string base = (tls ? "https://localhost:" : "http://127.0.0.1:") + std::to_string(server.port);
      auto r = c.get(base + "/hello.txt");
      REQUIRE(r);
      CHECK(r->status() == 200);
      CHECK(r->version() == khz::Version::http2);
      CHECK(r->body() == "hello from nghttpd\n");
      auto b = c.get(base + "/big.bin");
      REQUIRE(b);
      CHECK(b->body() == big);
      auto missing = c.get(base + "/nope");
      REQUIRE(missing);
      CHECK(missing->status() == 404);
      std::atomic<int> ok{0};
      std::size_t open = 0;
      c.run([&]() -> Task<void> {
        std::atomic<int> left{50};
        for (int i = 0; i < 50; ++i) spawn(one_get(&c.client(), base + "/hello.txt", &ok, &left));
        while (left.load() > 0) co_await khz::sleep_for(2ms);
        open = c.client().open_connections((tls ? "https://localhost:" : "127.0.0.1:") + std::to_string(server.port));
      });
      CHECK(ok.load() == 50);
      CHECK(open == 1);
    }
  }
  std::filesystem::remove_all(docroot);
}
