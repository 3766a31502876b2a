// SPDX-License-Identifier: Apache-2.0
// Where a Server listens, on every transport: Unix domain sockets (curl --unix-socket and
// khz's own client, HTTP/1.1 and h2c); a listening socket handed in (listen_fd): made by the
// test, handed from one server to the next, and passed by socket activation to a process
// started the way systemd starts one.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/transport/listen.h>

#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

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

namespace {

// A TCP socket the test binds to 127.0.0.1:0 itself (listening if asked); its port in `port`.
int bind_loopback(std::uint16_t& port, bool listening) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  if (listening) REQUIRE(::listen(fd, 128) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// One request on a new connection: the body, or "" when it failed (refused, closed, timed out).
std::string fetch(std::uint16_t port, const std::string& target, std::chrono::milliseconds timeout = 3s) {
  try {
    RawClient c(port, timeout);
    c.send("GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    return body_of(c.read_response());
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace

TEST_CASE("server on a socket the test bound itself (listen_fd): HTTP/1.1 and h2c; the port and address are the socket's") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      std::uint16_t bound = 0;
      int fd = bind_loopback(bound, false);  // bound, not listening: the server calls listen()
      khz::Server server({.listen_fd = fd, .transport = transport, .loops = 2});
      add_who(server);
      auto port = server.start();
      REQUIRE(port.ok());
      REQUIRE(*port == bound);
      REQUIRE(server.listen_address() == "127.0.0.1:" + std::to_string(bound));
      REQUIRE(fetch(bound, "/who").starts_with("127.0.0.1:"));
      const std::string url = "http://127.0.0.1:" + std::to_string(bound) + "/who";
      REQUIRE(run_command("curl -s --max-time 5 --http2-prior-knowledge " + url).output.ends_with(" HTTP/2"));
      server.shutdown();
      ::close(fd);
    }
  }
}

TEST_CASE("graceful hand-over: the listening socket outlives the old server; what connects meanwhile waits for the new one") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      // The process owns the socket (as a parent that restarts itself would) and gives it to
      // one server after the other.
      auto fd = khz::transport::open_listen_socket("127.0.0.1:0");
      REQUIRE(fd.ok());
      sockaddr_in a{};
      socklen_t len = sizeof a;
      ::getsockname(*fd, reinterpret_cast<sockaddr*>(&a), &len);
      const std::uint16_t port = ntohs(a.sin_port);

      auto old_server = std::make_unique<khz::Server>(khz::ServerOptions{.listen_fd = *fd, .transport = transport, .loops = 2});
      old_server->get("/who", [](khz::RequestContext& c) { c.string(200, "old"); });
      REQUIRE(old_server->start().ok());
      REQUIRE(fetch(port, "/who") == "old");

      khz::Server new_server({.listen_fd = *fd, .transport = transport, .loops = 2});
      new_server.get("/who", [](khz::RequestContext& c) { c.string(200, "new"); });
      bool new_started = false;

      SECTION("both serve the one socket at once") {
        REQUIRE(new_server.start().ok());
        new_started = true;
        for (int i = 0; i < 30; ++i) {
          std::string got = fetch(port, "/who");
          REQUIRE((got == "old" || got == "new"));
        }
        old_server->shutdown();
        for (int i = 0; i < 10; ++i) REQUIRE(fetch(port, "/who") == "new");
      }
      SECTION("nobody serves for a while: connections wait in the backlog, none is refused") {
        old_server->shutdown();
        auto waiting = std::async(std::launch::async, [&] { return fetch(port, "/who"); });
        std::this_thread::sleep_for(200ms);  // connected (the socket still listens), unanswered
        REQUIRE(waiting.wait_for(0ms) == std::future_status::timeout);
        REQUIRE(new_server.start().ok());
        new_started = true;
        REQUIRE(waiting.get() == "new");
      }
      REQUIRE(new_started);
      ::close(*fd);  // the process's own copy; new_server serves its duplicate
      REQUIRE(fetch(port, "/who") == "new");
    }
  }
}

// Run only as the child of the test below (hidden: "[.]"): a service started by socket
// activation. Answers GET /who with what it was given, serves until SIGTERM.
TEST_CASE("socket activation child", "[.]") {
  auto inherited = khz::transport::systemd_listen_fds();
  REQUIRE(inherited.ok());
  REQUIRE(inherited->size() == 1);
  const khz::transport::InheritedSocket socket = inherited->front();
  const bool cloexec = (::fcntl(socket.fd, F_GETFD) & FD_CLOEXEC) != 0;
  const bool env_gone = std::getenv("LISTEN_FDS") == nullptr && std::getenv("LISTEN_PID") == nullptr;
  khz::Server server({.listen_fd = socket.fd, .loops = 2});  // the transport: $KHZ_TRANSPORT
  const std::string answer = "fd " + std::to_string(socket.fd) + " name " + socket.name + " pid " +
                             std::to_string(::getpid()) + (cloexec ? " cloexec" : "") + (env_gone ? " env-cleared" : "");
  server.get("/who", [answer](khz::RequestContext& c) { c.string(200, answer); });
  server.spin();
}

namespace {

// Starts `argv` with the environment plus `extra` (replacing what they name), and `fd_to_3`
// (if >= 0) as its fd 3. The child's pid.
pid_t spawn_child(std::vector<std::string> argv, const std::vector<std::string>& extra, int fd_to_3) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool replaced = false;
    for (const auto& x : extra) replaced = replaced || entry.substr(0, entry.find('=') + 1) == x.substr(0, x.find('=') + 1);
    if (!replaced && !entry.starts_with("LISTEN_")) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  std::vector<char*> argv_p, env_p;
  for (auto& a : argv) argv_p.push_back(a.data());
  argv_p.push_back(nullptr);
  for (auto& e : env) env_p.push_back(e.data());
  env_p.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (fd_to_3 >= 0) posix_spawn_file_actions_adddup2(&actions, fd_to_3, 3);  // dup2 clears close-on-exec
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv_p[0], &actions, nullptr, argv_p.data(), env_p.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
  return pid;
}

// SIGTERM, then the exit status (-1 if it had to be killed).
int stop_child(pid_t pid) {
  ::kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

std::string self_path() {
  char buf[PATH_MAX] = {};
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  REQUIRE(n > 0);
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

TEST_CASE("socket activation: a process started the way systemd starts one serves the socket it was passed as fd 3") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport << ", LISTEN_* set by hand") {
      // What systemd does: the socket at fd 3, LISTEN_FDS, LISTEN_FDNAMES, and LISTEN_PID set
      // to the service's own pid, known only in the child (sh's $$, kept by exec).
      std::uint16_t port = 0;
      int fd = bind_loopback(port, true);
      int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);  // never 3 itself: dup2(3, 3) would keep close-on-exec
      ::close(fd);
      pid_t child = spawn_child({"/bin/sh", "-c", "LISTEN_PID=$$ exec \"$0\" \"$@\"", self_path(), "socket activation child"},
                                {"LISTEN_FDS=1", "LISTEN_FDNAMES=web", "KHZ_TRANSPORT=" + transport}, high);
      ::close(high);  // from now on only the child holds the socket; connections wait in its backlog
      // A whole process starts before it answers: generous timeouts for a loaded machine.
      std::string who = fetch(port, "/who", 30s);
      REQUIRE(stop_child(child) == 0);  // spin() ended on SIGTERM and the child's checks passed
      REQUIRE(who == "fd 3 name web pid " + std::to_string(child) + " cloexec env-cleared");
    }
    DYNAMIC_SECTION("transport " << transport << ", by systemd-socket-activate") {
      if (run_command("command -v systemd-socket-activate").status != 0) {
        WARN("systemd-socket-activate is not installed; only the hand-made launch was tested");
        continue;
      }
      // systemd's own launcher: listens on a Unix socket, and on the first connection execs
      // the service in its place with the socket as fd 3.
      TempDir dir;
      const std::string path = dir.path + "/activated.sock";
      pid_t child = spawn_child({"systemd-socket-activate", "-l", path, "--fdname=web", self_path(), "socket activation child"},
                                {"KHZ_TRANSPORT=" + transport}, -1);
      // The path exists from its bind(); connecting is refused until its listen(), a moment
      // later (seen on a loaded machine), so connect until one is accepted.
      std::string who;
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      bool connected = false;
      while (!connected && std::chrono::steady_clock::now() < deadline) {
        try {
          RawClient c("unix:" + path, 30s);
          connected = true;
          c.send("GET /who HTTP/1.1\r\nHost: t\r\n\r\n");
          who = body_of(c.read_response());
        } catch (const std::exception&) {
          if (!connected) std::this_thread::sleep_for(10ms);
        }
      }
      REQUIRE(stop_child(child) == 0);
      REQUIRE(who == "fd 3 name web pid " + std::to_string(child) + " cloexec env-cleared");
    }
  }
}
