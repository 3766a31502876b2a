// SPDX-License-Identifier: Apache-2.0
// Binding and validation end to end, with curl as the client over HTTP/1.1 and HTTP/2: the
// POST /bind contract of khz-bench-server (benchmark/bind/bind_contract.h), every source (path,
// query, header, cookie), bad bodies and their statuses, and a custom error handler.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "benchmark/bind/bind_contract.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <string>

namespace {

using khz::test::run_command;

struct Lookup {
  std::uint32_t id = 0;
  std::vector<std::string> tags;
  std::string token;
  std::string session;
  bool verbose = false;
  std::chrono::milliseconds wait{0};
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("id", &Lookup::id).path().min(1),
        khz::field("tags", &Lookup::tags).query("tag").max_length(3),
        khz::field("token", &Lookup::token).header("X-Token").required(),
        khz::field("session", &Lookup::session).cookie("sid"),
        khz::field("verbose", &Lookup::verbose).query().default_value("true"),
        khz::field("wait", &Lookup::wait).query().default_value("1.5s"),
    };
  }
};

struct Signup {
  std::string name;
  std::uint8_t age = 0;
  std::vector<std::string> tags;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("name", &Signup::name).form().required(),
        khz::field("age", &Signup::age).form().range(18, 120),
        khz::field("tags", &Signup::tags).form("tag"),
    };
  }
};

void register_routes(khz::Server& server) {
  server.post("/signup", [](khz::RequestContext& c) {
    auto req = c.bind_and_validate<Signup>();
    if (!req) return c.reject(req.errors());
    c.json(200, *req);
  });
  server.post("/bind", [](khz::RequestContext& c) {
    auto req = c.bind_and_validate<khz_bench::BindRequest>();
    if (!req) return c.reject(req.errors());
    c.json(200, *req);
  });
  server.get("/items/:id", [](khz::RequestContext& c) {
    auto req = c.bind_and_validate<Lookup>();
    if (!req) return c.reject(req.errors());
    c.json(200, *req);
  });
}

// curl's output: the body, then a line with the status and the Content-Type.
std::string curl(const std::string& args) {
  auto r = run_command("curl -s --max-time 5 -w '\\n%{http_code} %{content_type}' " + args);
  return r.output;
}

std::string body_of(const std::string& out) { return out.substr(0, out.rfind('\n')); }
std::string status_line(const std::string& out) { return out.substr(out.rfind('\n') + 1); }

void write_file(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

// The "field" of each error in a problem+json body, in order.
std::vector<std::string> failing_fields(const std::string& body) {
  std::vector<std::string> out;
  auto doc = khz::Json::parse(body);
  if (!doc || !doc->find("errors") || !doc->find("errors")->array()) return out;
  for (const auto& e : *doc->find("errors")->array()) out.push_back(*e.find("field")->string());
  return out;
}

}  // namespace

TEST_CASE("bind: the POST /bind contract over HTTP/1.1 and HTTP/2 with curl") {
  khz::test::TestServer ts(khz::test::transports().front());
  register_routes(ts.server);
  ts.start();
  const std::string url = "'" + ts.url("/bind") + "?verbose=1'";
  for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
    DYNAMIC_SECTION(version) {
      const std::string json = " -H 'Content-Type: application/json' ";
      auto out = curl(version + json + "-H 'X-Request-Id: abc' --data '" + khz_bench::kBindBody + "' " + url);
      CHECK(status_line(out) == "200 application/json; charset=utf-8");
      CHECK(body_of(out) ==
            R"({"name":"Ada Lovelace","age":36,"email":"ada@example.org","tags":["math","engines","poetry"],)"
            R"("address":{"city":"London","zip":"12345"},"verbose":true,"request_id":"abc"})");

      // without the optional parts: verbose defaults to false, no request_id, no email, no zip
      out = curl(version + json + R"(--data '{"name":"B","age":0,"address":{"city":"C"}}' )" + ts.url("/bind"));
      CHECK(status_line(out) == "200 application/json; charset=utf-8");
      CHECK(body_of(out) == R"({"name":"B","age":0,"tags":[],"address":{"city":"C"},"verbose":false})");

      // every failing field, by its external name
      std::string tags = "[";
      for (int i = 0; i < 17; ++i) tags += std::string(i ? "," : "") + "\"t\"";
      tags += "]";
      out = curl(version + json + R"(--data '{"age":151,"email":"nope","tags":)" + tags +
                 R"(,"address":{"zip":"12"}}' )" + url);
      CHECK(status_line(out) == "400 application/problem+json");
      CHECK(failing_fields(body_of(out)) ==
            std::vector<std::string>{"name", "age", "email", "tags", "address.city", "address.zip"});
      auto problem = khz::Json::parse(body_of(out));
      REQUIRE(problem);
      CHECK(*problem->find("status")->int64() == 400);
      CHECK(*problem->find("title")->string() == "Bad Request");

      struct Bad {
        std::string body;
        std::string expected_field;
      };
      const Bad bad[] = {
          {R"({"name":"x","age":1,"address":{"city":"c"})", ""},                 // malformed
          {R"({"name":"x","age":"1","address":{"city":"c"}})", "age"},           // wrong type
          {R"({"name":"x","age":99999999999,"address":{"city":"c"}})", "age"},   // does not fit an int
          {R"({"name":"x","age":1e400,"address":{"city":"c"}})", ""},            // does not fit a double
          {R"({"name":"x","age":1,"address":{"city":"c"},"name":"y"})", "name"}, // a key twice
          {"[1]", ""},                                                           // not an object
          {"{\"name\":\"\xff\",\"age\":1,\"address\":{\"city\":\"c\"}}", ""},    // bad UTF-8
          {std::string(100, '[') + std::string(100, ']'), ""},                   // absurd nesting
      };
      for (const auto& b : bad) {
        INFO(b.body);
        std::string file = "/tmp/khz-bind-test-body";
        write_file(file, b.body);
        out = curl(version + json + "--data-binary @" + file + " " + url);
        CHECK(status_line(out) == "400 application/problem+json");
        auto fields = failing_fields(body_of(out));
        REQUIRE(fields.size() == 1);
        CHECK(fields[0] == b.expected_field);
      }

      out = curl(version + " -H 'Content-Type: text/plain' --data 'hello' " + url);
      CHECK(status_line(out) == "415 application/problem+json");
      out = curl(version + " --data-urlencode 'name=x' " + url);
      CHECK(status_line(out) == "415 application/problem+json");
    }
  }
}

TEST_CASE("bind: path, repeated query keys, header, cookie and defaults") {
  khz::test::TestServer ts(khz::test::transports().front());
  register_routes(ts.server);
  ts.start();
  auto out = curl("-H 'X-Token: t0k' -b 'a=1; sid=s-9' '" + ts.url("/items/42") + "?tag=a&tag=b%20c'");
  CHECK(status_line(out) == "200 application/json; charset=utf-8");
  CHECK(body_of(out) == R"({"id":42,"tags":["a","b c"],"token":"t0k","session":"s-9","verbose":true,"wait":1500})");

  out = curl("'" + ts.url("/items/0") + "?tag=1&tag=2&tag=3&tag=4&verbose=maybe&wait=soon'");
  CHECK(status_line(out) == "400 application/problem+json");
  CHECK(failing_fields(body_of(out)) == std::vector<std::string>{"verbose", "wait"});  // binding stops rules
  out = curl("'" + ts.url("/items/0") + "?tag=1&tag=2&tag=3&tag=4'");
  CHECK(failing_fields(body_of(out)) == std::vector<std::string>{"id", "tags", "token"});
  out = curl("'" + ts.url("/items/4294967296") + "'");
  CHECK(failing_fields(body_of(out)) == std::vector<std::string>{"id"});
}

TEST_CASE("bind: a custom error handler shapes the answer") {
  khz::test::TestServer ts(khz::test::transports().front());
  register_routes(ts.server);
  ts.server.set_bind_error_handler([](khz::RequestContext& c, const khz::BindErrors& errors) {
    c.json(422, khz::H{{"code", "invalid"}, {"first", errors.fields().front().field}, {"count", errors.fields().size()}});
  });
  ts.start();
  auto out = curl("-H 'Content-Type: application/json' --data '{\"age\":-1}' " + ts.url("/bind"));
  CHECK(status_line(out) == "422 application/json; charset=utf-8");
  CHECK(body_of(out) == R"({"code":"invalid","first":"name","count":3})");
}

TEST_CASE("bind: urlencoded and multipart forms, and a form that does not parse") {
  khz::test::TestServer ts(khz::test::transports().front());
  register_routes(ts.server);
  ts.start();
  const std::string url = ts.url("/signup");
  for (const std::string version : {"--http1.1", "--http2-prior-knowledge"}) {
    DYNAMIC_SECTION(version) {
      auto out = curl(version + " --data-urlencode 'name=Ann Lee' --data-urlencode age=30 --data-urlencode tag=a "
                                "--data-urlencode 'tag=b&c' " + url);
      CHECK(status_line(out) == "200 application/json; charset=utf-8");
      CHECK(body_of(out) == R"({"name":"Ann Lee","age":30,"tags":["a","b&c"]})");

      out = curl(version + " -F name=Bo -F age=40 -F tag=x " + url);
      CHECK(status_line(out) == "200 application/json; charset=utf-8");
      CHECK(body_of(out) == R"({"name":"Bo","age":40,"tags":["x"]})");

      out = curl(version + " -F age=300 " + url);
      CHECK(status_line(out) == "400 application/problem+json");
      CHECK(failing_fields(body_of(out)) == std::vector<std::string>{"age"});  // binding: 300 does not fit
      out = curl(version + " -F age=12 " + url);
      CHECK(failing_fields(body_of(out)) == std::vector<std::string>{"name", "age"});

      // a multipart body that ends before its close delimiter
      write_file("/tmp/khz-bind-test-form", "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nAnn");
      out = curl(version + " -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary @/tmp/khz-bind-test-form " + url);
      CHECK(status_line(out) == "400 application/problem+json");
      CHECK(body_of(out).find("malformed form") != std::string::npos);
      out = curl(version + " -H 'Content-Type: application/json' --data '{\"name\":\"x\"}' " + url);
      CHECK(status_line(out) == "415 application/problem+json");
    }
  }
}
