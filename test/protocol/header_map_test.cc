// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/header_map.h>
#include <khz/protocol/request.h>

#include <catch2/catch.hpp>

#include <memory>
#include <string>

TEST_CASE("HeaderMap lookup is case-insensitive and ordered") {
  khz::HeaderMap h;
  h.add("Content-Type", "text/plain");
  h.add("Set-Cookie", "a=1");
  h.add("set-cookie", "b=2");
  REQUIRE(h.get("content-type") == "text/plain");
  REQUIRE(h.get("CONTENT-TYPE") == "text/plain");
  REQUIRE(h.count("Set-Cookie") == 2);
  REQUIRE(h.get("Set-Cookie") == "a=1");
  REQUIRE(h.get("missing").empty());
  REQUIRE_FALSE(h.contains("missing"));
  h.set("SET-COOKIE", "c=3");
  REQUIRE(h.count("set-cookie") == 1);
  REQUIRE(h.get("set-cookie") == "c=3");
  REQUIRE(h.remove("content-type") == 1);
  REQUIRE(h.size() == 1);
}

TEST_CASE("HeaderMap copies own their bytes") {
  auto name = std::make_unique<std::string>("X-Ref");
  auto value = std::make_unique<std::string>("borrowed");
  khz::HeaderMap h;
  h.add_ref(*name, *value);
  khz::HeaderMap copy = h;
  name->assign("#####");
  value->assign("########");
  REQUIRE(copy.get("x-ref") == "borrowed");
}

TEST_CASE("HeaderMap::set_ref replaces every field of the name and links, not copies") {
  std::string value = "one";
  khz::HeaderMap h;
  h.add("X-Policy", "a");
  h.add("Other", "b");
  h.add("x-policy", "c");
  h.set_ref("X-Policy", value);
  REQUIRE(h.count("x-policy") == 1);
  REQUIRE(h.size() == 2);
  value[0] = 'O';  // linked: the map sees the caller's bytes
  REQUIRE(h.get("X-POLICY") == "One");
  khz::HeaderMap empty;
  empty.set_ref("A", value);
  REQUIRE(empty.get("a") == "One");
}

TEST_CASE("has_token reads comma-separated lists") {
  REQUIRE(khz::has_token("keep-alive, Upgrade", "upgrade"));
  REQUIRE(khz::has_token("close", "close"));
  REQUIRE(khz::has_token(" a ,\tclose ", "close"));
  REQUIRE_FALSE(khz::has_token("closed", "close"));
  REQUIRE_FALSE(khz::has_token("", "close"));
}

TEST_CASE("Request target splits into path and query") {
  khz::Request r;
  r.set_target("/a/b?x=1&y");
  REQUIRE(r.path() == "/a/b");
  REQUIRE(r.query() == "x=1&y");
  r.set_target("*");
  REQUIRE(r.path() == "/");
  r.set_target("https://h.example/p?q");
  REQUIRE(r.target_host() == "h.example");
  REQUIRE(r.path() == "/p");
  REQUIRE(r.query() == "q");
  khz::Request copy = r;
  r.clear();
  REQUIRE(copy.path() == "/p");
  REQUIRE(r.path() == "/");
}
