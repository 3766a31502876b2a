// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/header_map.h>
#include <khz/protocol/request.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

TEST_CASE("is_token: one or more tchar (RFC 9110 §5.6.2)") {
  for (const char* t : {"GET", "M-SEARCH", "X_CUSTOM.METHOD~1", "!#$%&'*+-.^_`|~09azAZ"}) {
    INFO(t);
    REQUIRE(khz::is_token(t));
  }
  for (const char* t : {"", "GE T", "GET\r\n", "a:b", "(x)", "a/b", "\x80"}) {
    INFO(t);
    REQUIRE_FALSE(khz::is_token(t));
  }
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

TEST_CASE("HeaderMap answers as a plain list would, through sets, removes, copies and clears") {
  // A model: the list scanned with a byte-wise case-insensitive compare. The map skips scans by
  // a bit per name class and compares names a word at a time; neither may change an answer.
  // The names share lengths and first and last letters (so bits collide), differ only in case,
  // or differ only in bytes that are 0x20 apart without being letters ('@' and '`', '[' and '{').
  const std::vector<std::string> names = {
      "Vary", "VARY", "vary", "Very", "Date", "X-Id", "x-id", "X-Request-ID", "x-request-id", "X-Request-IE",
      "Content-Type", "content-type", "Content-Tyqe", "A@b", "A`b", "A[b", "A{b", "a@B", "Set-Cookie",
      "Cache-Control", "Content-Range", "X-Long-Field-Name-Of-Thirty-Two", "x-long-field-name-of-thirty-two",
      "X-Long-Field-Name-Of-Thirty-Twp", "", "Z", "z"};
  const auto same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
      if (fold(a[i]) != fold(b[i])) return false;
    }
    return true;
  };
  std::vector<std::pair<std::string, std::string>> model;
  khz::HeaderMap map;
  std::uint64_t seed = 12345;
  auto next = [&seed](std::uint64_t n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % n;
  };
  for (int step = 0; step < 6000; ++step) {
    const std::string& name = names[next(names.size())];
    const std::string value = "v" + std::to_string(step);
    switch (next(10)) {
      case 0: case 1: case 2:
        map.add(name, value);
        model.emplace_back(name, value);
        break;
      case 3: case 4: {
        map.set(name, value);
        std::erase_if(model, [&](const auto& f) { return same(f.first, name); });
        model.emplace_back(name, value);
        break;
      }
      case 5: {
        const auto n = std::erase_if(model, [&](const auto& f) { return same(f.first, name); });
        REQUIRE(map.remove(name) == n);
        break;
      }
      case 6:
        if (next(20) == 0) {
          map.clear();
          model.clear();
        } else if (next(2) == 0) {
          khz::HeaderMap copy = map;
          map = std::move(copy);
        } else {
          khz::HeaderMap moved = std::move(map);
          map = moved;
        }
        break;
      default:
        break;
    }
    for (const std::string& probe : names) {
      std::string_view want;
      std::size_t count = 0;
      for (const auto& f : model) {
        if (!same(f.first, probe)) continue;
        if (count++ == 0) want = f.second;
      }
      INFO("step " << step << ", probe \"" << probe << "\"");
      REQUIRE(map.get(probe) == want);
      REQUIRE(map.count(probe) == count);
      REQUIRE(map.contains(probe) == (count != 0));
    }
    REQUIRE(map.size() == model.size());
  }
}

TEST_CASE("iequals folds ASCII letters only, at every length and position") {
  for (std::size_t size : {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 23, 24, 25, 33}) {
    for (std::size_t at = 0; at < size; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string a(size, 'k');
        std::string c = a;
        a[at] = static_cast<char>(b);
        for (int d : {b ^ 0x20, b, b + 1}) {
          c[at] = static_cast<char>(d);
          const bool letters = (b | 0x20) >= 'a' && (b | 0x20) <= 'z';
          const bool want = d == b || (d == (b ^ 0x20) && letters);
          INFO("size " << size << ", byte " << b << " against " << d << " at " << at);
          REQUIRE(khz::iequals(a, c) == want);
        }
      }
    }
  }
}
