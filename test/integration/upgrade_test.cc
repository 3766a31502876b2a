// SPDX-License-Identifier: Apache-2.0
// Upgrade: after 101 Switching Protocols the handler owns the raw connection.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <string>

using khz::test::header_of;
using khz::test::RawClient;
using khz::test::status_of;

namespace {

// The upgraded protocol: echo lines back in upper case until "bye\n".
khz::Task<> shout(khz::transport::Connection& conn) {
  for (;;) {
    auto& in = conn.input();
    std::string_view line;
    std::size_t eol = std::string::npos;
    while ((eol = std::string(in.peek(in.size())).find('\n')) == std::string::npos) {
      if (auto ec = co_await conn.fill(in.size() + 1)) co_return;
    }
    std::string text(in.peek(eol + 1));
    in.skip(eol + 1);
    in.release();
    if (text == "bye\n") co_return;
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    conn.output().append(text);
    if (auto ec = co_await conn.flush()) co_return;
  }
}

}  // namespace

TEST_CASE("upgrade: a 101 hands the connection to the handler") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      khz::test::TestServer ts(transport);
      ts.server.get("/shout", [](khz::RequestContext& c) {
        if (c.header("Upgrade") != "shout") return c.string(426, "upgrade to shout\n");
        c.upgrade("shout", &shout);
      });
      ts.start();

      RawClient c(ts.port());
      // The first line of the new protocol follows the request at once: it must not be lost.
      c.send("GET /shout HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\nhello\n");
      std::string head = c.read_response(true);
      REQUIRE(status_of(head) == 101);
      REQUIRE(header_of(head, "Upgrade") == "shout");
      REQUIRE(header_of(head, "Connection") == "Upgrade");
      REQUIRE(header_of(head, "Content-Length").empty());
      c.send("world\nbye\n");
      REQUIRE(c.read_until_close() == "HELLO\nWORLD\n");

      RawClient plain(ts.port());  // without the Upgrade header the route answers normally
      plain.send("GET /shout HTTP/1.1\r\nHost: t\r\n\r\n");
      REQUIRE(status_of(plain.read_response()) == 426);
    }
  }
}
