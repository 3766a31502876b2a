// SPDX-License-Identifier: Apache-2.0
// Static files end to end (static_fs, ctx.file) on every transport: curl (-r, -z,
// --compressed, --http2-prior-knowledge, https with h2 and http/1.1) and raw requests; the
// bytes served are compared with the file's. Conditional and Range requests (RFC 9110 §13-14),
// HEAD, directories, precompressed siblings, the open-file cache seeing replaced files, and
// every way out of the root refused.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using khz::test::body_of;
using khz::test::header_of;
using khz::test::RawClient;
using khz::test::run_command;
using khz::test::status_of;
using khz::test::TempDir;
using khz::test::TestPki;
using khz::test::TestServer;

namespace {

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// 300 KiB of bytes that differ from offset to offset (more than a socket takes at once).
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 16);
  }
  return s;
}

// The tree the tests serve:
//   www/hello.txt  www/data.bin  www/style.css(+.br .zst .gz)  www/app.js(+.gz, real gzip)
//   www/sub/index.html  www/list/{a.txt,<b>&.txt,d/}  www/link_in -> hello.txt
//   www/link_out -> ../outside/secret.txt  www/dir_out -> ../outside
//   outside/secret.txt
struct Tree {
  TempDir dir;
  std::string www = dir.path + "/www";
  std::string outside = dir.path + "/outside";
  std::string data = pattern(300 * 1024);

  Tree() {
    ::mkdir(www.c_str(), 0755);
    ::mkdir(outside.c_str(), 0755);
    ::mkdir((www + "/sub").c_str(), 0755);
    ::mkdir((www + "/list").c_str(), 0755);
    ::mkdir((www + "/list/d").c_str(), 0755);
    write_file(www + "/hello.txt", "hello, static\n");
    write_file(www + "/data.bin", data);
    write_file(www + "/style.css", "body { color: red; }\n");
    write_file(www + "/style.css.br", "BROTLI-BYTES");
    write_file(www + "/style.css.zst", "ZSTD-BYTES");
    write_file(www + "/style.css.gz", "GZIP-BYTES");
    write_file(www + "/app.js", std::string(5000, 'x') + "console.log('app');\n");
    REQUIRE(run_command("gzip -k -9 " + www + "/app.js").status == 0);
    write_file(www + "/sub/index.html", "<p>index</p>\n");
    write_file(www + "/list/a.txt", "a");
    write_file(www + "/list/<b>&.txt", "b");
    write_file(outside + "/secret.txt", "TOP SECRET\n");
    REQUIRE(::symlink("hello.txt", (www + "/link_in").c_str()) == 0);
    REQUIRE(::symlink("../outside/secret.txt", (www + "/link_out").c_str()) == 0);
    REQUIRE(::symlink("../outside", (www + "/dir_out").c_str()) == 0);
  }
};

std::string md5(const std::string& bytes, const TempDir& dir) {
  write_file(dir.path + "/md5-input", bytes);
  return run_command("md5sum < " + dir.path + "/md5-input").output;
}

std::string get(std::uint16_t port, const std::string& path, const std::string& headers = "", const char* method = "GET") {
  RawClient c(port);
  c.send(std::string(method) + " " + path + " HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n");
  return c.read_response(std::string_view(method) == "HEAD");
}

void mount(khz::Server& s, const Tree& t) {
  s.static_fs("/static", t.www, {.listing = true, .cache_control = "public, max-age=60"});
  s.static_fs("/nolist", t.www, {.listing = false});
  s.static_fs("/follow", t.www, {.follow_symlinks_outside_root = true});
  s.static_fs("/few", t.www, {.max_ranges = 2});
  s.get("/one", [&t](khz::RequestContext& c) { c.file(t.www + "/hello.txt"); });
  s.get("/missing", [&t](khz::RequestContext& c) { c.file(t.www + "/nope.txt"); });
}

}  // namespace

TEST_CASE("static: GET and HEAD, validators and types; the bytes match over HTTP/1.1 and h2c") {
  Tree t;
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport);
      mount(s.server, t);
      s.start();
      std::string r = get(s.port(), "/static/hello.txt");
      REQUIRE(status_of(r) == 200);
      CHECK(body_of(r) == "hello, static\n");
      CHECK(header_of(r, "Content-Type") == "text/plain; charset=utf-8");
      CHECK(header_of(r, "Content-Length") == "14");
      CHECK(header_of(r, "Accept-Ranges") == "bytes");
      CHECK(header_of(r, "Cache-Control") == "public, max-age=60");
      const std::string etag = header_of(r, "ETag");
      CHECK(etag.size() > 4);
      CHECK(etag.front() == '"');
      struct stat st{};
      REQUIRE(::stat((t.www + "/hello.txt").c_str(), &st) == 0);
      CHECK(header_of(r, "Last-Modified") ==
            run_command("date -u -d @" + std::to_string(st.st_mtime) + " '+%a, %d %b %Y %H:%M:%S GMT' | tr -d '\\n'").output);

      std::string h = get(s.port(), "/static/hello.txt", "", "HEAD");
      REQUIRE(status_of(h) == 200);
      CHECK(header_of(h, "Content-Length") == "14");
      CHECK(header_of(h, "ETag") == etag);
      CHECK(body_of(h).empty());

      // A larger file (more than the socket takes at once), by curl: every byte.
      auto out = run_command("curl -sS --http1.1 " + s.url("/static/data.bin") + " | md5sum");
      CHECK(out.output == md5(t.data, t.dir));
      out = run_command("curl -sS --http2-prior-knowledge " + s.url("/static/data.bin") + " | md5sum");
      CHECK(out.output == md5(t.data, t.dir));
      out = run_command("curl -sS -I --http2-prior-knowledge " + s.url("/static/data.bin"));
      CHECK(contains(out.output, "HTTP/2 200"));
      CHECK(contains(out.output, "content-length: 307200"));

      // Several in one write (pipelined): each response whole, in order.
      RawClient c(s.port());
      c.send("GET /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /static/data.bin HTTP/1.1\r\nHost: x\r\n\r\n"
             "HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /static/list/a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
      CHECK(body_of(c.read_response()) == "hello, static\n");
      CHECK(body_of(c.read_response()) == t.data);
      CHECK(status_of(c.read_response(true)) == 200);
      CHECK(body_of(c.read_response()) == "a");

      // ctx.file
      r = get(s.port(), "/one");
      CHECK(status_of(r) == 200);
      CHECK(body_of(r) == "hello, static\n");
      CHECK(header_of(r, "ETag") == etag);
      CHECK(status_of(get(s.port(), "/missing")) == 404);
      CHECK(status_of(get(s.port(), "/static/nope.txt")) == 404);
      // Other methods
      r = get(s.port(), "/static/hello.txt", "Content-Length: 0\r\n", "POST");
      CHECK(status_of(r) == 405);
      CHECK(header_of(r, "Allow") == "GET, HEAD");
      CHECK(status_of(get(s.port(), "/static/hello.txt", "", "DELETE")) == 405);
      CHECK(header_of(get(s.port(), "/static/app.js"), "Content-Type") == "text/javascript; charset=utf-8");
      CHECK(header_of(get(s.port(), "/static/data.bin"), "Content-Type") == "application/octet-stream");
    }
  }
}

TEST_CASE("static: Range requests, single and multiple, 206 and 416, If-Range") {
  Tree t;
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport);
      mount(s.server, t);
      s.start();
      // curl -r
      auto out = run_command("curl -sS -r 1000-1999 " + s.url("/static/data.bin") + " | md5sum");
      CHECK(out.output == md5(t.data.substr(1000, 1000), t.dir));
      out = run_command("curl -sS --http2-prior-knowledge -r 1000-1999 " + s.url("/static/data.bin") + " | md5sum");
      CHECK(out.output == md5(t.data.substr(1000, 1000), t.dir));

      std::string r = get(s.port(), "/static/data.bin", "Range: bytes=-10\r\n");
      REQUIRE(status_of(r) == 206);
      CHECK(header_of(r, "Content-Range") == "bytes 307190-307199/307200");
      CHECK(header_of(r, "Content-Length") == "10");
      CHECK(body_of(r) == t.data.substr(307190));

      r = get(s.port(), "/static/data.bin", "Range: bytes=100000-\r\n");
      REQUIRE(status_of(r) == 206);
      CHECK(body_of(r) == t.data.substr(100000));

      // Two ranges: multipart/byteranges, each part with its Content-Range.
      r = get(s.port(), "/static/data.bin", "Range: bytes=0-9, 200000-200009\r\n");
      REQUIRE(status_of(r) == 206);
      const std::string type = header_of(r, "Content-Type");
      REQUIRE(type.rfind("multipart/byteranges; boundary=", 0) == 0);
      const std::string boundary = type.substr(type.find('=') + 1);
      const std::string want = "--" + boundary + "\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-9/307200\r\n\r\n" +
                               t.data.substr(0, 10) + "\r\n--" + boundary +
                               "\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 200000-200009/307200\r\n\r\n" +
                               t.data.substr(200000, 10) + "\r\n--" + boundary + "--\r\n";
      CHECK(body_of(r) == want);
      CHECK(header_of(r, "Content-Length") == std::to_string(want.size()));
      // The same over h2c, by curl.
      out = run_command("curl -sS --http2-prior-knowledge -r 0-9,200000-200009 " + s.url("/static/data.bin") + " | wc -c");
      CHECK(out.output == std::to_string(want.size()) + "\n");

      // Unsatisfiable
      r = get(s.port(), "/static/data.bin", "Range: bytes=307200-\r\n");
      CHECK(status_of(r) == 416);
      CHECK(header_of(r, "Content-Range") == "bytes */307200");
      // Syntax errors and other units are ignored: the whole file.
      r = get(s.port(), "/static/hello.txt", "Range: bytes=5-1\r\n");
      CHECK(status_of(r) == 200);
      CHECK(body_of(r) == "hello, static\n");
      r = get(s.port(), "/static/hello.txt", "Range: pages=1-2\r\n");
      CHECK(status_of(r) == 200);
      // More ranges than allowed: the whole file.
      r = get(s.port(), "/few/hello.txt", "Range: bytes=0-0,2-2,4-4\r\n");
      CHECK(status_of(r) == 200);
      CHECK(body_of(r) == "hello, static\n");
      r = get(s.port(), "/few/hello.txt", "Range: bytes=0-0,2-2\r\n");
      CHECK(status_of(r) == 206);
      // HEAD ignores Range (§14.2: GET only)
      r = get(s.port(), "/static/hello.txt", "Range: bytes=0-1\r\n", "HEAD");
      CHECK(status_of(r) == 200);
      CHECK(header_of(r, "Content-Length") == "14");

      // If-Range: the current ETag or Last-Modified keeps the range; anything else sends it all.
      std::string full = get(s.port(), "/static/hello.txt");
      const std::string etag = header_of(full, "ETag"), modified = header_of(full, "Last-Modified");
      r = get(s.port(), "/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: " + etag + "\r\n");
      CHECK(status_of(r) == 206);
      CHECK(body_of(r) == "hello");
      r = get(s.port(), "/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: " + modified + "\r\n");
      CHECK(status_of(r) == 206);
      r = get(s.port(), "/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: \"other\"\r\n");
      CHECK(status_of(r) == 200);
      CHECK(body_of(r) == "hello, static\n");
    }
  }
}

TEST_CASE("static: conditional requests (304, 412) with curl -z and raw fields") {
  Tree t;
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport);
      mount(s.server, t);
      s.start();
      std::string full = get(s.port(), "/static/hello.txt");
      const std::string etag = header_of(full, "ETag"), modified = header_of(full, "Last-Modified");
      std::string r = get(s.port(), "/static/hello.txt", "If-None-Match: " + etag + "\r\n");
      CHECK(status_of(r) == 304);
      CHECK(header_of(r, "ETag") == etag);
      CHECK(header_of(r, "Cache-Control") == "public, max-age=60");
      CHECK(body_of(r).empty());
      CHECK(status_of(get(s.port(), "/static/hello.txt", "If-None-Match: \"x\", W/" + etag + "\r\n")) == 304);
      CHECK(status_of(get(s.port(), "/static/hello.txt", "If-None-Match: \"x\"\r\n")) == 200);
      CHECK(status_of(get(s.port(), "/static/hello.txt", "If-Modified-Since: " + modified + "\r\n")) == 304);
      CHECK(status_of(get(s.port(), "/static/hello.txt", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n")) == 200);
      CHECK(status_of(get(s.port(), "/static/hello.txt", "If-Match: " + etag + "\r\n")) == 200);
      CHECK(status_of(get(s.port(), "/static/hello.txt", "If-Match: \"x\"\r\n")) == 412);
      CHECK(status_of(get(s.port(), "/static/hello.txt", "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n")) == 412);
      CHECK(status_of(get(s.port(), "/static/hello.txt", "If-Unmodified-Since: " + modified + "\r\n")) == 200);
      // curl -z <date>: If-Modified-Since; a later date is 304 (curl prints nothing), an earlier one 200.
      auto out = run_command("curl -sS -o /dev/null -w '%{http_code}' -z 'Sat, 01 Jan 2000 00:00:00 GMT' " + s.url("/static/hello.txt"));
      CHECK(out.output == "200");
      out = run_command("curl -sS -o /dev/null -w '%{http_code}' -z '" + modified + "' " + s.url("/static/hello.txt"));
      CHECK(out.output == "304");
      out = run_command("curl -sS -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'If-None-Match: " + etag + "' " +
                        s.url("/static/hello.txt"));
      CHECK(out.output == "304");
    }
  }
}

TEST_CASE("static: precompressed siblings by Accept-Encoding; curl --compressed") {
  Tree t;
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport);
      mount(s.server, t);
      s.start();
      struct Case {
        std::string accept;
        std::string encoding;
        std::string body;
      };
      const std::vector<Case> cases = {
          {"gzip, deflate, br, zstd", "br", "BROTLI-BYTES"},
          {"gzip, zstd", "zstd", "ZSTD-BYTES"},
          {"gzip", "gzip", "GZIP-BYTES"},
          {"br;q=0, gzip", "gzip", "GZIP-BYTES"},
          {"identity", "", "body { color: red; }\n"},
          {"", "", "body { color: red; }\n"},
      };
      std::vector<std::string> etags;
      for (const Case& c : cases) {
        INFO("Accept-Encoding: " << c.accept);
        std::string r = get(s.port(), "/static/style.css", c.accept.empty() ? "" : "Accept-Encoding: " + c.accept + "\r\n");
        REQUIRE(status_of(r) == 200);
        CHECK(header_of(r, "Content-Encoding") == c.encoding);
        CHECK(body_of(r) == c.body);
        CHECK(header_of(r, "Content-Type") == "text/css; charset=utf-8");
        CHECK(header_of(r, "Vary") == "Accept-Encoding");
        etags.push_back(header_of(r, "ETag"));
      }
      CHECK(etags[0] != etags[5]);  // each representation its own validator
      CHECK(etags[2] != etags[5]);
      // A real gzip sibling, decoded by curl: the original bytes.
      auto out = run_command("curl -sS --compressed -D " + t.dir.path + "/h " + s.url("/static/app.js") + " | md5sum");
      CHECK(out.output == md5(read_file(t.www + "/app.js"), t.dir));
      CHECK(contains(read_file(t.dir.path + "/h"), "Content-Encoding: gzip"));
    }
  }
}

TEST_CASE("static: directories, index files, listings") {
  Tree t;
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport);
      mount(s.server, t);
      s.start();
      std::string r = get(s.port(), "/static/sub?x=1");
      CHECK(status_of(r) == 301);
      CHECK(header_of(r, "Location") == "sub/?x=1");
      r = get(s.port(), "/static/sub/");
      CHECK(status_of(r) == 200);
      CHECK(body_of(r) == "<p>index</p>\n");
      CHECK(header_of(r, "Content-Type") == "text/html; charset=utf-8");
      r = get(s.port(), "/static/list/");
      REQUIRE(status_of(r) == 200);
      const std::string html = body_of(r);
      CHECK(contains(html, "<a href=\"a.txt\">a.txt</a>"));
      CHECK(contains(html, "<a href=\"%3Cb%3E%26.txt\">&lt;b&gt;&amp;.txt</a>"));
      CHECK(contains(html, "<a href=\"d/\">d/</a>"));
      CHECK_FALSE(contains(html, "<b>"));
      CHECK(status_of(get(s.port(), "/nolist/list/")) == 403);
      r = get(s.port(), "/static/");
      CHECK(status_of(r) == 200);  // the root, listed
      CHECK(contains(body_of(r), "hello.txt"));
    }
  }
}

TEST_CASE("static: nothing outside the root is served") {
  Tree t;
  for (const auto& transport : khz::test::transports()) {
    for (bool raw_path : {false, true}) {
      DYNAMIC_SECTION("transport " << transport << (raw_path ? ", use_raw_path" : "")) {
        TestServer s(transport, {.use_raw_path = raw_path});
        mount(s.server, t);
        s.start();
        const std::vector<std::string> attacks = {
            "/static/../outside/secret.txt",
            "/static/../../outside/secret.txt",
            "/static/%2e%2e/outside/secret.txt",
            "/static/%2E%2E/outside/secret.txt",
            "/static/.%2e/outside/secret.txt",
            "/static/%252e%252e/outside/secret.txt",      // double-encoded dots
            "/static/..%2foutside%2fsecret.txt",          // encoded slashes
            "/static/..%252foutside%252fsecret.txt",      // double-encoded slashes
            "/static/%2e%2e%2foutside%2fsecret.txt",
            "/static/..%5coutside%5csecret.txt",          // encoded backslashes
            "/static/..%255coutside%255csecret.txt",
            "/static/..\\outside\\secret.txt",           // raw backslashes
            "/static/hello.txt%00.css",                  // NUL
            "/static/hello.txt%2500.css",
            "/static/link_out",                          // a symlink out of the root
            "/static/dir_out/secret.txt",                // through a symlinked directory
            "/static/dir_out/",
            "/static/sub/../../outside/secret.txt",
        };
        for (const std::string& a : attacks) {
          INFO(a);
          std::string r = get(s.port(), a);
          CHECK((status_of(r) == 404 || status_of(r) == 400));
          CHECK_FALSE(contains(r, "TOP SECRET"));
          auto out = run_command("curl -sS --path-as-is --http2-prior-knowledge '" + s.url(a) + "'");
          CHECK_FALSE(contains(out.output, "TOP SECRET"));
        }
        // Inside: a symlink within the root is fine; out of it, only where allowed.
        CHECK(body_of(get(s.port(), "/static/link_in")) == "hello, static\n");
        CHECK(body_of(get(s.port(), "/follow/link_out")) == "TOP SECRET\n");
        CHECK(body_of(get(s.port(), "/follow/dir_out/secret.txt")) == "TOP SECRET\n");
      }
    }
  }
}

TEST_CASE("static: the open-file cache serves a replaced or rewritten file fresh") {
  Tree t;
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TestServer s(transport, {.loops = 1});
      mount(s.server, t);
      s.start();
      const std::string path = t.www + "/fresh.txt";
      write_file(path, "version one\n");
      CHECK(body_of(get(s.port(), "/static/fresh.txt")) == "version one\n");
      CHECK(body_of(get(s.port(), "/static/fresh.txt")) == "version one\n");  // cached
      // Replaced by rename (a deploy): a new inode.
      write_file(path + ".new", "version two, longer\n");
      REQUIRE(std::rename((path + ".new").c_str(), path.c_str()) == 0);
      std::string r = get(s.port(), "/static/fresh.txt");
      CHECK(body_of(r) == "version two, longer\n");
      CHECK(header_of(r, "Content-Length") == "20");
      // Rewritten in place with another size.
      write_file(path, "v3\n");
      CHECK(body_of(get(s.port(), "/static/fresh.txt")) == "v3\n");
      // Removed.
      REQUIRE(::unlink(path.c_str()) == 0);
      CHECK(status_of(get(s.port(), "/static/fresh.txt")) == 404);
    }
  }
}

TEST_CASE("static: over TLS (http/1.1 and h2): bounded copies, the same bytes") {
  Tree t;
  const auto& pki = TestPki::get();
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::ServerOptions o;
      o.tls_cert_file = pki.alpha_cert;
      o.tls_key_file = pki.alpha_key;
      TestServer s(transport, o);
      mount(s.server, t);
      s.start();
      const std::string p = std::to_string(s.port());
      const std::string curl = "curl -sS --max-time 20 --cacert " + pki.ca_cert + " --resolve alpha.test:" + p +
                               ":127.0.0.1 ";
      const std::string url = "https://alpha.test:" + p;
      for (const std::string version : {"--http1.1", "--http2"}) {
        INFO(version);
        auto out = run_command(curl + version + " " + url + "/static/data.bin | md5sum");
        CHECK(out.output == md5(t.data, t.dir));
        out = run_command(curl + version + " -r 5000-70000 " + url + "/static/data.bin | md5sum");
        CHECK(out.output == md5(t.data.substr(5000, 65001), t.dir));
        out = run_command(curl + version + " -r 0-9,100-109 " + url + "/static/data.bin | wc -c");
        CHECK(std::stoi(out.output) > 20);
        out = run_command(curl + version + " -sI " + url + "/static/data.bin");
        CHECK(contains(out.output, "307200"));
        out = run_command(curl + version + " -o /dev/null -w '%{http_version} %{http_code}' " + url + "/static/hello.txt");
        CHECK(out.output == (version == "--http2" ? "2 200" : "1.1 200"));
      }
    }
  }
}
