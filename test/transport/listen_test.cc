// SPDX-License-Identifier: Apache-2.0
// Where every backend listens: Unix domain sockets (paths and abstract names, the socket
// file's mode, stale files, removal at shutdown, addresses) and dialling them; listening
// sockets handed in (listen_fd) and the socket activation environment.
#include <khz/transport/dial.h>
#include <khz/transport/error.h>
#include <khz/transport/listen.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include "listen_socket.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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

namespace {

// A TCP socket bound to 127.0.0.1:0 and, if asked, listening; its port in `port`.
int bound_tcp_socket(std::uint16_t& port, bool listening) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  if (listening) REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST_CASE("transport: a listening socket handed in (listen_fd) is served by every loop; the caller's fd stays the caller's") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name << ", TCP bound by the caller, not listening yet") {
      std::uint16_t bound_port = 0;
      int fd = bound_tcp_socket(bound_port, false);
      auto t = khz::transport::make_transporter(name, {.address = "ignored:1", .loops = 3, .listen_fd = fd});
      auto port = t->start(&echo_noting_addresses);
      REQUIRE(port.ok());
      REQUIRE(*port == bound_port);
      REQUIRE(t->listen_address() == "127.0.0.1:" + std::to_string(bound_port));
      std::vector<std::unique_ptr<RawClient>> clients;
      for (int i = 0; i < 40; ++i) clients.push_back(std::make_unique<RawClient>(bound_port));
      for (int i = 0; i < 40; ++i) {
        clients[i]->send("message " + std::to_string(i));
        clients[i]->shutdown_write();
      }
      for (int i = 0; i < 40; ++i) REQUIRE(clients[i]->read_until_close() == "message " + std::to_string(i));
      t->shutdown(1s);
      REQUIRE(is_open(fd));  // the transporter closed its duplicate only
      REQUIRE(::close(fd) == 0);
    }
    DYNAMIC_SECTION("transport " << name << ", a Unix socket made by the caller") {
      TempDir dir;
      const std::string path = dir.path + "/made-by-caller.sock";
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, path.data(), path.size());
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
      REQUIRE(::listen(fd, 16) == 0);
      forget_addresses();
      auto t = khz::transport::make_transporter(name, {.loops = 2, .listen_fd = fd});
      auto port = t->start(&echo_noting_addresses);
      REQUIRE(port.ok());
      REQUIRE(*port == 0);
      REQUIRE(t->listen_address() == "unix:" + path);
      REQUIRE(echo_through("unix:" + path, "handed in") == "handed in");
      t->shutdown(1s);
      REQUIRE(exists(path));  // not the transporter's file to remove
      REQUIRE(is_open(fd));
      ::close(fd);
    }
  }
}

TEST_CASE("transport: a listen_fd that is not a stream socket fails to start") {
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      int pipe_fds[2];
      REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
      int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      auto started = [&](int fd) {
        auto t = khz::transport::make_transporter(name, {.loops = 1, .listen_fd = fd});
        auto r = t->start(&echo_noting_addresses);
        return r.ok() ? std::error_code() : r.error();
      };
      REQUIRE(started(pipe_fds[0]) == std::errc::not_a_socket);
      REQUIRE(started(udp) == std::errc::wrong_protocol_type);
      REQUIRE(started(1000) == std::errc::bad_file_descriptor);  // nothing open there
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      ::close(udp);
    }
  }
}

TEST_CASE("transport: open_listen_socket gives the caller a listening socket and leaves its file alone") {
  TempDir dir;
  auto tcp = khz::transport::open_listen_socket("127.0.0.1:0");
  REQUIRE(tcp.ok());
  REQUIRE((::fcntl(*tcp, F_GETFD) & FD_CLOEXEC) != 0);
  int listening = 0;
  socklen_t len = sizeof listening;
  REQUIRE(::getsockopt(*tcp, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0);
  REQUIRE(listening == 1);
  ::close(*tcp);
  const std::string path = dir.path + "/kept.sock";
  auto unix_fd = khz::transport::open_listen_socket("unix:" + path, 16, 0600);
  REQUIRE(unix_fd.ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  REQUIRE((st.st_mode & 07777) == 0600);
  ::close(*unix_fd);
  REQUIRE(exists(path));  // the caller's file
  auto bad = khz::transport::open_listen_socket("no-port");
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.error() == std::errc::invalid_argument);
}

namespace {
// Sets (or, for nullptr, removes) the socket activation variables.
void set_activation_env(const char* pid, const char* fds, const char* names) {
  auto set = [](const char* key, const char* value) {
    if (value != nullptr) ::setenv(key, value, 1); else ::unsetenv(key);
  };
  set("LISTEN_PID", pid);
  set("LISTEN_FDS", fds);
  set("LISTEN_FDNAMES", names);
}
bool activation_env_gone() {
  return std::getenv("LISTEN_PID") == nullptr && std::getenv("LISTEN_FDS") == nullptr &&
         std::getenv("LISTEN_FDNAMES") == nullptr;
}
}  // namespace

// What can be checked in this process: it cannot own fd 3 for sure, so the sockets themselves
// are taken in test/integration/listen_test.cc by a process started the way systemd starts one.
TEST_CASE("systemd_listen_fds: absent, meant for another process, malformed; the variables are removed") {
  const std::string self = std::to_string(::getpid());
  set_activation_env(nullptr, nullptr, nullptr);
  auto none = khz::transport::systemd_listen_fds();
  REQUIRE(none.ok());
  REQUIRE(none->empty());

  set_activation_env("1", "2", "a:b");  // a parent's (pid 1), inherited by mistake
  auto parents = khz::transport::systemd_listen_fds();
  REQUIRE(parents.ok());
  REQUIRE(parents->empty());
  REQUIRE(activation_env_gone());

  set_activation_env(self.c_str(), "two", nullptr);
  auto malformed = khz::transport::systemd_listen_fds();
  REQUIRE_FALSE(malformed.ok());
  REQUIRE(malformed.error() == std::errc::invalid_argument);
  REQUIRE(activation_env_gone());

  set_activation_env(self.c_str(), "-1", nullptr);
  REQUIRE_FALSE(khz::transport::systemd_listen_fds().ok());

  set_activation_env(self.c_str(), "0", nullptr);
  auto zero = khz::transport::systemd_listen_fds(false);
  REQUIRE(zero.ok());
  REQUIRE(zero->empty());
  REQUIRE(std::getenv("LISTEN_FDS") != nullptr);  // kept when asked to
  set_activation_env(nullptr, nullptr, nullptr);
}

TEST_CASE("format_address writes IPv4, IPv6 and Unix peers as host:port", "[listen]") {
  auto v4 = [](const char* ip, std::uint16_t port) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    REQUIRE(::inet_pton(AF_INET, ip, &in.sin_addr) == 1);
    return khz::transport::format_address(reinterpret_cast<const sockaddr*>(&in), sizeof in);
  };
  CHECK(v4("127.0.0.1", 51234) == "127.0.0.1:51234");
  CHECK(v4("0.0.0.0", 0) == "0.0.0.0:0");
  CHECK(v4("255.255.255.255", 65535) == "255.255.255.255:65535");
  CHECK(v4("10.0.100.9", 80) == "10.0.100.9:80");

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(443);
  REQUIRE(::inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr) == 1);
  CHECK(khz::transport::format_address(reinterpret_cast<const sockaddr*>(&in6), sizeof in6) == "[2001:db8::1]:443");

  sockaddr_in short_v4{};
  short_v4.sin_family = AF_INET;
  CHECK(khz::transport::format_address(reinterpret_cast<const sockaddr*>(&short_v4), 4).empty());
}
