// SPDX-License-Identifier: Apache-2.0
// RequestContext's forms, in process (khz::testing::perform_request): urlencoded and multipart
// fields, files in memory (views into the body) and spooled to temp files (0600, removed when
// the request ends, also when the handler throws), read_form()'s answers to bad input (400,
// 413, 415), FormOptions reaching the context, and query_or.
#include <khz/app/engine.h>
#include <khz/app/server.h>
#include <khz/app/testing.h>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

using khz::testing::perform_request;

namespace {

struct ScratchDir {
  ScratchDir() {
    char tmpl[] = "/tmp/khz-form-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  bool empty() const { return std::filesystem::is_empty(path); }
  std::string path;
};

const std::string kMultipart = "multipart/form-data; boundary=BoUnDaRy";

std::string part(std::string_view disposition, std::string_view content, std::string_view type = {}) {
  std::string out = "--BoUnDaRy\r\nContent-Disposition: form-data; " + std::string(disposition) + "\r\n";
  if (!type.empty()) out += "Content-Type: " + std::string(type) + "\r\n";
  return out + "\r\n" + std::string(content) + "\r\n";
}
const std::string kEnd = "--BoUnDaRy--\r\n";

std::string join(const std::vector<std::string_view>& v) {
  std::string out;
  for (auto s : v) out.append(out.empty() ? "" : ",").append(s);
  return out;
}

}  // namespace

TEST_CASE("forms: urlencoded fields, lazily parsed from a buffered body; the query stays apart") {
  khz::Engine e;
  e.post("/f", [](khz::RequestContext& c) {
    c.string(200, std::string(c.form("a")) + "|" + join(c.form_all("a")) + "|" + std::string(c.form("b")) + "|" +
                      (c.has_form("flag") ? "flag" : "-") + "|" + (c.has_form("q") ? "q" : "-") + "|" +
                      std::string(c.query("q")) + "|" + (c.form_file("a") == nullptr ? "nofile" : "file"));
  });
  auto r = perform_request(e, "POST", "/f?q=1", {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
                           "a=1&b=x+y%21&a=2&flag");
  REQUIRE(r.body() == "1|1,2|x y!|flag|-|1|nofile");
}

TEST_CASE("forms: a body that is not a form has no fields; read_form answers 415") {
  khz::Engine e;
  e.post("/lazy", [](khz::RequestContext& c) { c.string(200, std::string(c.form("a")) + (c.has_form("a") ? "y" : "n")); });
  e.post("/read", [](khz::RequestContext& c) -> khz::Task<> {
    auto form = co_await c.read_form();
    if (!form) co_return;
    c.string(200, "read");
  });
  REQUIRE(perform_request(e, "POST", "/lazy", {{"Content-Type", "application/json"}}, "a=1").body() == "n");
  auto r = perform_request(e, "POST", "/read", {{"Content-Type", "application/json"}}, "{}");
  REQUIRE(r.status() == 415);
  REQUIRE(r.body() == "415 unsupported media type: not a form: Content-Type is neither "
                      "application/x-www-form-urlencoded nor multipart/form-data");
  REQUIRE(perform_request(e, "POST", "/read", {}, "").status() == 415);  // no Content-Type at all
}

TEST_CASE("forms: multipart fields and files; small files are views into the body, big ones spooled") {
  ScratchDir dir;
  khz::Engine e({.form = {.memory_threshold = 8, .temp_dir = dir.path}});
  std::string spooled_path;
  e.post("/up", [&](khz::RequestContext& c) {
    std::string out = std::string(c.form("title")) + "|" + join(c.form_all("tag")) + "|";
    const khz::FormFile* small = c.form_file("small");
    REQUIRE(small != nullptr);
    REQUIRE(small->in_memory());
    REQUIRE(small->path().empty());
    const std::string_view body = c.body();
    REQUIRE((small->bytes().data() >= body.data() && small->bytes().data() < body.data() + body.size()));
    out += std::string(small->filename()) + "," + std::string(small->content_type()) + "," +
           std::to_string(small->size()) + "," + std::string(small->bytes()) + "|";
    auto docs = c.form_files("doc");
    REQUIRE(docs.size() == 2);
    const khz::FormFile* big = docs[1];
    REQUIRE(!big->in_memory());
    REQUIRE(big->bytes().empty());
    spooled_path = big->path();
    struct stat st {};
    REQUIRE(::stat(big->path().c_str(), &st) == 0);
    REQUIRE((st.st_mode & 0777) == 0600);
    REQUIRE(big->path().rfind(dir.path + "/", 0) == 0);
    auto all = big->read_all();
    REQUIRE(all.ok());
    char tail[4];
    auto n = big->read_at(big->size() - 3, tail);
    REQUIRE(n.ok());
    REQUIRE(*n == 3);
    out += std::string(docs[0]->bytes()) + "," + std::string(big->content_type()) + "," + std::to_string(big->size()) +
           "," + (*all == std::string(100, 'z') + "end" ? "same" : "differs") + "," + std::string(tail, 3);
    REQUIRE(big->save_as(dir.path + "/saved").ok());
    REQUIRE(small->save_as(dir.path + "/saved-small").ok());
    c.string(200, out);
  });
  const std::string body = "preamble\r\n" + part(R"(name="title")", "Hello, world") + part(R"(name="tag")", "a") +
                           part(R"(name="small"; filename="s.txt")", "tiny", "text/plain") + part(R"(name="tag")", "b") +
                           part(R"(name="doc"; filename="d1")", "12345678") +
                           part(R"(name="doc"; filename*=UTF-8''big%20one.bin)", std::string(100, 'z') + "end") + kEnd;
  auto r = perform_request(e, "POST", "/up", {{"Content-Type", kMultipart}}, body);
  REQUIRE(r.status() == 200);
  REQUIRE(r.body() == "Hello, world|a,b|s.txt,text/plain,4,tiny|12345678,application/octet-stream,103,same,end");
  // The temp file went with the request; what save_as wrote stays.
  REQUIRE(!spooled_path.empty());
  REQUIRE(!std::filesystem::exists(spooled_path));
  std::ifstream saved(dir.path + "/saved", std::ios::binary);
  REQUIRE(std::string(std::istreambuf_iterator<char>(saved), {}) == std::string(100, 'z') + "end");
  std::ifstream saved_small(dir.path + "/saved-small", std::ios::binary);
  REQUIRE(std::string(std::istreambuf_iterator<char>(saved_small), {}) == "tiny");
  std::filesystem::remove(dir.path + "/saved");
  std::filesystem::remove(dir.path + "/saved-small");
  REQUIRE(dir.empty());
}

TEST_CASE("forms: temp files are removed when the handler throws") {
  ScratchDir dir;
  khz::Engine e({.form = {.memory_threshold = 0, .temp_dir = dir.path}});
  bool spooled = false;
  e.post("/throw", [&](khz::RequestContext& c) {
    const khz::FormFile* f = c.form_file("f");
    REQUIRE(f != nullptr);
    spooled = !f->in_memory() && std::filesystem::exists(f->path());
    throw std::runtime_error("boom");
  });
  auto r = perform_request(e, "POST", "/throw", {{"Content-Type", kMultipart}},
                           part(R"(name="f"; filename="x")", "content") + kEnd);
  REQUIRE(r.status() == 500);
  REQUIRE(spooled);
  REQUIRE(dir.empty());
}

TEST_CASE("forms: read_form answers bad input with 400 or 413 and the reason; no half forms") {
  ScratchDir dir;
  khz::Engine e({.form = {.memory_threshold = 0, .temp_dir = dir.path, .max_fields = 2, .max_parts = 2}});
  e.post("/read", [](khz::RequestContext& c) -> khz::Task<> {
    auto form = co_await c.read_form();
    if (!form) {
      // The form is empty after an error, and a second call gives the same error.
      REQUIRE(!c.has_form("a"));
      REQUIRE(c.form_file("f") == nullptr);
      auto again = co_await c.read_form();
      REQUIRE(again.error() == form.error());
      co_return;
    }
    c.string(200, std::string(c.form("a")) + "," + std::to_string(c.form_files("f").size()));
  });
  const std::vector<khz::testing::Header> multipart{{"Content-Type", kMultipart}};
  auto ok = perform_request(e, "POST", "/read", multipart, part(R"(name="a")", "1") + part(R"(name="f"; filename="x")", "y") + kEnd);
  REQUIRE(ok.body() == "1,1");

  auto truncated = perform_request(e, "POST", "/read", multipart, part(R"(name="f"; filename="x")", "y"));
  REQUIRE(truncated.status() == 400);
  REQUIRE(truncated.body() == "400 bad request: multipart form: the body ended before the closing boundary");

  auto too_many = perform_request(e, "POST", "/read", multipart,
                                  part(R"(name="f"; filename="x")", "y") + part(R"(name="a")", "1") + part(R"(name="b")", "2") + kEnd);
  REQUIRE(too_many.status() == 413);
  REQUIRE(too_many.body() == "413 content too large: multipart form: more parts than the limit");

  auto no_boundary = perform_request(e, "POST", "/read", {{"Content-Type", "multipart/form-data"}}, kEnd);
  REQUIRE(no_boundary.status() == 400);

  auto fields = perform_request(e, "POST", "/read", {{"Content-Type", "application/x-www-form-urlencoded"}}, "a=1&b=2&c=3");
  REQUIRE(fields.status() == 413);
  REQUIRE(dir.empty());
}

TEST_CASE("forms: ServerOptions::form reaches the context") {
  khz::Server server({.address = "127.0.0.1:0", .form = {.max_value_bytes = 3}});
  REQUIRE(server.engine_options().form.max_value_bytes == 3);
  server.post("/v", [](khz::RequestContext& c) -> khz::Task<> {
    if (auto form = co_await c.read_form(); !form) co_return;
    c.string(200, std::string(c.form("v")));
  });
  const std::vector<khz::testing::Header> urlencoded{{"Content-Type", "application/x-www-form-urlencoded"}};
  REQUIRE(perform_request(server, "POST", "/v", urlencoded, "v=abc").body() == "abc");
  REQUIRE(perform_request(server, "POST", "/v", urlencoded, "v=abcd").status() == 413);
}

TEST_CASE("query_or: the value when the key is present (even empty), else the fallback") {
  khz::Engine e;
  e.get("/q", [](khz::RequestContext& c) {
    c.string(200, std::string(c.query_or("page", "1")) + "|" + std::string(c.query_or("empty", "x")) + "|" +
                      std::string(c.query_or("name", "?")));
  });
  REQUIRE(perform_request(e, "GET", "/q?empty=&name=a+b").body() == "1||a b");
}
