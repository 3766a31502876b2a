// SPDX-License-Identifier: Apache-2.0
// <khz/protocol/base64.h>: RFC 4648's test vectors both ways, base64url, and what the strict
// decoders refuse (OpenSSL's own decoder skips whitespace and takes '=' loosely).
#include <khz/protocol/base64.h>

#include <catch2/catch.hpp>

#include <string>

using khz::protocol::base64_decode;
using khz::protocol::base64_encode;
using khz::protocol::base64url_decode;
using khz::protocol::base64url_encode;

TEST_CASE("base64: RFC 4648 §10 vectors encode and decode") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, coded] : vectors) {
    CHECK(base64_encode(plain) == coded);
    auto back = base64_decode(coded, true);
    REQUIRE(back);
    CHECK(*back == plain);
  }
}

TEST_CASE("base64url: unpadded, '-' and '_', and every byte value round trips") {
  CHECK(base64url_encode("\xfb\xff\xbf") == "-_-_");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    const std::string bytes = all.substr(0, n);
    auto url = base64url_decode(base64url_encode(bytes));
    REQUIRE(url);
    CHECK(*url == bytes);
    auto standard = base64_decode(base64_encode(bytes), true);
    REQUIRE(standard);
    CHECK(*standard == bytes);
  }
}

TEST_CASE("base64: the strict decoders refuse what is not exactly the form") {
  // Padded form: length, padding place and count, characters, whitespace.
  CHECK_FALSE(base64_decode("Zg="));
  CHECK_FALSE(base64_decode("Zg"));
  CHECK_FALSE(base64_decode("Z==="));
  CHECK_FALSE(base64_decode("===="));
  CHECK_FALSE(base64_decode("Zg=a"));
  CHECK_FALSE(base64_decode("Zm 9v"));
  CHECK_FALSE(base64_decode("Zm9v\n"));
  CHECK_FALSE(base64_decode("Zm-_"));
  // Unused bits in the last character: lenient by default, refused when canonical.
  REQUIRE(base64_decode("Zh=="));
  CHECK(*base64_decode("Zh==") == "f");
  CHECK_FALSE(base64_decode("Zh==", true));
  CHECK_FALSE(base64_decode("Zm9=", true));
  // Unpadded url form: no '=', no 4k+1 length, no standard alphabet, canonical by default.
  CHECK_FALSE(base64url_decode("Zg=="));
  CHECK_FALSE(base64url_decode("Zm9vY"));
  CHECK_FALSE(base64url_decode("+/+/"));
  CHECK_FALSE(base64url_decode("Zh"));
  REQUIRE(base64url_decode("Zh", false));
  CHECK(*base64url_decode("Zh", false) == "f");
  CHECK(base64url_decode("")->empty());
}
