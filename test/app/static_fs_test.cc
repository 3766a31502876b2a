// SPDX-License-Identifier: Apache-2.0
// static_fs and ctx.file in process (khz::testing::perform_request, no sockets), and the
// open-file cache on its own: its bound, its revalidation, its TTL, containment.
#include <khz/app/server.h>
#include <khz/app/testing.h>

#include <catch2/catch.hpp>

#include "static/open_file_cache.h"
#include "support/raw_client.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

using khz::testing::perform_request;
using khz::detail::CacheSettings;
using khz::detail::OpenFileCache;
using khz::detail::PathKind;

namespace {

void write_file(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

}  // namespace

TEST_CASE("static_fs in process: statuses and headers") {
  khz::test::TempDir dir;
  write_file(dir.path + "/a.txt", "0123456789");
  ::mkdir((dir.path + "/d").c_str(), 0755);
  khz::Engine engine;
  engine.static_fs("/s", dir.path, {.cache_control = "no-cache"});
  engine.get("/one", [&dir](khz::RequestContext& c) { c.file(dir.path + "/a.txt"); });

  khz::Response r = perform_request(engine, "GET", "/s/a.txt");
  CHECK(r.status() == 200);
  CHECK(r.body() == "0123456789");
  CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
  CHECK(r.header("Cache-Control") == "no-cache");
  CHECK(r.content_length() == 10);
  const std::string etag(r.header("ETag"));

  r = perform_request(engine, "HEAD", "/s/a.txt");
  CHECK(r.status() == 200);
  CHECK(r.body().empty());
  CHECK(r.header("ETag") == etag);

  r = perform_request(engine, "GET", "/s/a.txt", {{"Range", "bytes=2-4"}});
  CHECK(r.status() == 206);
  CHECK(r.body() == "234");
  CHECK(r.header("Content-Range") == "bytes 2-4/10");

  r = perform_request(engine, "GET", "/s/a.txt", {{"Range", "bytes=0-0,-1"}});
  CHECK(r.status() == 206);
  CHECK(r.body().find("Content-Range: bytes 9-9/10\r\n\r\n9\r\n--") != std::string::npos);

  CHECK(perform_request(engine, "GET", "/s/a.txt", {{"Range", "bytes=10-"}}).status() == 416);
  CHECK(perform_request(engine, "GET", "/s/a.txt", {{"If-None-Match", etag}}).status() == 304);
  CHECK(perform_request(engine, "GET", "/s/a.txt", {{"If-Match", "\"nope\""}}).status() == 412);
  CHECK(perform_request(engine, "PUT", "/s/a.txt").status() == 405);
  CHECK(perform_request(engine, "GET", "/s/missing").status() == 404);
  CHECK(perform_request(engine, "GET", "/s/d").status() == 301);
  CHECK(perform_request(engine, "GET", "/s/d/").status() == 403);  // no index, no listing
  CHECK(perform_request(engine, "GET", "/s/%252e%252e/etc/passwd").status() == 404);
  r = perform_request(engine, "GET", "/one");
  CHECK(r.status() == 200);
  CHECK(r.body() == "0123456789");
  CHECK(perform_request(engine, "POST", "/one").status() == 404);  // only GET registered here
  // Precompressed siblings for ctx.file too.
  write_file(dir.path + "/a.txt.gz", "GZ");
  r = perform_request(engine, "GET", "/one", {{"Accept-Encoding", "gzip"}});
  CHECK(r.body() == "GZ");
  CHECK(r.header("Content-Encoding") == "gzip");
  CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
  CHECK(perform_request(engine, "GET", "/one").body() == "0123456789");

  CHECK_THROWS_AS(engine.static_fs("/x", dir.path + "/a.txt"), std::invalid_argument);
  CHECK_THROWS_AS(engine.static_fs("/y", dir.path + "/nope"), std::invalid_argument);
}

TEST_CASE("open-file cache: bounded, revalidated by stat, TTL, containment") {
  khz::test::TempDir dir;
  for (const char* name : {"a", "b", "c"}) write_file(dir.path + "/" + name, name);
  OpenFileCache cache;
  const CacheSettings two{2, std::chrono::milliseconds(0), {}, {}};

  auto a = cache.open(dir.path + "/a", two);
  REQUIRE(a.kind == PathKind::file);
  auto a_again = cache.open(dir.path + "/a", two);
  CHECK(a_again.file == a.file);  // a hit: the same open file
  (void)cache.open(dir.path + "/b", two);
  (void)cache.open(dir.path + "/c", two);
  CHECK(cache.size() == 2);  // the bound: "a" went
  CHECK(cache.open(dir.path + "/a", two).file != a.file);
  CHECK(a.file->fd >= 0);  // still open for whoever holds it

  // Replaced: a new file object; with a long TTL, the old one is trusted meanwhile.
  auto before = cache.open(dir.path + "/b", two);
  write_file(dir.path + "/b.new", "bbbb");
  REQUIRE(std::rename((dir.path + "/b.new").c_str(), (dir.path + "/b").c_str()) == 0);
  auto after = cache.open(dir.path + "/b", two);
  CHECK(after.file != before.file);
  CHECK(after.file->size == 4);
  const CacheSettings trusting{2, std::chrono::hours(1), {}, {}};
  auto trusted = cache.open(dir.path + "/b", trusting);
  write_file(dir.path + "/b.new", "bbbbbbbb");
  REQUIRE(std::rename((dir.path + "/b.new").c_str(), (dir.path + "/b").c_str()) == 0);
  CHECK(cache.open(dir.path + "/b", trusting).file == trusted.file);
  CHECK(cache.open(dir.path + "/b", two).file->size == 8);

  // Kinds
  CHECK(cache.open(dir.path + "/none", two).kind == PathKind::missing);
  CHECK(cache.open(dir.path, two).kind == PathKind::directory);
  REQUIRE(::mkfifo((dir.path + "/fifo").c_str(), 0600) == 0);
  CHECK(cache.open(dir.path + "/fifo", two).kind == PathKind::missing);  // not waited on, not served
  // Containment: a link out of the root is refused when a root is given.
  ::mkdir((dir.path + "/root").c_str(), 0755);
  REQUIRE(::symlink("../a", (dir.path + "/root/out").c_str()) == 0);
  const std::string root = dir.path + "/root";
  char real[4096];
  REQUIRE(::realpath(root.c_str(), real) != nullptr);
  const CacheSettings contained{2, std::chrono::milliseconds(0), real, {}};
  CHECK(cache.open(root + "/out", contained).kind == PathKind::refused);
  CHECK(cache.open(root + "/out", two).kind == PathKind::file);
}
