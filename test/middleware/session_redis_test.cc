// SPDX-License-Identifier: Apache-2.0
// khz::middleware::session with the Redis store, against a real redis-server started once for
// this test binary (a free port, no persistence): round trips (khz in process, curl on both
// transports), TTL expiry, a Redis restart in the middle, concurrent clients (python3) on both
// transports, and bad ids.
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/middleware/session.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

using khz::test::eventually;
using khz::test::run_command;
using khz::test::TestServer;
using khz::testing::perform_request;
using namespace std::chrono_literals;

namespace {

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

// One redis-server for the whole binary, stopped at exit; restart() keeps its port.
class RedisServer {
 public:
  static RedisServer& get() {
    static RedisServer server;
    return server;
  }
  std::uint16_t port() const { return port_; }
  std::string cli(const std::string& args) const {
    return run_command("redis-cli -p " + std::to_string(port_) + " " + args + " 2>&1").output;
  }
  void stop() {
    const std::string pid = read_pid();
    if (!pid.empty()) ::kill(std::stoi(pid), SIGTERM);
    REQUIRE(eventually([&] { return !contains(cli("ping"), "PONG"); }, 10s));
    REQUIRE(eventually([&] { return run_command("kill -0 " + pid + " 2>/dev/null").status != 0; }, 10s));
  }
  void start() {
    const auto r = run_command("redis-server --port " + std::to_string(port_) + " --bind 127.0.0.1 --save '' --appendonly no" +
                               " --daemonize yes --pidfile " + dir_.path + "/redis.pid --dir " + dir_.path +
                               " --logfile " + dir_.path + "/redis.log");
    REQUIRE(r.status == 0);
    REQUIRE(eventually([&] { return contains(cli("ping"), "PONG"); }, 10s));
  }
  ~RedisServer() {
    const std::string pid = read_pid();
    if (!pid.empty()) ::kill(std::stoi(pid), SIGTERM);
  }

 private:
  RedisServer() : port_(khz::test::unused_port()) { start(); }
  std::string read_pid() const {
    std::ifstream in(dir_.path + "/redis.pid");
    std::string pid;
    in >> pid;
    return pid;
  }
  khz::test::TempDir dir_;
  std::uint16_t port_;
};

std::string session_cookie(const khz::Response& r) {
  for (const auto& f : r.headers()) {
    if (!khz::iequals(f.name, "Set-Cookie")) continue;
    std::string_view v = f.value;
    if (v.rfind("khz_session=", 0) == 0) {
      v.remove_prefix(12);
      return std::string(v.substr(0, v.find(';')));
    }
  }
  return {};
}

std::vector<khz::testing::Header> with_cookie(const std::string& value) {
  std::vector<khz::testing::Header> h;
  h.emplace_back("Cookie", "khz_session=" + value);
  return h;
}

template <class Router>
void add_routes(Router& e) {
  e.get("/set", [](khz::RequestContext& c) {
    khz::middleware::session(c).set(std::string(c.query("k")), std::string(c.query("v")));
    c.string(200, "ok");
  });
  e.get("/get", [](khz::RequestContext& c) {
    const std::string* v = khz::middleware::session(c).get(c.query("k"));
    c.string(200, v != nullptr ? *v : std::string("<none>"));
  });
  e.get("/regenerate", [](khz::RequestContext& c) {
    khz::middleware::session(c).regenerate();
    c.string(200, "ok");
  });
  e.get("/destroy", [](khz::RequestContext& c) {
    khz::middleware::session(c).destroy();
    c.string(200, "bye");
  });
  // Increments the session's counter "n" and answers its new value.
  e.get("/inc", [](khz::RequestContext& c) {
    auto& s = khz::middleware::session(c);
    const std::string* n = s.get("n");
    const int next = (n != nullptr ? std::stoi(*n) : 0) + 1;
    s.set("n", std::to_string(next));
    c.string(200, std::to_string(next));
  });
}

std::shared_ptr<khz::middleware::SessionStore> store(const std::string& prefix = "khz:session:") {
  return khz::middleware::redis_store({.port = RedisServer::get().port(), .key_prefix = prefix,
                                       .connect_timeout = 1s, .command_timeout = 1s});
}

}  // namespace

TEST_CASE("session (redis store): round trip, regenerate, destroy, TTL set") {
  RedisServer& redis = RedisServer::get();
  khz::Engine e;
  e.use(khz::middleware::session({.store = store("rt:"), .idle_timeout = 600s}));
  add_routes(e);
  auto r = perform_request(e, "GET", "/set?k=user&v=ann");
  const std::string id = session_cookie(r);
  REQUIRE(id.size() == 32);
  REQUIRE(id.find_first_not_of("0123456789abcdef") == std::string::npos);
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(id)).body() == "ann");
  // The record is in Redis under the prefix, with the idle timeout as its TTL.
  const int ttl = std::stoi(redis.cli("ttl rt:" + id));
  REQUIRE(ttl > 590);
  REQUIRE(ttl <= 600);
  // Reading does not write.
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(id)).headers().count("Set-Cookie") == 0);
  // regenerate: a new id, the old one gone from Redis, the data kept.
  const std::string id2 = session_cookie(perform_request(e, "GET", "/regenerate", with_cookie(id)));
  REQUIRE(id2.size() == 32);
  REQUIRE(id2 != id);
  REQUIRE(contains(redis.cli("exists rt:" + id), "0"));
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(id2)).body() == "ann");
  // destroy: gone from Redis, the cookie deleted.
  auto d = perform_request(e, "GET", "/destroy", with_cookie(id2));
  REQUIRE(contains(d.headers().get("Set-Cookie"), "Max-Age=0"));
  REQUIRE(contains(redis.cli("exists rt:" + id2), "0"));
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(id2)).body() == "<none>");
}

TEST_CASE("session (redis store): bad ids and expired records are a fresh session and one log line") {
  RedisServer& redis = RedisServer::get();
  khz::Engine e;
  e.use(khz::middleware::session({.store = store("bad:"), .idle_timeout = 2s}));
  add_routes(e);
  struct Case {
    std::string value;
    const char* logged;
  };
  const Case cases[] = {
      {"not-an-id", "malformed"},
      {std::string(32, 'g'), "malformed"},
      {std::string(32, 'a'), "unknown session id"},
      {std::string(5000, 'a'), "malformed"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.value.substr(0, 40));
    khz::test::LogCapture log;
    auto r = perform_request(e, "GET", "/get?k=user", with_cookie(c.value));
    REQUIRE(r.status() == 200);
    REQUIRE(r.body() == "<none>");
    REQUIRE(contains(log.text(), "session: GET /get: cookie refused ("));
    REQUIRE(contains(log.text(), c.logged));
  }
  // A record whose payload does not decode.
  redis.cli("set bad:" + std::string(32, 'b') + " garbage");
  {
    khz::test::LogCapture log;
    REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(std::string(32, 'b'))).body() == "<none>");
    REQUIRE(contains(log.text(), "malformed"));
  }
  // TTL expiry: Redis forgets the record after idle_timeout (2 s).
  const std::string id = session_cookie(perform_request(e, "GET", "/set?k=user&v=ann"));
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(id)).body() == "ann");
  REQUIRE(contains(redis.cli("exists bad:" + id), "1"));
  REQUIRE(eventually([&] { return contains(redis.cli("exists bad:" + id), "0"); }, 5s));
  khz::test::LogCapture log;
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(id)).body() == "<none>");
  REQUIRE(contains(log.text(), "unknown session id"));
}

TEST_CASE("session (redis store): Redis restarted mid-test") {
  RedisServer& redis = RedisServer::get();
  khz::Engine e;
  e.use(khz::middleware::session({.store = store("restart:")}));
  add_routes(e);
  khz::Engine strict;
  strict.use(khz::middleware::session({.store = store("restart:"), .unavailable_status = 503}));
  add_routes(strict);
  const std::string id = session_cookie(perform_request(e, "GET", "/set?k=user&v=ann"));
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(id)).body() == "ann");
  REQUIRE(perform_request(strict, "GET", "/get?k=user", with_cookie(id)).body() == "ann");

  redis.stop();
  {
    khz::test::LogCapture log;
    auto r = perform_request(e, "GET", "/get?k=user", with_cookie(id));
    REQUIRE(r.status() == 200);  // an empty session, not a failure
    REQUIRE(r.body() == "<none>");
    REQUIRE(contains(log.text(), "session: GET /get: session store unavailable; a new session"));
    auto s = perform_request(strict, "GET", "/get?k=user", with_cookie(id));
    REQUIRE(s.status() == 503);
    REQUIRE(contains(log.text(), "session store unavailable; 503"));
    // A write that cannot reach Redis sends no cookie.
    auto w = perform_request(e, "GET", "/set?k=user&v=bob");
    REQUIRE(w.status() == 200);
    REQUIRE(w.headers().count("Set-Cookie") == 0);
    REQUIRE(contains(log.text(), "session: GET /set: not saved: session store unavailable"));
  }
  redis.start();
  // The store dials again by itself; the old record died with the old server.
  {
    khz::test::LogCapture log;
    REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(id)).body() == "<none>");
    REQUIRE(contains(log.text(), "unknown session id"));
  }
  const std::string id2 = session_cookie(perform_request(e, "GET", "/set?k=user&v=carol"));
  REQUIRE(id2.size() == 32);
  REQUIRE(perform_request(e, "GET", "/get?k=user", with_cookie(id2)).body() == "carol");
  REQUIRE(perform_request(strict, "GET", "/get?k=user", with_cookie(id2)).body() == "carol");
}

TEST_CASE("session (redis store) on the wire: curl and concurrent python3 clients, both transports") {
  RedisServer::get();
  const std::string dir = khz::test::TestPki::get().dir;
  const std::string script = dir + "/session_clients.py";
  {
    // Each thread: its own session, `rounds` increments one after another (each must see the
    // last), over one keep-alive connection; prints the failures.
    std::ofstream py(script);
    py << R"PY(import http.client, sys, threading
port, threads, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
errors = []
def client(i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    cookie = None
    for n in range(1, rounds + 1):
        conn.request("GET", "/inc", headers={"Cookie": cookie} if cookie else {})
        r = conn.getresponse()
        body = r.read().decode()
        sc = r.getheader("Set-Cookie")
        if sc:
            cookie = sc.split(";")[0]
        if r.status != 200 or body != str(n):
            errors.append("client %d round %d: %d %s" % (i, n, r.status, body))
            return
ts = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(errors) if errors else "all ok")
)PY";
  }
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, {.loops = 2});
      s.server.use(khz::middleware::session({.store = store("wire:"), .cookie = {.secure = false}}));
      add_routes(s.server);
      s.start();
      const std::string origin = "http://127.0.0.1:" + std::to_string(s.port());
      for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
        CAPTURE(version);
        const std::string jar = dir + "/redis-jar";
        run_command("rm -f " + jar);
        auto curl = [&](const std::string& path) {
          return run_command("curl -sS --max-time 10 " + version + " -b " + jar + " -c " + jar + " '" + origin + path + "' 2>&1")
              .output;
        };
        REQUIRE(curl("/get?k=user") == "<none>");
        REQUIRE(curl("/set?k=user&v=ann") == "ok");
        REQUIRE(curl("/get?k=user") == "ann");
        REQUIRE(curl("/inc") == "1");
        REQUIRE(curl("/inc") == "2");
        REQUIRE(curl("/destroy") == "bye");
        REQUIRE(curl("/get?k=user") == "<none>");
      }
      const auto out = run_command("python3 " + script + " " + std::to_string(s.port()) + " 8 15 2>&1");
      CAPTURE(out.output);
      REQUIRE(out.status == 0);
      REQUIRE(contains(out.output, "all ok"));
    }
  }
}
