// SPDX-License-Identifier: Apache-2.0
// Where a Server listens, on every transport: Unix domain sockets (curl --unix-socket and
// khz's own client, HTTP/1.1 and h2c).
#include <khz/app/client.h>
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;
using khz::test::body_of;
using khz::test::RawClient;
using khz::test::run_command;
using khz::test::TempDir;

namespace {

// GET /who answers "<peer address> <HTTP version>".
void add_who(khz::Server& server) {
  server.get("/who", [](khz::RequestContext& c) {
    c.string(200, std::string(c.peer_address()) + " " + std::string(khz::to_string(c.request().version())));
  });
}

// A client whose requests for http://api/... go to `unix_address`.
khz::ClientOptions over_unix(const std::string& transport, const std::string& unix_address, bool h2c) {
  auto resolver = std::make_shared<khz::StaticResolver>();
  resolver->add("api", {{.host = unix_address}});
  return {.dial_timeout = 2s,
          .response_header_timeout = 3s,
          .proxy_from_environment = false,
          .http2_prior_knowledge = h2c,
          .resolver = resolver,
          .transport = transport};
}

}  // namespace

TEST_CASE("server on a Unix socket path: HTTP/1.1 and h2c through curl and khz's client; file mode 0660; gone at shutdown") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      TempDir dir;
      const std::string path = dir.path + "/api.sock";
      khz::Server server({.address = "unix:" + path, .transport = transport, .loops = 2});
      add_who(server);
      auto port = server.start();
      REQUIRE(port.ok());
      REQUIRE(*port == 0);
      REQUIRE(server.listen_address() == "unix:" + path);
      struct stat st {};
      REQUIRE(::stat(path.c_str(), &st) == 0);
      REQUIRE((st.st_mode & 07777) == 0660);  // the default unix_socket_mode

      const std::string curl = "curl -s --max-time 5 --unix-socket " + path + " ";
      REQUIRE(run_command(curl + "http://api/who").output == "unix: HTTP/1.1");
      REQUIRE(run_command(curl + "--http2-prior-knowledge http://api/who").output == "unix: HTTP/2");
      REQUIRE(run_command(curl + "--http2 http://api/who").output == "unix: HTTP/2");  // Upgrade: h2c

      khz::BlockingClient h1(over_unix(transport, "unix:" + path, false));
      auto r1 = h1.get("http://api/who");
      REQUIRE(r1.ok());
      REQUIRE(r1->status() == 200);
      REQUIRE(r1->body() == "unix: HTTP/1.1");
      khz::BlockingClient h2(over_unix(transport, "unix:" + path, true));
      auto r2 = h2.get("http://api/who");
      REQUIRE(r2.ok());
      REQUIRE(r2->body() == "unix: HTTP/2");

      server.shutdown();
      REQUIRE(::access(path.c_str(), F_OK) != 0);
    }
  }
}

TEST_CASE("server on an abstract Unix socket: curl --abstract-unix-socket and khz's client") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      const std::string name = "khz-it-" + std::to_string(::getpid()) + "-" + transport;
      khz::Server server({.address = "unix:@" + name, .transport = transport, .loops = 1});
      add_who(server);
      REQUIRE(server.start().ok());
      REQUIRE(server.listen_address() == "unix:@" + name);
      REQUIRE(run_command("curl -s --max-time 5 --abstract-unix-socket " + name + " http://api/who").output ==
              "unix: HTTP/1.1");
      khz::BlockingClient client(over_unix(transport, "unix:@" + name, false));
      auto r = client.get("http://api/who");
      REQUIRE(r.ok());
      REQUIRE(r->body() == "unix: HTTP/1.1");
      RawClient raw("unix:@" + name);
      raw.send("GET /who HTTP/1.1\r\nHost: api\r\n\r\n");
      REQUIRE(body_of(raw.read_response()) == "unix: HTTP/1.1");
    }
  }
}

TEST_CASE("a malformed Unix socket address is refused at construction") {
  REQUIRE_THROWS_AS(khz::Server({.address = "unix:"}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::Server({.address = "unix:/" + std::string(200, 'x')}), std::invalid_argument);
}
