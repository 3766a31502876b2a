// SPDX-License-Identifier: Apache-2.0
// Where every backend listens: Unix domain sockets (paths and abstract names, the socket
// file's mode, stale files, removal at shutdown, addresses) and dialling them.
#include <khz/transport/dial.h>
#include <khz/transport/error.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using khz::test::RawClient;
using khz::test::TempDir;

namespace {

std::mutex seen_mutex;
std::vector<std::string> seen_peers;
std::vector<std::string> seen_locals;

// Notes the connection's addresses, then echoes until the peer closes.
khz::Task<> echo_noting_addresses(khz::transport::Connection& conn) {
  {
    std::lock_guard lock(seen_mutex);
    seen_peers.push_back(conn.peer_address());
    seen_locals.push_back(conn.local_address());
  }
  conn.set_read_timeout(3s);
  for (;;) {
    if (co_await conn.fill(1)) co_return;
    conn.input().for_each_segment([&](std::string_view s) { conn.output().append(s); });
    conn.input().skip(conn.input().size());
    conn.input().release();
    if (co_await conn.flush()) co_return;
  }
}

void forget_addresses() {
  std::lock_guard lock(seen_mutex);
  seen_peers.clear();
  seen_locals.clear();
}

std::string echo_through(const std::string& unix_address, const std::string& text) {
  RawClient c(unix_address);
  c.send(text);
  c.shutdown_write();
  return c.read_until_close();
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// A socket file nobody listens on, as a server killed with SIGKILL leaves it.
void make_stale_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
}

}  // namespace

TEST_CASE("transport: a Unix domain socket path: served by every loop, its addresses, the file's mode, removed at shutdown") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      TempDir dir;
      const std::string path = dir.path + "/khz.sock";
      const std::string address = "unix:" + path;
      forget_addresses();
      auto t = khz::transport::make_transporter(name, {.address = address, .loops = 3, .unix_socket_mode = 0604});
      auto port = t->start(&echo_noting_addresses);
      REQUIRE(port.ok());
      REQUIRE(*port == 0);
      REQUIRE(t->listen_address() == address);
      struct stat st {};
      REQUIRE(::stat(path.c_str(), &st) == 0);
      REQUIRE(S_ISSOCK(st.st_mode));
      REQUIRE((st.st_mode & 07777) == 0604);  // the option's bits, whatever the umask

      // Many at once: every loop watches the one socket; each connection is taken by one.
      std::vector<std::unique_ptr<RawClient>> clients;
      for (int i = 0; i < 40; ++i) clients.push_back(std::make_unique<RawClient>(address));
      for (int i = 0; i < 40; ++i) clients[i]->send("message " + std::to_string(i));
      for (int i = 0; i < 40; ++i) {
        clients[i]->shutdown_write();
        REQUIRE(clients[i]->read_until_close() == "message " + std::to_string(i));
      }
      {
        std::lock_guard lock(seen_mutex);
        REQUIRE(seen_peers.size() == 40);
        for (const auto& p : seen_peers) REQUIRE(p == "unix:");  // an unnamed client socket
        for (const auto& l : seen_locals) REQUIRE(l == address);
      }
      t->shutdown(1s);
      REQUIRE_FALSE(exists(path));
      REQUIRE_THROWS(RawClient(address));
    }
  }
}

TEST_CASE("transport: a stale Unix socket file is replaced; a live socket or another file is not, and neither is removed") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      TempDir dir;
      const std::string path = dir.path + "/khz.sock";
      make_stale_socket(path);
      REQUIRE(exists(path));
      auto t = khz::transport::make_transporter(name, {.address = "unix:" + path, .loops = 1});
      REQUIRE(t->start(&echo_noting_addresses).ok());
      REQUIRE(echo_through("unix:" + path, "over the stale file") == "over the stale file");

      {  // a second server on a live socket fails and leaves the first one's file in place
        auto second = khz::transport::make_transporter(name, {.address = "unix:" + path, .loops = 1});
        auto refused = second->start(&echo_noting_addresses);
        REQUIRE_FALSE(refused.ok());
        REQUIRE(refused.error() == std::errc::address_in_use);
      }
      REQUIRE(echo_through("unix:" + path, "still mine") == "still mine");

      const std::string plain = dir.path + "/notes.txt";
      std::ofstream(plain) << "keep me";
      auto third = khz::transport::make_transporter(name, {.address = "unix:" + plain, .loops = 1});
      auto not_a_socket = third->start(&echo_noting_addresses);
      REQUIRE_FALSE(not_a_socket.ok());
      REQUIRE(not_a_socket.error() == std::errc::address_in_use);
      third.reset();
      std::string kept;
      std::getline(std::ifstream(plain), kept);
      REQUIRE(kept == "keep me");

      // A newer server took the path over (it removed the file and bound its own): shutting
      // the old one down must leave the new file alone.
      REQUIRE(::unlink(path.c_str()) == 0);
      auto newer = khz::transport::make_transporter(name, {.address = "unix:" + path, .loops = 1});
      REQUIRE(newer->start(&echo_noting_addresses).ok());
      t->shutdown(1s);
      REQUIRE(exists(path));
      REQUIRE(echo_through("unix:" + path, "the newer one") == "the newer one");
      newer->shutdown(1s);
      REQUIRE_FALSE(exists(path));
    }
  }
}

TEST_CASE("transport: an abstract Unix socket (unix:@name) has no file and says its name") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      const std::string address = "unix:@khz-test-" + std::to_string(::getpid()) + "-" + name;
      forget_addresses();
      auto t = khz::transport::make_transporter(name, {.address = address, .loops = 2});
      REQUIRE(t->start(&echo_noting_addresses).ok());
      REQUIRE(t->listen_address() == address);
      REQUIRE(echo_through(address, "abstract") == "abstract");
      {
        std::lock_guard lock(seen_mutex);
        REQUIRE(seen_locals == std::vector<std::string>{address});
      }
      auto second = khz::transport::make_transporter(name, {.address = address, .loops = 1});
      REQUIRE_FALSE(second->start(&echo_noting_addresses).ok());  // taken: EADDRINUSE
      t->shutdown(1s);
      REQUIRE_THROWS(RawClient(address));
    }
  }
}

TEST_CASE("transport: Unix socket addresses: what is accepted and refused") {
  REQUIRE(khz::transport::unix_socket_path("unix:/run/app.sock") == "/run/app.sock");
  REQUIRE(khz::transport::unix_socket_path("unix:relative.sock") == "relative.sock");
  REQUIRE(khz::transport::unix_socket_path("unix:@name") == "@name");
  REQUIRE(khz::transport::unix_socket_path("127.0.0.1:80").empty());
  REQUIRE(khz::transport::unix_socket_path("unixy:80").empty());
  REQUIRE_THROWS_AS(khz::transport::unix_socket_path("unix:"), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::transport::unix_socket_path("unix:@"), std::invalid_argument);
  REQUIRE(khz::transport::unix_socket_path("unix:/" + std::string(106, 'a')).size() == 107);
  REQUIRE_THROWS_AS(khz::transport::unix_socket_path("unix:/" + std::string(107, 'a')), std::invalid_argument);
  // A directory that is not there: start fails with the OS's reason.
  for (const auto& name : khz::test::transports()) {
    auto t = khz::transport::make_transporter(name, {.address = "unix:/nonexistent-khz-dir/s.sock", .loops = 1});
    auto r = t->start(&echo_noting_addresses);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error() == std::errc::no_such_file_or_directory);
  }
}

namespace {
khz::Task<std::string> unix_round_trip(std::string address, std::string text) {
  auto conn = co_await khz::transport::dial(address, 0, 2000ms);
  if (!conn) co_return "error: " + conn.error().message();
  khz::transport::Connection& c = **conn;
  if (c.peer_address() != address) co_return "peer address " + c.peer_address();
  c.output().append(text);
  if (auto ec = co_await c.flush()) co_return "error: " + ec.message();
  c.set_read_timeout(2s);
  if (auto ec = co_await c.fill(text.size())) co_return "error: " + ec.message();
  co_return std::string(c.input().peek(text.size()));
}
}  // namespace

TEST_CASE("dial: a Unix domain socket, by path and by abstract name, on every backend") {
  for (const auto& backend : khz::test::transports()) {
    DYNAMIC_SECTION("backend " << backend) {
      TempDir dir;
      const std::string path_address = "unix:" + dir.path + "/dial.sock";
      const std::string abstract_address = "unix:@khz-dial-" + std::to_string(::getpid()) + "-" + backend;
      auto by_path = khz::transport::make_transporter(backend, {.address = path_address, .loops = 1});
      auto by_name = khz::transport::make_transporter(backend, {.address = abstract_address, .loops = 1});
      REQUIRE(by_path->start(&echo_noting_addresses).ok());
      REQUIRE(by_name->start(&echo_noting_addresses).ok());
      auto loop = khz::transport::ClientLoop::make(backend);
      std::string a, b, missing, malformed;
      loop->run([&]() -> khz::Task<> {
        a = co_await unix_round_trip(path_address, "by path");
        b = co_await unix_round_trip(abstract_address, "by name");
        missing = co_await unix_round_trip("unix:" + dir.path + "/nobody.sock", "x");
        malformed = co_await unix_round_trip("unix:", "x");
      });
      REQUIRE(a == "by path");
      REQUIRE(b == "by name");
      REQUIRE(missing == "error: " + std::make_error_code(std::errc::no_such_file_or_directory).message());
      REQUIRE(malformed == "error: " + std::make_error_code(std::errc::invalid_argument).message());
      by_path->shutdown(1s);
      by_name->shutdown(1s);
    }
  }
}
