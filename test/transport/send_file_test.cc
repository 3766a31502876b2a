// SPDX-License-Identifier: Apache-2.0
// Connection::send_file on every backend: the file goes out after what output() held and
// before what follows the flush, whole, across partial writes to a slow reader (sendfile on
// netpoll and uring, the bounded copy on asio); a file shorter than its range ends the flush with
// file_truncated; the write timeout bounds a file flush as any other. The TLS decorator's copy
// is checked end to end in integration/static_test.cc.
#include <khz/transport/error.h>
#include <khz/transport/transporter.h>

#include <catch2/catch.hpp>

#include "support/default_sigpipe.h"
#include "support/raw_client.h"
#include "support/test_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr std::size_t kFileBytes = 8 * 1024 * 1024;  // more than the socket buffers hold
char file_byte(std::size_t i) { return static_cast<char>('A' + (i / 13 + i) % 26); }

std::string file_path;              // the test file (kFileBytes of file_byte)
std::atomic<int> file_error{-1};    // 0 ok, 1 file_truncated, 2 timed_out, 3 other
std::uint64_t extra_length = 0;     // asked for past the end of the file
std::chrono::milliseconds write_timeout{0};

int error_kind(std::error_code ec) {
  if (!ec) return 0;
  if (ec == khz::transport::errc::file_truncated) return 1;
  if (ec == khz::transport::errc::timed_out) return 2;
  return 3;
}

// "<head>" + file[1000 .. end - 1000) + "<tail>", in two flushes.
khz::Task<> send_a_file(khz::transport::Connection& conn) {
  int fd = ::open(file_path.c_str(), O_RDONLY | O_CLOEXEC);
  conn.set_write_timeout(write_timeout);
  conn.output().append("<head>");
  conn.send_file(fd, 1000, kFileBytes - 2000 + extra_length);
  auto ec = co_await conn.flush();
  if (!ec) {
    conn.output().append("<tail>");
    ec = co_await conn.flush();
  }
  ::close(fd);
  file_error = error_kind(ec);
}

std::string read_all(int fd) {
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

struct TestFile {
  khz::test::TempDir dir;
  TestFile() {
    file_path = dir.path + "/file.bin";
    std::string bytes(kFileBytes, '\0');
    for (std::size_t i = 0; i < kFileBytes; ++i) bytes[i] = file_byte(i);
    std::ofstream(file_path, std::ios::binary) << bytes;
  }
};

}  // namespace

TEST_CASE("transport: send_file sends a file range in order, across partial writes to a slow reader") {
  TestFile file;
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      file_error = -1;
      extra_length = 0;
      write_timeout = 0ms;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&send_a_file);
      REQUIRE(port.ok());
      int fd = khz::test::connect_loopback(*port, 64 * 1024);
      std::this_thread::sleep_for(200ms);  // the socket fills: the flush waits for room
      REQUIRE(file_error == -1);
      std::string got = read_all(fd);
      ::close(fd);
      REQUIRE(got.size() == kFileBytes - 2000 + 12);
      CHECK(got.substr(0, 6) == "<head>");
      CHECK(got.substr(got.size() - 6) == "<tail>");
      std::size_t first_bad = std::string::npos;
      for (std::size_t i = 0; i < kFileBytes - 2000; ++i) {
        if (got[6 + i] != file_byte(1000 + i)) {
          first_bad = i;
          break;
        }
      }
      CHECK(first_bad == std::string::npos);
      REQUIRE(khz::test::eventually([] { return file_error != -1; }));
      CHECK(file_error == 0);
      t->shutdown(1s);
    }
  }
}

TEST_CASE("transport: send_file past the end of the file ends the flush with file_truncated") {
  TestFile file;
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      file_error = -1;
      extra_length = 5000;
      write_timeout = 0ms;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&send_a_file);
      REQUIRE(port.ok());
      khz::test::RawClient c(*port, 10s);
      std::string got = c.read_until_close();
      CHECK(got.size() == 6 + kFileBytes - 1000);  // the head and what the file had
      REQUIRE(khz::test::eventually([] { return file_error != -1; }));
      CHECK(file_error == 1);
      t->shutdown(1s);
    }
  }
}

TEST_CASE("transport: the write timeout ends a send_file flush to a peer that never reads") {
  TestFile file;
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      file_error = -1;
      extra_length = 0;
      write_timeout = 200ms;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&send_a_file);
      REQUIRE(port.ok());
      int fd = khz::test::connect_loopback(*port, 64 * 1024);
      REQUIRE(khz::test::eventually([] { return file_error != -1; }, 3s));
      CHECK(file_error == 2);
      ::close(fd);
      t->shutdown(1s);
      CHECK(t->active_connections() == 0);
    }
  }
}

namespace {

// Sends the file until a flush fails, then again: a send to a reset socket after the one that
// reported the reset gets EPIPE, which raises SIGPIPE unless the backend keeps it away from the
// process (netpoll's sendfile), and every later flush must fail at once, not wait (asio's
// edge-triggered reactor would wait for a writability that never comes).
std::atomic<int> sends_after_failure{0};
constexpr int retries_after_failure = 3;
khz::Task<> send_until_the_peer_is_gone(khz::transport::Connection& conn) {
  int fd = ::open(file_path.c_str(), O_RDONLY | O_CLOEXEC);
  std::error_code ec;
  for (int i = 0; i < 100 && !ec; ++i) {
    conn.send_file(fd, 0, kFileBytes);
    ec = co_await conn.flush();
  }
  int failed_again = 0;
  for (int i = 0; i < retries_after_failure; ++i) {
    conn.send_file(fd, 0, kFileBytes);
    auto again = co_await conn.flush();
    if (again) ++failed_again;
  }
  ::close(fd);
  file_error = error_kind(ec);
  sends_after_failure = failed_again;
}

}  // namespace

TEST_CASE("transport: send_file to a peer that reset the connection fails the flush, no SIGPIPE") {
  TestFile file;
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      file_error = -1;
      sends_after_failure = 0;
      write_timeout = 0ms;
      khz::test::DefaultSigpipe sigpipe_kills;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&send_until_the_peer_is_gone);
      REQUIRE(port.ok());
      int fd = khz::test::connect_loopback(*port, 64 * 1024);
      char buf[4096];
      REQUIRE(::recv(fd, buf, sizeof buf, 0) > 0);  // the file has begun
      linger hard{.l_onoff = 1, .l_linger = 0};      // close() sends RST
      REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
      ::close(fd);
      REQUIRE(khz::test::eventually([] { return file_error != -1; }, 5s));
      CHECK(file_error == 3);              // the reset
      CHECK(sends_after_failure == retries_after_failure);  // failed at once, the process still here
      t->shutdown(1s);
    }
  }
}

namespace {

// The whole file, again and again, until a flush fails.
khz::Task<> send_file_until_failure(khz::transport::Connection& conn) {
  int fd = ::open(file_path.c_str(), O_RDONLY | O_CLOEXEC);
  for (int i = 0; i < 1000; ++i) {
    conn.send_file(fd, 0, kFileBytes);
    if (co_await conn.flush()) break;
  }
  ::close(fd);
}

}  // namespace

TEST_CASE("transport: peers leaving in the middle of sendfile calls raise no SIGPIPE") {
  // A peer that goes while one sendfile(2) call is writing the file piece by piece makes the
  // call return what it wrote so far, with SIGPIPE raised all the same: the backend must take
  // that signal too, not only one that comes with an EPIPE result. Many peers reading a little
  // and leaving at once (a load generator stopping) make it likely.
  TestFile file;
  for (const auto& name : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << name) {
      khz::test::DefaultSigpipe sigpipe_kills;
      auto t = khz::transport::make_transporter(name, {.address = "127.0.0.1:0", .loops = 1});
      auto port = t->start(&send_file_until_failure);
      REQUIRE(port.ok());
      for (int round = 0; round < 6; ++round) {
        std::vector<int> fds;
        for (int i = 0; i < 32; ++i) fds.push_back(khz::test::connect_loopback(*port));
        char buf[65536];
        for (int pass = 0; pass < 8; ++pass) {
          for (int fd : fds) (void)::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        }
        for (int fd : fds) ::close(fd);  // unread bytes: each close is a reset
        REQUIRE(khz::test::eventually([&] { return t->active_connections() == 0; }, 5s));
      }
      t->shutdown(1s);  // still here: no SIGPIPE ended the process
    }
  }
}
