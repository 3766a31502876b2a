// SPDX-License-Identifier: Apache-2.0
#include <khz/app/json.h>
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/middleware/access_log.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/request_id.h>

#include <catch2/catch.hpp>

#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>

using khz::middleware::AccessLog;
using khz::middleware::AccessLogField;
using khz::middleware::AccessLogFormat;
using khz::middleware::AccessLogOptions;
using khz::middleware::AccessLogSink;
using khz::test::run_command;
using khz::testing::perform_request;
using namespace std::chrono_literals;

namespace {

// What a callback sink received, split into lines.
struct Collected {
  std::mutex mutex;
  std::string text;
  std::size_t calls = 0;

  AccessLogSink sink() {
    return AccessLogSink::callback([this](std::string_view lines) {
      std::lock_guard lock(mutex);
      text.append(lines);
      ++calls;
    });
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex);
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t count_lines(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void routes(khz::Engine& e) {
  e.get("/users/:id", [](khz::RequestContext& c) { c.string(200, "user " + std::string(c.param("id"))); });
  e.post("/echo", [](khz::RequestContext& c) { c.string(201, c.body()); });
  e.get("/boom", [](khz::RequestContext&) -> void { throw std::runtime_error("boom"); });
  e.get("/stream", [](khz::RequestContext& c) -> khz::Task<> {
    c.set_status(200);
    c.set_header("Content-Type", "text/plain");
    for (int i = 0; i < 5; ++i) {
      const bool ok = co_await c.write(std::string(1000, 'x'));
      if (!ok) co_return;
    }
  });
}

}  // namespace

TEST_CASE("access_log: the combined format, one line per request") {
  Collected got;
  AccessLog log({.sink = got.sink()});
  khz::Engine e;
  e.use(log.middleware());
  routes(e);
  perform_request(e, "GET", "/users/7?x=1", {{"User-Agent", "curl/8.0"}, {"Referer", "https://a.example/"}});
  perform_request(e, "POST", "/echo", {}, "hello");
  perform_request(e, "GET", "/nowhere");
  log.flush();
  const auto lines = got.lines();
  REQUIRE(lines.size() == 3);
  const std::regex combined(
      R"(in-process - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /users/7\?x=1 HTTP/1\.1" 200 6 "https://a\.example/" "curl/8\.0")");
  CAPTURE(lines[0]);
  REQUIRE(std::regex_match(lines[0], combined));
  CAPTURE(lines[1]);
  REQUIRE(contains(lines[1], "\"POST /echo HTTP/1.1\" 201 5 \"-\" \"-\""));
  REQUIRE(contains(lines[2], "\"GET /nowhere HTTP/1.1\" 404 "));
  REQUIRE(log.written() == 3);
  REQUIRE(log.dropped() == 0);
}

TEST_CASE("access_log: field selection; the route pattern never leaks the raw path") {
  Collected got;
  SECTION("combined with route and no target: the pattern stands in the request line") {
    AccessLog log({.fields = {AccessLogField::method, AccessLogField::route, AccessLogField::status,
                              AccessLogField::latency, AccessLogField::bytes_in},
                   .sink = got.sink()});
    khz::Engine e;
    e.use(log.middleware());
    routes(e);
    perform_request(e, "GET", "/users/secret-42?token=abc");
    perform_request(e, "GET", "/secret-path");
    log.flush();
    const auto lines = got.lines();
    REQUIRE(lines.size() == 2);
    CAPTURE(lines[0], lines[1]);
    REQUIRE(std::regex_match(lines[0], std::regex(R"(- - - - "GET /users/:id -" 200 - "-" "-" bytes_in=0 latency_us=\d+)")));
    REQUIRE_FALSE(contains(lines[0], "secret"));
    REQUIRE_FALSE(contains(lines[0], "token"));
    REQUIRE(contains(lines[1], "\"GET - -\" 404"));
    REQUIRE_FALSE(contains(lines[1], "secret"));
  }
  SECTION("JSON: exactly the selected fields in order, request id and custom headers") {
    AccessLog log({.format = AccessLogFormat::json,
                   .fields = {AccessLogField::method, AccessLogField::route, AccessLogField::status,
                              AccessLogField::bytes_out, AccessLogField::bytes_in, AccessLogField::request_id,
                              AccessLogField::protocol, AccessLogField::time, AccessLogField::latency},
                   .request_headers = {"X-Tenant", "X-Missing"},
                   .response_headers = {"Content-Type"},
                   .sink = got.sink()});
    khz::Engine e;
    e.use(log.middleware(), khz::middleware::request_id());
    routes(e);
    perform_request(e, "POST", "/echo", {{"X-Request-ID", "rid-1"}, {"X-Tenant", "acme"}}, "abc");
    log.flush();
    const auto lines = got.lines();
    REQUIRE(lines.size() == 1);
    CAPTURE(lines[0]);
    auto doc = khz::Json::parse(lines[0]);
    REQUIRE(doc.has_value());
    const auto* obj = doc->object();
    REQUIRE(obj != nullptr);
    std::vector<std::string> keys;
    for (const auto& [k, v] : *obj) keys.push_back(k);
    REQUIRE(keys == std::vector<std::string>{"method", "route", "status", "bytes_out", "bytes_in", "request_id",
                                             "protocol", "time", "latency_us", "req_x-tenant", "req_x-missing",
                                             "resp_content-type"});
    REQUIRE(*doc->find("method")->string() == "POST");
    REQUIRE(*doc->find("route")->string() == "/echo");
    REQUIRE(*doc->find("status")->int64() == 201);
    REQUIRE(*doc->find("bytes_out")->int64() == 3);
    REQUIRE(*doc->find("bytes_in")->int64() == 3);
    REQUIRE(*doc->find("request_id")->string() == "rid-1");
    REQUIRE(*doc->find("protocol")->string() == "HTTP/1.1");
    REQUIRE(std::regex_match(*doc->find("time")->string(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
    REQUIRE(doc->find("latency_us")->int64().has_value());
    REQUIRE(*doc->find("req_x-tenant")->string() == "acme");
    REQUIRE(doc->find("req_x-missing")->is_null());
    REQUIRE(*doc->find("resp_content-type")->string() == "text/plain; charset=utf-8");
  }
}

TEST_CASE("access_log: JSON with only custom header fields is still one valid object") {
  Collected got;
  AccessLog log({.format = AccessLogFormat::json, .fields = {}, .request_headers = {"X-A"},
                 .response_headers = {"X-B"}, .sink = got.sink()});
  khz::Engine e;
  e.use(log.middleware());
  e.get("/", [](khz::RequestContext& c) {
    c.set_header("X-B", "b");
    c.string(200, "");
  });
  perform_request(e, "GET", "/", {{"x-a", "a"}});
  log.flush();
  REQUIRE(got.lines() == std::vector<std::string>{R"({"req_x-a":"a","resp_x-b":"b"})"});
}

TEST_CASE("access_log: a line longer than the formatter's buffer is whole, and the next one is not mixed with it") {
  // The formatter writes into a per-thread buffer that starts at 256 bytes and grows; the
  // lines after a long one reuse it.
  const std::string ua(5000, 'u');
  const std::string long_ua = "start-" + ua + "-end";
  SECTION("JSON") {
    Collected got;
    AccessLog log({.format = AccessLogFormat::json,
                   .fields = {AccessLogField::method, AccessLogField::user_agent, AccessLogField::status},
                   .sink = got.sink()});
    khz::Engine e;
    e.use(log.middleware());
    routes(e);
    perform_request(e, "GET", "/users/1", {{"User-Agent", long_ua}});
    perform_request(e, "GET", "/users/2", {{"User-Agent", "short"}});
    log.flush();
    const auto lines = got.lines();
    REQUIRE(lines.size() == 2);
    REQUIRE(lines[0] == R"({"method":"GET","user_agent":")" + long_ua + R"(","status":200})");
    REQUIRE(lines[1] == R"({"method":"GET","user_agent":"short","status":200})");
  }
  SECTION("combined") {
    Collected got;
    AccessLog log({.fields = {AccessLogField::method, AccessLogField::target, AccessLogField::user_agent},
                   .sink = got.sink()});
    khz::Engine e;
    e.use(log.middleware());
    routes(e);
    perform_request(e, "GET", "/users/1", {{"User-Agent", long_ua}});
    perform_request(e, "GET", "/users/2");
    log.flush();
    const auto lines = got.lines();
    REQUIRE(lines.size() == 2);
    REQUIRE(lines[0] == "- - - - \"GET /users/1 -\" - - \"-\" \"" + long_ua + "\"");
    REQUIRE(lines[1] == "- - - - \"GET /users/2 -\" - - \"-\" \"-\"");
  }
  SECTION("JSON with no field at all is an empty object") {
    Collected got;
    AccessLog log({.format = AccessLogFormat::json, .fields = {}, .sink = got.sink()});
    khz::Engine e;
    e.use(log.middleware());
    routes(e);
    perform_request(e, "GET", "/users/1");
    log.flush();
    REQUIRE(got.lines() == std::vector<std::string>{"{}"});
  }
}

TEST_CASE("access_log: hostile bytes are escaped in both formats") {
  const std::string ua = "evil\"agent\\ \x01 caf\xC3\xA9 bad\xFF end";
  SECTION("JSON: valid JSON, the text kept, invalid UTF-8 as U+FFFD") {
    Collected got;
    AccessLog log({.format = AccessLogFormat::json, .fields = {AccessLogField::user_agent}, .sink = got.sink()});
    khz::Engine e;
    e.use(log.middleware());
    routes(e);
    perform_request(e, "GET", "/users/1", {{"User-Agent", ua}});
    log.flush();
    const auto lines = got.lines();
    REQUIRE(lines.size() == 1);
    CAPTURE(lines[0]);
    auto doc = khz::Json::parse(lines[0]);  // strict: fails on invalid UTF-8 or a raw control byte
    REQUIRE(doc.has_value());
    REQUIRE(*doc->find("user_agent")->string() == "evil\"agent\\ \x01 caf\xC3\xA9 bad\xEF\xBF\xBD end");
  }
  SECTION("combined: quote, backslash, control and non-ASCII bytes as \\xHH") {
    Collected got;
    AccessLog log({.sink = got.sink()});
    khz::Engine e;
    e.use(log.middleware());
    routes(e);
    perform_request(e, "GET", "/users/1", {{"User-Agent", ua}});
    log.flush();
    const auto lines = got.lines();
    REQUIRE(lines.size() == 1);
    REQUIRE(contains(lines[0], R"("evil\x22agent\x5C \x01 caf\xC3\xA9 bad\xFF end")"));
  }
}

TEST_CASE("access_log: a thrown handler is logged with the Engine's 500") {
  Collected got;
  AccessLog log({.format = AccessLogFormat::json, .fields = {AccessLogField::route, AccessLogField::status},
                 .sink = got.sink()});
  khz::Engine e;
  e.use(log.middleware());
  routes(e);
  khz::test::LogCapture capture;  // the Engine logs the exception
  REQUIRE(perform_request(e, "GET", "/boom").status() == 500);
  log.flush();
  REQUIRE(got.lines() == std::vector<std::string>{R"({"route":"/boom","status":500})"});
}

TEST_CASE("access_log: streamed responses are counted on the wire, HTTP/1.1 and h2c, both transports") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      Collected got;
      khz::test::TestServer s(transport);
      AccessLog log(s.server, {.format = AccessLogFormat::json,
                               .fields = {AccessLogField::remote_addr, AccessLogField::protocol,
                                          AccessLogField::status, AccessLogField::bytes_out},
                               .sink = got.sink()});
      s.server.use(log.middleware());
      routes(s.server);
      s.start();
      for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
        const auto r = run_command("curl -sS --max-time 10 " + version + " " + s.url("/stream") + " | wc -c");
        REQUIRE(contains(r.output, "5000"));
      }
      log.flush();
      const auto lines = got.lines();
      REQUIRE(lines.size() == 2);
      REQUIRE(lines[0] == R"({"remote_addr":"127.0.0.1","protocol":"HTTP/1.1","status":200,"bytes_out":5000})");
      REQUIRE(lines[1] == R"({"remote_addr":"127.0.0.1","protocol":"HTTP/2","status":200,"bytes_out":5000})");
    }
  }
}

TEST_CASE("access_log: a sink that blocks makes lines drop and be counted, never the loop wait") {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  bool entered = false;
  std::size_t received = 0;
  AccessLog log({.sink = AccessLogSink::callback([&](std::string_view lines) {
                   std::unique_lock lock(m);
                   entered = true;
                   cv.notify_all();
                   cv.wait(lock, [&] { return release; });
                   received += count_lines(std::string(lines));
                 }),
                 .flush_interval = 10ms,
                 .flush_bytes = 256,
                 .max_buffer_bytes = 1024});
  khz::Engine e;
  e.use(log.middleware());
  routes(e);
  // The first batch reaches the sink, which blocks; the loop goes on serving.
  perform_request(e, "GET", "/users/1");
  {
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, 5s, [&] { return entered; }));
  }
  khz::test::LogCapture capture;
  constexpr int n = 200;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) REQUIRE(perform_request(e, "GET", "/users/1").status() == 200);
  REQUIRE(std::chrono::steady_clock::now() - t0 < 10s);
  const std::uint64_t dropped = log.dropped();
  REQUIRE(dropped > 0);
  REQUIRE(dropped < n);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  log.flush();
  // Every line is either written or counted as dropped; the drop is reported in a warning.
  REQUIRE(log.written() + log.dropped() == n + 1);
  {
    std::lock_guard lock(m);
    REQUIRE(received == log.written());
  }
  REQUIRE(contains(capture.text(), "access_log: " + std::to_string(dropped) + " lines dropped"));
}

TEST_CASE("access_log: a clean server stop writes every line (file sink), both transports") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      const std::string path = khz::test::TestPki::get().dir + "/access-" + transport + ".log";
      std::remove(path.c_str());
      constexpr int n = 20;
      {
        khz::test::TestServer s(transport);
        // An hour's interval and a large buffer: only the shutdown flush can write these lines.
        AccessLog log(s.server, {.sink = AccessLogSink::file(path), .flush_interval = 1h});
        s.server.use(log.middleware());
        routes(s.server);
        s.start();
        for (int i = 0; i < n; ++i) {
          auto r = run_command("curl -sS --max-time 10 -o /dev/null -w '%{http_code}' " + s.url("/users/" + std::to_string(i)));
          REQUIRE(r.output == "200");
        }
        REQUIRE(read_file(path).empty());
        s.server.shutdown();
        // Written by the server's shutdown, while the AccessLog still exists.
        const std::string text = read_file(path);
        REQUIRE(count_lines(text) == n);
        REQUIRE(contains(text, "\"GET /users/19 HTTP/1.1\" 200 7 "));
      }
      std::remove(path.c_str());
    }
  }
}

TEST_CASE("access_log: the file is reopened by reopen() and on SIGHUP (logrotate)") {
  const std::string dir = khz::test::TestPki::get().dir;
  const std::string path = dir + "/rotate.log";
  std::remove(path.c_str());
  std::remove((path + ".1").c_str());
  std::remove((path + ".2").c_str());
  AccessLog log({.sink = AccessLogSink::file(path), .flush_interval = 20ms});
  khz::Engine e;
  e.use(log.middleware());
  routes(e);
  perform_request(e, "GET", "/users/1");
  log.flush();
  REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0);
  log.reopen();
  perform_request(e, "GET", "/users/2");
  log.flush();
  REQUIRE(std::rename(path.c_str(), (path + ".2").c_str()) == 0);
  REQUIRE(::raise(SIGHUP) == 0);
  std::this_thread::sleep_for(100ms);  // the writer sees the signal on its next interval
  perform_request(e, "GET", "/users/3");
  log.flush();
  REQUIRE(contains(read_file(path + ".1"), "/users/1 "));
  REQUIRE(count_lines(read_file(path + ".1")) == 1);
  REQUIRE(contains(read_file(path + ".2"), "/users/2 "));
  REQUIRE(count_lines(read_file(path + ".2")) == 1);
  REQUIRE(contains(read_file(path), "/users/3 "));
  REQUIRE(count_lines(read_file(path)) == 1);
}

TEST_CASE("access_log: bad options are refused when the log is made") {
  REQUIRE_THROWS_AS(AccessLog({.sink = AccessLogSink::file("")}), std::invalid_argument);
  REQUIRE_THROWS_AS(AccessLog({.sink = AccessLogSink::callback({})}), std::invalid_argument);
  REQUIRE_THROWS_AS(AccessLog({.flush_interval = 0ms}), std::invalid_argument);
  REQUIRE_THROWS_AS(AccessLog({.flush_bytes = 4096, .max_buffer_bytes = 1024}), std::invalid_argument);
  REQUIRE_THROWS_AS(AccessLog({.request_headers = {""}}), std::invalid_argument);
  REQUIRE_THROWS_AS(AccessLog({.response_headers = {"X-Bad\"Name"}}), std::invalid_argument);
  REQUIRE_THROWS_AS(AccessLog({.sink = AccessLogSink::file("/nonexistent-dir/x/access.log")}), std::system_error);
}
