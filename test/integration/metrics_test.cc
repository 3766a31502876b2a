// SPDX-License-Identifier: Apache-2.0
// Server metrics on the wire, on every transport: /metrics off by default, the request
// instruments (route patterns, never raw paths; "unmatched"; status classes; HTTP/1.1 and h2c),
// bytes, in-flight, connections accepted and refused, the exposition format by Accept, and the
// metrics listener on a port of its own.
#include <khz/app/client.h>
#include <khz/app/json.h>
#include <khz/app/server.h>
#include <khz/common/event_loop.h>
#include <khz/common/metrics.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <fstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using khz::test::body_of;
using khz::test::RawClient;
using khz::test::run_command;
using khz::test::status_of;

namespace {

std::string get(std::uint16_t port, std::string_view target, std::string_view extra = {}) {
  RawClient c(port);
  c.send("GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "Connection: close\r\n\r\n");
  return c.read_response();
}

// The value of the sample line starting with `series ` in a Prometheus text exposition; -1 if none.
double sample(const std::string& text, const std::string& series) {
  const std::string key = series + " ";
  for (std::size_t pos = 0; pos < text.size();) {
    const auto eol = text.find('\n', pos);
    std::string_view line(text.data() + pos, (eol == std::string::npos ? text.size() : eol) - pos);
    if (line.starts_with(key)) return std::stod(std::string(line.substr(key.size())));
    if (eol == std::string::npos) break;
    pos = eol + 1;
  }
  return -1;
}

std::string requests(std::string_view method, std::string_view route, std::string_view cls, std::string_view proto) {
  return "http_server_requests_total{http_request_method=\"" + std::string(method) + "\",http_route=\"" +
         std::string(route) + "\",http_response_status_class=\"" + std::string(cls) +
         "\",network_protocol_version=\"" + std::string(proto) + "\"}";
}

void add_routes(khz::Server& s) {
  s.get("/users/:id", [](khz::RequestContext& c) { c.string(200, "user " + std::string(c.param("id"))); });
  s.post("/upload", [](khz::RequestContext& c) { c.string(201, "got " + std::to_string(c.request().body().size())); });
  s.get("/boom", [](khz::RequestContext&) { throw std::runtime_error("boom"); });
}

}  // namespace

TEST_CASE("metrics: off by default") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport);
      add_routes(s.server);
      s.start();
      REQUIRE(status_of(get(s.port(), "/metrics")) == 404);
      REQUIRE(s.server.instruments() == nullptr);
      REQUIRE_THROWS_AS(s.server.metrics_registry(), std::logic_error);
    }
  }
}

TEST_CASE("metrics: the request instruments, HTTP/1.1 and h2c") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport);
      add_routes(s.server);
      s.server.enable_metrics({});
      auto custom = s.server.metrics_registry().counter("app_things", "Things.", {"kind"}).with({"x"});
      s.server.get("/thing", [custom](khz::RequestContext& c) {
        custom.inc();
        c.string(200, "ok");
      });
      s.server.get("/slow", [](khz::RequestContext& c) -> khz::Task<void> {
        co_await khz::sleep_for(30ms);
        c.string(200, "slow");
      });
      s.start();
      for (int i = 0; i < 3; ++i) REQUIRE(status_of(get(s.port(), "/users/" + std::to_string(i))) == 200);
      REQUIRE(status_of(get(s.port(), "/slow")) == 200);
      REQUIRE(status_of(get(s.port(), "/nope/1")) == 404);
      REQUIRE(status_of(get(s.port(), "/nope/2")) == 404);
      REQUIRE(status_of(get(s.port(), "/boom")) == 500);
      REQUIRE(status_of(get(s.port(), "/thing")) == 200);
      {
        RawClient c(s.port());
        c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
        REQUIRE(status_of(c.read_response()) == 201);
      }
      auto h2 = run_command("curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code} %{http_version}' " +
                            s.url("/users/7"));
      REQUIRE(h2.output == "200 2");

      const auto response = get(s.port(), "/metrics");
      REQUIRE(status_of(response) == 200);
      REQUIRE(khz::test::header_of(response, "Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
      const auto text = body_of(response);
      CAPTURE(text);
      REQUIRE(sample(text, requests("GET", "/users/:id", "2xx", "1.1")) == 3);
      REQUIRE(sample(text, requests("GET", "/users/:id", "2xx", "2")) == 1);
      REQUIRE(sample(text, requests("GET", "unmatched", "4xx", "1.1")) == 2);
      REQUIRE(sample(text, requests("GET", "/boom", "5xx", "1.1")) == 1);
      REQUIRE(sample(text, requests("POST", "/upload", "2xx", "1.1")) == 1);
      REQUIRE(text.find("/users/0") == std::string::npos);  // patterns, never raw paths
      REQUIRE(text.find("/nope") == std::string::npos);
      REQUIRE(sample(text, "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/"
                           "users/:id\",http_response_status_class=\"2xx\",network_protocol_version=\"1.1\"}") == 3);
      // The duration is the handler's time in seconds: /slow's 30 ms lands above 0.025, and
      // its sum is at least 0.03 (a clock or a conversion gone wrong breaks both).
      const std::string slow = "http_route=\"/slow\",http_response_status_class=\"2xx\",network_protocol_version=\"1.1\"";
      REQUIRE(sample(text, "http_server_request_duration_seconds_bucket{http_request_method=\"GET\"," + slow +
                               ",le=\"0.025\"}") == 0);
      REQUIRE(sample(text, "http_server_request_duration_seconds_bucket{http_request_method=\"GET\"," + slow +
                               ",le=\"+Inf\"}") == 1);
      const double slow_sum =
          sample(text, "http_server_request_duration_seconds_sum{http_request_method=\"GET\"," + slow + "}");
      REQUIRE(slow_sum >= 0.03);
      REQUIRE(slow_sum < 5);
      REQUIRE(sample(text, "http_server_request_body_bytes_total") == 5);
      REQUIRE(sample(text, "http_server_response_body_bytes_total") > 0);
      REQUIRE(sample(text, "http_server_active_requests") == 1);  // this scrape
      REQUIRE(sample(text, "app_things_total{kind=\"x\"}") == 1);
      // One connection per request above (10, curl's h2c one included) and this scrape's.
      REQUIRE(sample(text, "khz_server_connections_accepted_total{transport=\"" + transport + "\"}") == 11);
      REQUIRE(sample(text, "khz_server_connections_open{transport=\"" + transport + "\"}") >= 1);
      REQUIRE(sample(text, "khz_http2_streams_opened_total") == 1);
      REQUIRE(sample(text, "khz_http2_streams_reset_total") == 0);
      REQUIRE(sample(text, "khz_tls_handshakes_total{result=\"ok\"}") == -1);  // plaintext: no TLS series

      const auto om = get(s.port(), "/metrics", "Accept: application/openmetrics-text; version=1.0.0\r\n");
      REQUIRE(khz::test::header_of(om, "Content-Type") == "application/openmetrics-text; version=1.0.0; charset=utf-8");
      REQUIRE(body_of(om).ends_with("# EOF\n"));
      REQUIRE(body_of(om).find("# TYPE http_server_requests counter\n") != std::string::npos);
    }
  }
}

TEST_CASE("metrics: pipelined requests that arrived together start their durations at that read") {
  // A fast request behind a 30 ms one in the same read waited for it: its duration shows it
  // (HTTP/1.1 stamps the read; a start taken when the handler begins would read about 0).
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport);
      s.server.enable_metrics({});
      s.server.get("/slow", [](khz::RequestContext& c) -> khz::Task<void> {
        co_await khz::sleep_for(30ms);
        c.string(200, "slow");
      });
      s.server.get("/fast", [](khz::RequestContext& c) { c.string(200, "fast"); });
      s.start();
      {
        RawClient c(s.port());
        c.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(status_of(c.read_response()) == 200);
        REQUIRE(body_of(c.read_response()) == "fast");
      }
      REQUIRE(status_of(get(s.port(), "/fast")) == 200);  // alone: no wait
      const auto text = body_of(get(s.port(), "/metrics"));
      CAPTURE(text);
      const std::string fast =
          "{http_request_method=\"GET\",http_route=\"/fast\",http_response_status_class=\"2xx\",network_protocol_"
          "version=\"1.1\"";
      REQUIRE(sample(text, "http_server_request_duration_seconds_count" + fast + "}") == 2);
      REQUIRE(sample(text, "http_server_request_duration_seconds_bucket" + fast + ",le=\"0.025\"}") == 1);
      const double sum = sample(text, "http_server_request_duration_seconds_sum" + fast + "}");
      REQUIRE(sum >= 0.03);
      REQUIRE(sum < 5);
    }
  }
}

TEST_CASE("metrics: refused connections are counted by reason") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport, {.max_connections = 1});
      s.server.enable_metrics({.address = "127.0.0.1:0"});
      std::atomic<int> seen{0};
      s.server.on_accept([&seen](const khz::ConnectionInfo&) { return seen.fetch_add(1) != 1; });  // the 2nd refused
      s.server.get("/x", [](khz::RequestContext& c) { c.string(200, "x"); });
      s.start();
      REQUIRE(s.server.metrics_port() != 0);
      REQUIRE(status_of(get(s.port(), "/x")) == 200);
      {
        RawClient refused(s.port());
        REQUIRE(refused.closed_by_peer());
      }
      REQUIRE(khz::test::eventually([&] { return s.server.active_connections() == 0; }));
      {
        RawClient held(s.port());  // the one connection allowed
        held.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(status_of(held.read_response()) == 200);
        REQUIRE(status_of(get(s.port(), "/x")) == 503);  // over max_connections
      }
      REQUIRE(khz::test::eventually([&] { return s.server.active_connections() == 0; }));
      REQUIRE(status_of(get(s.port(), "/metrics")) == 404);  // only on the metrics port
      const auto text = body_of(get(s.server.metrics_port(), "/metrics"));
      CAPTURE(text);
      REQUIRE(sample(text, "khz_server_connections_refused_total{transport=\"" + transport + "\",reason=\"hook\"}") == 1);
      REQUIRE(sample(text, "khz_server_connections_refused_total{transport=\"" + transport + "\",reason=\"limit\"}") ==
              1);
      REQUIRE(sample(text, "khz_server_connections_accepted_total{transport=\"" + transport + "\"}") == 5);
      REQUIRE(sample(text, requests("GET", "/metrics", "2xx", "1.1")) == -1);  // the listener's own are not here
    }
  }
}

TEST_CASE("metrics: TLS handshakes and h2 streams over HTTPS") {
  const auto& pki = khz::test::TestPki::get();
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport, {.tls_cert_file = pki.alpha_cert, .tls_key_file = pki.alpha_key});
      s.server.enable_metrics({.address = "127.0.0.1:0"});
      s.server.get("/x", [](khz::RequestContext& c) { c.string(200, "x"); });
      s.start();
      const std::string url = "https://localhost:" + std::to_string(s.port()) + "/x";
      auto h2 = run_command("curl -s --cacert " + pki.ca_cert + " --http2 -o /dev/null -w '%{http_code} %{http_version}' " + url);
      REQUIRE(h2.output == "200 2");
      auto h1 = run_command("curl -s --cacert " + pki.ca_cert + " --http1.1 -o /dev/null -w '%{http_code}' " + url);
      REQUIRE(h1.output == "200");
      {
        RawClient plain(s.port());  // not TLS: the handshake fails
        plain.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
        REQUIRE(plain.closed_by_peer());
      }
      std::string text;
      REQUIRE(khz::test::eventually([&] {
        text = body_of(get(s.server.metrics_port(), "/metrics"));
        return sample(text, "khz_tls_handshakes_total{result=\"failed\"}") == 1;
      }));
      CAPTURE(text);
      REQUIRE(sample(text, "khz_tls_handshakes_total{result=\"ok\"}") == 2);
      REQUIRE(sample(text, "khz_http2_streams_opened_total") == 1);
      REQUIRE(sample(text, requests("GET", "/x", "2xx", "2")) == 1);
      REQUIRE(sample(text, requests("GET", "/x", "2xx", "1.1")) == 1);
    }
  }
}

TEST_CASE("metrics: client calls by upstream and outcome, in a registry shared with the server") {
  auto registry = std::make_shared<khz::metrics::Registry>();
  khz::test::TestServer s(khz::test::transports().front());
  s.server.enable_metrics({.registry = registry});
  s.server.get("/ok", [](khz::RequestContext& c) { c.string(200, "ok"); });
  s.start();
  const auto unused = khz::test::unused_port();
  {
    khz::BlockingClient client({.dial_timeout = 2s, .proxy_from_environment = false, .metrics = registry});
    REQUIRE(client.get(s.url("/ok"))->status() == 200);
    REQUIRE(client.get(s.url("/ok"))->status() == 200);
    REQUIRE(client.get(s.url("/missing"))->status() == 404);
    REQUIRE_FALSE(client.get("http://127.0.0.1:" + std::to_string(unused) + "/"));  // refused
    // The pool: one keep-alive connection to the server, idle between calls; the refused
    // dial left nothing behind.
    const auto during = body_of(get(s.port(), "/metrics"));
    CAPTURE(during);
    const std::string open = "http_client_open_connections{server_address=\"127.0.0.1:" + std::to_string(s.port());
    REQUIRE(sample(during, open + "\",state=\"idle\"}") == 1);
    REQUIRE(sample(during, open + "\",state=\"active\"}") == 0);
    REQUIRE(sample(during, "http_client_open_connections{server_address=\"127.0.0.1:" + std::to_string(unused) +
                               "\",state=\"active\"}") == 0);
  }
  {
    // h2c: the one shared connection counts as active while the pool holds it.
    khz::BlockingClient client(
        {.dial_timeout = 2s, .proxy_from_environment = false, .http2_prior_knowledge = true, .metrics = registry});
    REQUIRE(client.get(s.url("/ok"))->status() == 200);
    const auto during = body_of(get(s.port(), "/metrics"));
    CAPTURE(during);
    REQUIRE(sample(during, "http_client_open_connections{server_address=\"127.0.0.1:" + std::to_string(s.port()) +
                               "\",state=\"active\"}") == 1);
  }
  const auto text = body_of(get(s.port(), "/metrics"));
  CAPTURE(text);
  const std::string upstream = "127.0.0.1:" + std::to_string(s.port());
  REQUIRE(sample(text, "http_client_open_connections{server_address=\"" + upstream + "\",state=\"active\"}") == 0);
  // The client is gone, and its connections with it.
  REQUIRE(sample(text, "http_client_open_connections{server_address=\"" + upstream + "\",state=\"idle\"}") == 0);
  REQUIRE(sample(text, "http_client_requests_total{server_address=\"" + upstream + "\",outcome=\"2xx\"}") == 3);
  REQUIRE(sample(text, "http_client_requests_total{server_address=\"" + upstream + "\",outcome=\"4xx\"}") == 1);
  REQUIRE(sample(text, "http_client_requests_total{server_address=\"127.0.0.1:" + std::to_string(unused) +
                           "\",outcome=\"error\"}") == 1);
  REQUIRE(sample(text, "http_client_request_duration_seconds_count{server_address=\"" + upstream +
                           "\",outcome=\"2xx\"}") == 3);
  // The server saw the same calls.
  REQUIRE(sample(text, requests("GET", "/ok", "2xx", "1.1")) == 2);
  REQUIRE(sample(text, requests("GET", "/ok", "2xx", "2")) == 1);
}

TEST_CASE("metrics: the /debug/khz page, by option") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport, {.loops = 2});
      auto registry = std::make_shared<khz::metrics::Registry>();
      s.server.enable_metrics({.loop_lag_interval = 10ms, .debug_path = "/debug/khz", .registry = registry});
      add_routes(s.server);
      s.start();
      for (int i = 0; i < 4; ++i) REQUIRE(status_of(get(s.port(), "/users/" + std::to_string(i))) == 200);
      REQUIRE(status_of(get(s.port(), "/nope")) == 404);
      RawClient held(s.port());  // an open connection the page counts
      held.send("GET /users/9 HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(status_of(held.read_response()) == 200);
      // A client on the server's registry: its pool shows on the page.
      khz::BlockingClient client({.dial_timeout = 2s, .proxy_from_environment = false, .metrics = registry});
      REQUIRE(client.get(s.url("/users/10"))->status() == 200);
      std::this_thread::sleep_for(50ms);  // a few lag ticks
      const auto response = get(s.port(), "/debug/khz");
      REQUIRE(status_of(response) == 200);
      REQUIRE(khz::test::header_of(response, "Content-Type") == "application/json");
      const auto page = khz::Json::parse(body_of(response));
      REQUIRE(page);
      CAPTURE(page->dump());
      REQUIRE(*page->find("transport")->string() == transport);
      REQUIRE(page->find("connections_open")->int64() >= 2);  // held, and this request's
      REQUIRE(page->find("in_flight")->int64() == 1);         // this request
      REQUIRE(page->find("unmatched_requests")->int64() == 1);
      std::int64_t requests = 0, accepted = 0;
      bool lag_seen = false;
      for (const auto& loop : *page->find("event_loops")->array()) {
        requests += *loop.find("requests")->int64();
        accepted += *loop.find("connections_accepted")->int64();
        lag_seen = lag_seen || loop.find("loop_lag_seconds")->number().has_value();
      }
      REQUIRE(requests == 7);  // 4 + 404 + held's + the client's; this one is still in flight
      REQUIRE(accepted == 8);
      REQUIRE(lag_seen);
      bool found = false;
      for (const auto& route : *page->find("routes")->array()) {
        if (*route.find("path")->string() == "/users/:id") {
          REQUIRE(*route.find("method")->string() == "GET");
          REQUIRE(route.find("requests")->int64() == 6);
          found = true;
        }
      }
      REQUIRE(found);
      const auto& pools = *page->find("client_pools")->array();
      REQUIRE(pools.size() == 1);
      REQUIRE(*pools[0].find("server_address")->string() == "127.0.0.1:" + std::to_string(s.port()));
      REQUIRE(pools[0].find("idle")->int64() == 1);
      REQUIRE(pools[0].find("active")->int64() == 0);
    }
  }
  khz::test::TestServer off(khz::test::transports().front());
  off.server.enable_metrics({});
  off.start();
  REQUIRE(status_of(get(off.port(), "/debug/khz")) == 404);  // never on by default
}

TEST_CASE("metrics: HTTP/2 streams reset by the client (python3-h2)") {
  khz::test::TempDir dir;
  const std::string script = dir.path + "/reset.py";
  std::ofstream(script) << R"(import socket, sys
import h2.config, h2.connection, h2.events
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
c.initiate_connection()
hdrs = [(":method", "GET"), (":path", "/slow"), (":scheme", "http"), (":authority", "t")]
c.send_headers(1, hdrs, end_stream=True)
c.reset_stream(1)
c.send_headers(3, hdrs, end_stream=True)
s.sendall(c.data_to_send())
done = False
while not done:
    data = s.recv(65535)
    if not data:
        break
    for e in c.receive_data(data):
        if isinstance(e, h2.events.StreamEnded) and e.stream_id == 3:
            done = True
    s.sendall(c.data_to_send())
print("ok" if done else "no response")
)";
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer s(transport);
      s.server.enable_metrics({});
      s.server.get("/slow", [](khz::RequestContext& c) -> khz::Task<> {
        co_await khz::sleep_for(20ms);
        c.string(200, "late");
      });
      s.start();
      auto r = run_command("/usr/bin/python3 " + script + " " + std::to_string(s.port()));
      REQUIRE(r.output == "ok\n");
      std::string text;
      const bool reset_seen = khz::test::eventually([&] {
        text = body_of(get(s.port(), "/metrics"));
        return sample(text, "khz_http2_streams_reset_total") == 1;
      });
      CAPTURE(text);
      REQUIRE(reset_seen);
      REQUIRE(sample(text, "khz_http2_streams_opened_total") == 2);
    }
  }
}

TEST_CASE("metrics: two servers share a registry; one going away leaves the other's series") {
  auto registry = std::make_shared<khz::metrics::Registry>();
  const auto transport = khz::test::transports().front();
  khz::test::TestServer a(transport);
  a.server.enable_metrics({.registry = registry});
  a.server.get("/a", [](khz::RequestContext& c) { c.string(200, "a"); });
  a.start();
  {
    khz::test::TestServer b(transport);
    b.server.enable_metrics({.registry = registry});
    b.server.get("/b", [](khz::RequestContext& c) { c.string(200, "b"); });
    b.start();
    REQUIRE(status_of(get(b.port(), "/b")) == 200);
    // Both servers report requests in flight under one series: one line, their sum (a's scrape).
    const auto both = body_of(get(a.port(), "/metrics"));
    CAPTURE(both);
    std::size_t lines = 0;
    for (auto at = both.find("\nhttp_server_active_requests "); at != std::string::npos;
         at = both.find("\nhttp_server_active_requests ", at + 1)) {
      ++lines;
    }
    REQUIRE(lines == 1);
    REQUIRE(sample(both, "http_server_active_requests") == 1);
  }  // b's scrape-time callbacks go with it
  REQUIRE(status_of(get(a.port(), "/a")) == 200);
  const auto text = body_of(get(a.port(), "/metrics"));
  CAPTURE(text);
  REQUIRE(sample(text, requests("GET", "/a", "2xx", "1.1")) == 1);
  REQUIRE(sample(text, requests("GET", "/b", "2xx", "1.1")) == 1);  // counts outlive their server
  REQUIRE(sample(text, "khz_server_connections_open{transport=\"" + transport + "\"}") >= 1);
  REQUIRE(sample(text, "http_server_active_requests") == 1);  // this scrape, on a
}
