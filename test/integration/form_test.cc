// SPDX-License-Identifier: Apache-2.0
// Forms end to end with real curl, on every transport, over HTTP/1.1 and HTTP/2 (h2c prior
// knowledge), on a buffered route and on a .stream_body() route that calls read_form():
// -F fields and files (one above the memory threshold, spooled, its temp file gone once the
// request is over), --data-urlencode, and the answers to bad forms (413, 415, 400), including
// a client that goes away in the middle of an upload.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using khz::test::body_of;
using khz::test::RawClient;
using khz::test::run_command;
using khz::test::status_of;

namespace {

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 977) % 256);
  return s;
}

// What the handlers saw, for the test thread.
struct Seen {
  std::mutex mutex;
  std::vector<std::string> spooled;  // temp files, as they were while the handler ran
  void add(const std::string& path) {
    std::lock_guard lock(mutex);
    spooled.push_back(path);
  }
  std::vector<std::string> take() {
    std::lock_guard lock(mutex);
    return std::exchange(spooled, {});
  }
};

// One line describing the form: fields, then each file of "upload" (name, type, size, where
// it is kept, and whether its content is `expected`).
std::string describe(khz::RequestContext& c, const std::string& expected, Seen& seen) {
  std::string out = "name=" + std::string(c.form("name")) + ";msg=" + std::string(c.form("msg"));
  for (const khz::FormFile* f : c.form_files("upload")) {
    auto content = f->read_all();
    out += ";file=" + std::string(f->filename()) + "," + std::string(f->content_type()) + "," +
           std::to_string(f->size()) + "," + (f->in_memory() ? "memory" : "spooled") + "," +
           (content.ok() && *content == expected ? "same" : "differs");
    if (!f->in_memory()) {
      struct stat st {};
      if (::stat(f->path().c_str(), &st) != 0 || (st.st_mode & 0777) != 0600) out += ",bad-temp-file";
      seen.add(f->path());
    }
  }
  return out;
}

bool empty_dir(const std::string& path) { return std::filesystem::is_empty(path); }

}  // namespace

TEST_CASE("forms with curl: -F and --data-urlencode, HTTP/1.1 and HTTP/2, buffered and streamed") {
  khz::test::TempDir files;
  const std::string big = pattern(1 << 20);  // above the 64 KiB threshold: spooled
  const std::string small = "small file\r\n--not a boundary\r\n";
  std::ofstream(files.path + "/big.bin", std::ios::binary) << big;
  std::ofstream(files.path + "/small.txt", std::ios::binary) << small;
  std::string expected;  // what the file of the current request holds

  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TempDir spool;
      Seen seen;
      khz::test::TestServer ts(transport, {.read_timeout = 2s,
                                           .form = {.memory_threshold = 64 << 10, .temp_dir = spool.path, .max_parts = 8}});
      ts.server.post("/buffered", [&](khz::RequestContext& c) { c.string(200, describe(c, expected, seen)); });
      auto read_and_describe = [&](khz::RequestContext& c) -> khz::Task<> {
        auto form = co_await c.read_form();
        if (!form) co_return;  // answered
        c.string(200, describe(c, expected, seen));
      };
      ts.server.post("/streamed", read_and_describe).stream_body();
      ts.server.post("/read", read_and_describe);  // read_form on a buffered body
      ts.start();

      SECTION("fields and files, in memory and spooled; --data-urlencode") {
        for (std::string route : {"/buffered", "/streamed"}) {
          for (std::string version : {"", "--http2-prior-knowledge "}) {
            CAPTURE(route, version);
            const std::string curl = "curl -sS --max-time 10 " + version;
            expected = big;
            auto r = run_command(curl + "-F 'name=value' -F 'upload=@" + files.path + "/big.bin;type=application/x-test' " +
                                 ts.url(route));
            REQUIRE(r.status == 0);
            REQUIRE(r.output == "name=value;msg=;file=big.bin,application/x-test,1048576,spooled,same");
            auto spooled = seen.take();
            REQUIRE(spooled.size() == 1);
            REQUIRE(!std::filesystem::exists(spooled[0]));  // removed when the request ended
            REQUIRE(empty_dir(spool.path));
  
            expected = small;
            r = run_command(curl + "-F 'name=a b' -F 'upload=@" + files.path + "/small.txt;type=text/plain' -F 'upload=@" +
                            files.path + "/small.txt' " + ts.url(route));
            REQUIRE(r.output == "name=a b;msg=;file=small.txt,text/plain," + std::to_string(small.size()) +
                                    ",memory,same;file=small.txt,text/plain," + std::to_string(small.size()) + ",memory,same");
  
            r = run_command(curl + "--data-urlencode 'msg=hello world & more=%' --data-urlencode 'name=J\xc3\xbcrgen' " +
                            ts.url(route));
            REQUIRE(r.output == "name=J\xc3\xbcrgen;msg=hello world & more=%");
          }
        }
      }

      SECTION("bad forms: 413 over a limit, 415 not a form, 400 truncated; with the reason") {
        // Over HTTP/2 an answer given before the request body ended is followed by RST_STREAM
        // NO_ERROR (RFC 9113 §8.1), which curl may report as an error while it still sends:
        // there the early answers are checked on the route whose body is buffered first.
        for (std::string version : {"", "--http2-prior-knowledge "}) {
          CAPTURE(version);
          const std::string curl = "curl -sS --max-time 10 -w ' %{http_code}' " + version;
          std::vector<std::string> routes{"/read"};
          if (version.empty()) routes.emplace_back("/streamed");
          std::string many;
          for (int i = 0; i < 9; ++i) many += "-F 'f" + std::to_string(i) + "=v' ";
          for (const auto& route : routes) {
            CAPTURE(route);
            auto r = run_command(curl + many + ts.url(route));
            REQUIRE(r.output == "413 content too large: multipart form: more parts than the limit 413");
            r = run_command(curl + "-H 'Content-Type: application/json' -d '{}' " + ts.url(route));
            REQUIRE(r.output.rfind("415 unsupported media type: not a form", 0) == 0);
            REQUIRE(r.output.substr(r.output.size() - 4) == " 415");
          }
          auto r = run_command(curl + many + ts.url("/buffered"));  // lazily parsed: no fields, no error answer
          REQUIRE(r.output == "name=;msg= 200");
        }
        RawClient c(ts.port());
        const std::string body = "--b\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"x\"\r\n\r\nno end";
        c.send("POST /streamed HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
        auto reply = c.read_response();
        REQUIRE(status_of(reply) == 400);
        REQUIRE(body_of(reply) == "400 bad request: multipart form: the body ended before the closing boundary");
        REQUIRE(empty_dir(spool.path));
      }

      SECTION("a client that goes away in the middle of an upload leaves no temp file") {
        {
          RawClient c(ts.port());
          const std::string head = "--b\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"x\"\r\n\r\n";
          c.send("POST /streamed HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                 "Content-Length: 10000000\r\n\r\n" + head + std::string(200 << 10, 'x'));
          REQUIRE(khz::test::eventually([&] { return !empty_dir(spool.path); }));  // spooling has begun
        }  // closed here
        REQUIRE(khz::test::eventually([&] { return empty_dir(spool.path); }));
      }
    }
  }
}
