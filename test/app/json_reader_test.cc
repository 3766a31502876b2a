// SPDX-License-Identifier: Apache-2.0
// The strict JSON reader (JsonDocument, JsonView) and Json::parse: what is accepted, what is
// refused and why, and the tree it builds.
#include <khz/app/json.h>
#include <khz/app/json_view.h>

#include <catch2/catch.hpp>

#include <string>

namespace {

std::string parse_error(std::string_view text, khz::JsonOptions options = {}) {
  khz::JsonDocument doc;
  return doc.parse(text, options).message;
}

}  // namespace

TEST_CASE("JsonView reads every kind and walks arrays and objects in order") {
  khz::JsonDocument doc;
  REQUIRE_FALSE(doc.parse(R"({"s":"a\"b\u00e9","i":-7,"u":18446744073709551615,"d":1.5e3,"t":true,"f":false,
                              "n":null,"a":[1,[2,3],{"k":4}],"o":{}})"));
  khz::JsonView root = doc.root();
  REQUIRE(root.kind() == khz::JsonKind::object);
  CHECK(root.size() == 9);
  CHECK(root.find("s").string() == "a\"b\xc3\xa9");
  CHECK(root.find("i").kind() == khz::JsonKind::int64);
  CHECK(root.find("i").int64() == -7);
  CHECK(root.find("u").kind() == khz::JsonKind::uint64);
  CHECK(root.find("u").uint64() == 18446744073709551615ull);
  CHECK(root.find("d").number() == 1500.0);
  CHECK(root.find("t").boolean());
  CHECK_FALSE(root.find("f").boolean());
  CHECK(root.find("n").found());
  CHECK(root.find("n").is_null());
  CHECK_FALSE(root.find("missing").found());
  khz::JsonView a = root.find("a");
  REQUIRE(a.kind() == khz::JsonKind::array);
  CHECK(a.size() == 3);
  std::string seen;
  for (khz::JsonView e : a.elements()) seen += std::string(khz::describe(e.kind())) + ";";
  CHECK(seen == "an integer;an array;an object;");
  std::string keys;
  for (auto [k, v] : root.members()) keys += std::string(k) + ",";
  CHECK(keys == "s,i,u,d,t,f,n,a,o,");
  CHECK(root.find("o").size() == 0);
  CHECK(root.find("o").members().begin() == root.find("o").members().end());
}

TEST_CASE("The reader refuses what RFC 8259 does not allow, with the reason") {
  struct Case {
    const char* text;
    const char* reason;  // a piece of the message
  };
  const Case cases[] = {
      {"", "empty"},
      {"{", "malformed JSON"},
      {R"({"a":1,})", "malformed JSON"},            // trailing comma
      {R"({'a':1})", "malformed JSON"},             // single quotes
      {R"({"a":01})", "malformed JSON"},            // leading zero
      {R"({"a":NaN})", "malformed JSON"},
      {R"(// c
{})", "malformed JSON"},                           // comments
      {R"({"a":1} x)", "malformed JSON"},           // trailing bytes
      {"{\"a\":\"\xff\"}", "UTF-8"},                // bad UTF-8
      {"{\"a\":\"\xed\xa0\x80\"}", "UTF-8"},        // an encoded surrogate
      {R"({"a":"\ud800"})", "malformed JSON"},      // a lone surrogate escape
      {R"({"a":1e400})", "does not fit"},           // beyond a double
      {R"({"a":18446744073709551616})", "does not fit"},  // 2^64
      {R"({"a":-9223372036854775809})", "does not fit"},  // below int64
      {R"({"a":1,"a":2})", "duplicate key"},
      {R"({"o":{"k":1,"k":1}})", "duplicate key"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    std::string error = parse_error(c.text);
    CHECK(error.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("Depth is limited, without recursion, and duplicate keys may be kept") {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  CHECK(parse_error(deep).find("nested deeper than 64") != std::string::npos);
  khz::JsonOptions options;
  options.max_depth = 3;
  CHECK(parse_error("[[[1]]]", options).empty());
  CHECK_FALSE(parse_error("[[[[1]]]]", options).empty());
  options.duplicate_keys = khz::JsonOptions::DuplicateKeys::keep;
  CHECK(parse_error(R"({"a":1,"a":2})", options).empty());
}

TEST_CASE("Duplicate keys are found in large objects too") {
  std::string big = "{";
  for (int i = 0; i < 5000; ++i) big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  std::string unique = big;
  unique.back() = '}';
  CHECK(parse_error(unique).empty());
  big += "\"k4321\":0}";
  CHECK(parse_error(big).find("duplicate key") != std::string::npos);
}

TEST_CASE("The duplicate-key check walks any depth the options allow, without recursion") {
  // 300,000 objects in one another: a check that recursed per level would need tens of MiB of
  // stack. The last holds a duplicate; a copy without it passes.
  constexpr int kDepth = 300000;
  std::string deep;
  for (int i = 0; i < kDepth; ++i) deep += R"({"a":)";
  std::string unique = deep + "1" + std::string(kDepth, '}');
  deep += R"({"k":1,"k":2})" + std::string(kDepth, '}');
  khz::JsonOptions options;
  options.max_depth = kDepth + 1;
  CHECK(parse_error(unique, options).empty());
  CHECK(parse_error(deep, options).find("duplicate key") != std::string::npos);
  // Numbers (two words on the tape) and strings between the objects do not confuse the walk.
  CHECK(parse_error(R"([1.5,-2,18446744073709551615,"x",{"a":[{"b":1,"c":{"b":2}}],"b":{"a":1}}])").empty());
  CHECK(parse_error(R"([1.5,-2,18446744073709551615,"x",{"a":[{"b":1,"c":{"d":2,"d":3}}]}])").find("duplicate key") !=
        std::string::npos);
}

TEST_CASE("One document parses again and again, each view reading the latest text") {
  khz::JsonDocument doc;
  for (int i = 0; i < 100; ++i) {
    std::string text = R"({"n":)" + std::to_string(i) + R"(,"pad":")" + std::string(static_cast<std::size_t>(i) * 37, 'x') + "\"}";
    REQUIRE_FALSE(doc.parse(text));
    CHECK(doc.root().find("n").int64() == i);
    CHECK(doc.root().find("pad").string().size() == static_cast<std::size_t>(i) * 37);
  }
  REQUIRE(doc.parse("[").message.size() > 0);
  CHECK_FALSE(doc.root().found());
}

TEST_CASE("Json::parse builds an owned tree that dumps back to the same text") {
  khz::JsonError error;
  auto j = khz::Json::parse(R"({"user":{"id":7,"tags":["a","b"],"score":2.5,"ok":true,"none":null}})", &error);
  REQUIRE(j);
  CHECK(error.message.empty());
  const khz::Json* user = j->find("user");
  REQUIRE(user != nullptr);
  CHECK(user->find("id")->int64() == 7);
  CHECK(user->find("score")->number() == 2.5);
  CHECK(*user->find("ok")->boolean());
  CHECK(user->find("none")->is_null());
  CHECK(user->find("tags")->array()->size() == 2);
  CHECK(*user->find("tags")->array()->at(1).string() == "b");
  CHECK(j->dump() == R"({"user":{"id":7,"tags":["a","b"],"score":2.5,"ok":true,"none":null}})");
  CHECK(*j == *khz::Json::parse(j->dump()));
  CHECK_FALSE(khz::Json::parse("[1,]", &error));
  CHECK(error.message.find("malformed JSON") != std::string::npos);
}

TEST_CASE("Doubles beyond the 64-bit integers dump in a form the reader takes back") {
  for (double v : {-92233720368547758080.5, 1e19, 1.8446744073709552e19, 1e300, -1e22}) {
    std::string text = khz::Json(v).dump();
    INFO(text);
    auto back = khz::Json::parse(text);
    REQUIRE(back);
    CHECK(back->number() == v);
  }
  CHECK(khz::Json(-0.0).dump() == "-0.0");  // "-0" would read back as the integer 0
  CHECK(khz::Json::parse("-0.0")->dump() == "-0.0");
  CHECK(khz::Json(123456789012345.0).dump() == "123456789012345");  // smaller ones keep their shortest form
}
