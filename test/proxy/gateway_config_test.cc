// SPDX-License-Identifier: Apache-2.0
// khz-gateway's configuration file: the reader's rules and messages, host and prefix matching,
// and the program run from a file against real upstreams (curl as the client, over HTTP/1.1,
// h2c... and TLS with HTTP/2 on the listener).
#include "config.h"

#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

using khz::gateway::ConfigError;
using khz::gateway::parse_config;
using khz::test::run_command;
using khz::test::TestServer;
using namespace std::chrono_literals;

namespace {

std::string config_error(std::string_view json) {
  try {
    parse_config(json);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// An upstream answering every request with its name, the target it got and the fields that
// tell what the gateway did.
void add_named_echo(khz::Server& s, std::string name) {
  auto echo = [name](khz::RequestContext& c) {
    c.set_header("X-Upstream", name);
    c.set_header("X-Target", c.request().target());
    c.string(200, name + " " + std::string(c.request().target()) + " host=" + std::string(c.header("Host")) +
                      " xff=" + std::string(c.header("X-Forwarded-For")) + "\n");
  };
  s.any("/*any", echo);
  s.any("/", echo);
}

struct Gateway {
  int pid = 0;
  std::string log;
  Gateway(const std::string& config_path, const std::string& probe_url, const std::string& curl_flags = "") {
    log = config_path + ".log";
    FILE* p = ::popen((std::string("exec ") + KHZ_GATEWAY_PATH + " --config " + config_path + " >" + log +
                       " 2>&1 & echo $!")
                          .c_str(),
                      "r");
    char pid_text[32] = {};
    REQUIRE(std::fgets(pid_text, sizeof pid_text, p) != nullptr);
    ::pclose(p);
    pid = std::atoi(pid_text);
    REQUIRE(khz::test::eventually(
        [&] { return run_command("curl -s -o /dev/null " + curl_flags + " " + probe_url).status == 0; }, 5s));
  }
  ~Gateway() { ::kill(pid, SIGTERM); }
};

std::string write_file(const khz::test::TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path + "/" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("gateway config: a whole file binds, with defaults where keys are absent") {
  auto c = parse_config(R"({
    "listen": "127.0.0.1:9080", "loops": 2,
    "middleware": [{"request_id": {}}, {"access_log": {"format": "json"}}],
    "upstreams": {
      "users": {"targets": [{"url": "http://10.0.0.7:9000", "weight": 3}, {"url": "https://10.0.0.8"}],
                "balance": "weighted_round_robin", "response_timeout": "2.5s", "eject_time": 1500},
      "web": {"targets": [{"url": "http://10.0.0.9"}], "balance": "consistent_hash",
              "hash_key": {"source": "cookie", "name": "sid"}}
    },
    "routes": [
      {"host": "api.example.com", "path_prefix": "/users/", "strip_prefix": true, "upstream": "users",
       "middleware": [{"cors": {"allow_origins": ["https://*.example.com"], "max_age": "10m"}},
                      {"rate_limit": {"rate": 5, "burst": 10}}]},
      {"upstream": "web", "forwarded": "rfc7239", "via": "gw"}
    ]
  })");
  CHECK(c.listen == "127.0.0.1:9080");
  CHECK(c.loops == 2);
  REQUIRE(c.middleware.size() == 2);
  CHECK(c.middleware[0].request_id->header == "X-Request-ID");
  CHECK(c.middleware[1].access_log->format == "json");
  const auto& users = c.upstreams.at("users");
  REQUIRE(users.targets.size() == 2);
  CHECK(users.targets[0].weight == 3);
  CHECK(users.targets[1].weight == 1);
  CHECK(users.response_timeout == 2500ms);
  CHECK(users.eject_time == 1500ms);
  CHECK(users.connect_timeout == 5s);  // the default
  CHECK(c.upstreams.at("web").hash_key.name == "sid");
  REQUIRE(c.routes.size() == 2);
  CHECK(c.routes[0].middleware[0].cors->max_age == std::chrono::minutes(10));
  CHECK(c.routes[0].middleware[1].rate_limit->burst == 10u);
  CHECK(c.routes[1].path_prefix == "/");
  CHECK(c.routes[1].host.empty());
  CHECK(c.routes[1].forwarded == "rfc7239");
}

TEST_CASE("gateway config: the example file in examples/gateway is good") {
  const auto c = khz::gateway::load_config_file(KHZ_SOURCE_DIR "/examples/gateway/gateway.json");
  CHECK(c.routes.size() == 3);
  CHECK(c.upstreams.at("users").balance == "weighted_round_robin");
  REQUIRE(c.upstreams.at("users").health_check);
  CHECK(c.upstreams.at("users").health_check->path == "/healthz");
  CHECK(c.upstreams.at("users").health_check->timeout == 1s);
  CHECK(c.upstreams.at("users").health_check->unhealthy_after == 3);  // the default
  CHECK(config_error(R"({"upstreams": {"u": {"targets": [{"url": "http://a"}],
                         "health_check": {"path": "healthz", "interval": 0}}}, "routes": [{"upstream": "u"}]})") ==
        "upstreams.u.health_check.path: must match /[^\\s]*\nupstreams.u.health_check.interval: interval and timeout must be positive");
}

TEST_CASE("gateway config: every problem is reported at once, each at its path") {
  // A misspelt key is an error, not a silently ignored setting.
  CHECK(config_error(R"({"listen":"a:1","upstreams":{"u":{"targets":[{"url":"http://a"}],"ballance":"x"}},
                         "routes":[{"upstream":"u","strip_prefx":true}]})") ==
        "upstreams.u.ballance: is not a known field\nroutes[0].strip_prefx: is not a known field");
  const std::string many = config_error(R"({
    "listen": "127.0.0.1:1",
    "upstreams": {"u": {"targets": [{"url": "ftp://x"}, {"url": "http://b", "weight": 2}], "balance": "random",
                        "max_attempts": 0},
                  "h": {"targets": [{"url": "http://c"}], "balance": "consistent_hash", "hash_key": {"source": "header"}}},
    "routes": [{"upstream": "nope"}, {"upstream": "u", "path_prefix": "api"}, {"upstream": "u", "path_prefix": "/x"},
               {"upstream": "u", "path_prefix": "/x/"},
               {"upstream": "u", "middleware": [{"cors": {"allow_origins": ["*"]}, "recovery": {}}, {}]}]
  })");
  CAPTURE(many);
  for (const char* expected : {
           "upstreams.h.hash_key.name: is required for a header or cookie key",
           "upstreams.u.targets[0].url: must match",
           "upstreams.u.balance: must be one of",
           "upstreams.u.max_attempts: must be",
           "routes[1].path_prefix: must match",
           "routes[4].middleware[0]",
           "routes[4].middleware[1]",
       }) {
    CHECK(many.find(expected) != std::string::npos);
  }
  // The cross references are checked once the values are right.
  const std::string refs = config_error(R"({"listen":"a:1",
    "upstreams": {"u": {"targets": [{"url": "http://a"}, {"url": "http://b", "weight": 2}]}},
    "routes": [{"upstream": "nope"}, {"upstream": "u", "path_prefix": "/x"}, {"upstream": "u", "path_prefix": "/x/"},
               {"upstream": "u", "host": "A.test"}, {"upstream": "u", "host": "a.test", "path_prefix": "/"}]})");
  CAPTURE(refs);
  CHECK(refs.find("routes[0].upstream: no upstream group \"nope\"") != std::string::npos);
  CHECK(refs.find("routes[2]: another route already takes host \"\" and path_prefix \"/x/\"") != std::string::npos);
  CHECK(refs.find("routes[4]: another route already takes host \"a.test\"") != std::string::npos);
  CHECK(refs.find("upstreams.u.targets[1].weight: weights apply to balance \"weighted_round_robin\" only") !=
        std::string::npos);
  // Not JSON at all, and missing sections.
  CHECK(config_error("{\"listen\": ").find("malformed JSON") != std::string::npos);
  const std::string empty = config_error("{}");
  CHECK(empty.find("upstreams: is required") != std::string::npos);
  CHECK(empty.find("routes: is required") != std::string::npos);
  // A file: each line names it.
  khz::test::TempDir dir;
  const std::string path = write_file(dir, "bad.json", R"({"listen":"a:1","upstreams":{},"routes":[],"x":1})");
  try {
    khz::gateway::load_config_file(path);
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).starts_with(path + ": "));
  }
  CHECK_THROWS_AS(khz::gateway::load_config_file(dir.path + "/missing.json"), ConfigError);
}

TEST_CASE("gateway config: host and path prefix matching") {
  using khz::gateway::host_matches;
  using khz::gateway::prefix_matches;
  CHECK(host_matches("", "anything"));
  CHECK(host_matches("api.test", "API.test:8080"));
  CHECK_FALSE(host_matches("api.test", "api.test.evil"));
  CHECK(host_matches("*.img.test", "a.img.test"));
  CHECK(host_matches("*.img.test", "a.b.img.test:443"));
  CHECK_FALSE(host_matches("*.img.test", "img.test"));
  CHECK_FALSE(host_matches("*.img.test", "xyimg.test"));
  CHECK(prefix_matches("/", "/anything"));
  CHECK(prefix_matches("/api", "/api"));
  CHECK(prefix_matches("/api/", "/api/x"));
  CHECK(prefix_matches("/api", "/api/x/y"));
  CHECK_FALSE(prefix_matches("/api", "/apix"));
  CHECK_FALSE(prefix_matches("/api/v2", "/api"));
}

TEST_CASE("khz-gateway --config: routes by host and prefix, per-route middleware, TLS and HTTP/2 on the listener") {
  TestServer a(khz::test::transports().front());
  add_named_echo(a.server, "A");
  a.start();
  TestServer b(khz::test::transports().front());
  add_named_echo(b.server, "B");
  b.start();
  khz::test::TempDir dir;
  const std::string listen = "127.0.0.1:" + std::to_string(khz::test::unused_port());
  const std::string base = "http://" + listen;
  const std::string config = write_file(dir, "gateway.json", R"({
    "listen": ")" + listen + R"(",
    "middleware": [{"request_id": {"header": "X-Req"}}],
    "upstreams": {
      "a": {"targets": [{"url": ")" + a.url("") + R"("}]},
      "b": {"targets": [{"url": ")" + b.url("") + R"("}], "response_timeout": "1s"}
    },
    "routes": [
      {"host": "api.test", "path_prefix": "/api", "strip_prefix": true, "upstream": "a",
       "middleware": [{"key_auth": {"keys": ["k1"]}}]},
      {"host": "*.img.test", "upstream": "a", "preserve_host": false},
      {"path_prefix": "/api/public", "upstream": "b",
       "middleware": [{"cors": {"allow_origins": ["https://app.test"]}}]},
      {"upstream": "b"}
    ]
  })");
  REQUIRE(run_command(std::string(KHZ_GATEWAY_PATH) + " --check --config " + config).output.find("good") !=
          std::string::npos);
  Gateway gw(config, base + "/");
  auto curl = [&](const std::string& args) {
    return run_command("curl -sS --path-as-is -D - " + args + " | tr -d '\\r'").output;
  };
  // api.test/api: stripped, to A, behind key_auth.
  std::string r = curl("-H 'Host: api.test' -H 'X-API-Key: k1' '" + base + "/api/users/7?x=%20'");
  CAPTURE(r);
  CHECK(r.find("HTTP/1.1 200") != std::string::npos);
  CHECK(r.find("A /users/7?x=%20 host=api.test") != std::string::npos);
  CHECK(r.find("X-Req: ") != std::string::npos);  // the top-level middleware ran
  r = curl("-H 'Host: api.test' " + base + "/api/users/7");
  CHECK(r.find("HTTP/1.1 401") != std::string::npos);
  // api.test, but under /api/public: that prefix is longer and for any host: B, no key asked,
  // CORS answered.
  r = curl("-H 'Host: api.test' -H 'Origin: https://app.test' " + base + "/api/public/x");
  CAPTURE(r);
  CHECK(r.find("B /api/public/x host=api.test") != std::string::npos);
  CHECK(r.find("Access-Control-Allow-Origin: https://app.test") != std::string::npos);
  // Another host on /api: not api.test's route (no key), the catch-all's: B, unstripped,
  // and no CORS (that middleware is the /api/public route's).
  r = curl("-H 'Host: other.test' -H 'Origin: https://app.test' " + base + "/api/users/7");
  CAPTURE(r);
  CHECK(r.find("B /api/users/7 host=other.test") != std::string::npos);
  CHECK(r.find("Access-Control-Allow-Origin") == std::string::npos);
  // The wildcard host, with Host rewritten to the upstream's authority.
  r = curl("-H 'Host: x.img.test' " + base + "/pic.png");
  CAPTURE(r);
  CHECK(r.find("A /pic.png host=" + a.url("").substr(7)) != std::string::npos);
  // h2c to the gateway.
  r = curl("--http2-prior-knowledge -H 'Host: api.test' -H 'X-API-Key: k1' " + base + "/api/h2");
  CHECK(r.find("HTTP/2 200") != std::string::npos);
  CHECK(r.find("A /h2") != std::string::npos);

  // A second gateway, TLS on its listener (HTTP/2 by ALPN), routes for one host only: another
  // host gets 404 from the gateway itself.
  const auto& pki = khz::test::TestPki::get();
  const std::string tls_listen = "127.0.0.1:" + std::to_string(khz::test::unused_port());
  const std::string tls_config = write_file(dir, "tls.json", R"({
    "listen": ")" + tls_listen + R"(",
    "tls": {"cert_file": ")" + pki.alpha_cert + R"(", "key_file": ")" + pki.alpha_key + R"("},
    "upstreams": {"a": {"targets": [{"url": ")" + a.url("") + R"("}]}},
    "routes": [{"host": "alpha.test", "upstream": "a"}]
  })");
  const std::string tls_flags = "--cacert " + pki.ca_cert + " --resolve alpha.test:" +
                                tls_listen.substr(tls_listen.find(':') + 1) + ":127.0.0.1";
  const std::string tls_base = "https://alpha.test:" + tls_listen.substr(tls_listen.find(':') + 1);
  Gateway tls_gw(tls_config, tls_base + "/", tls_flags);
  r = curl(tls_flags + " --http2 " + tls_base + "/secure");
  CAPTURE(r);
  CHECK(r.find("HTTP/2 200") != std::string::npos);
  CHECK(r.find("A /secure host=alpha.test") != std::string::npos);
  const std::string other_host = curl(tls_flags + " --http1.1 -H 'Host: beta.test' " + tls_base + "/secure");
  CAPTURE(other_host);
  CHECK(other_host.find("HTTP/1.1 404") != std::string::npos);

  // A bad file: the program says what is wrong and where, and does not start.
  const std::string bad = write_file(dir, "bad.json", R"({"listen": ")" + listen + R"(", "upstreams": {}, "routes": [{"upstream": "x"}]})");
  const auto out = run_command(std::string(KHZ_GATEWAY_PATH) + " --config " + bad + " 2>&1");
  CHECK(out.status == 1);
  CHECK(out.output.find(bad + ": routes[0].upstream: no upstream group \"x\"") != std::string::npos);
  CHECK(run_command(std::string(KHZ_GATEWAY_PATH) + " --listen " + listen + " 2>/dev/null").status == 2);
}
