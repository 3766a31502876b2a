// SPDX-License-Identifier: Apache-2.0
// Test support: a blocking TCP (or Unix domain socket) client with deadlines, for feeding
// servers raw bytes.
//
//   RawClient c(port);
//   c.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
//   std::string reply = c.read_response();     // one HTTP/1.1 response, framed by its headers
//   REQUIRE(c.read_until_close().empty());     // or: what came before the peer closed
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

namespace khz::test {

class RawClient {
 public:
  explicit RawClient(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // To a Unix domain socket: "unix:/path" or "unix:@name".
  explicit RawClient(const std::string& unix_address, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send(std::string_view bytes);
  // Reads one response (status line, headers, and a Content-Length or chunked body).
  // Returns "" on timeout or close before a whole response. `head_only`: a response to HEAD.
  std::string read_response(bool head_only = false);
  // Reads until the peer closes (or the timeout passes); returns what was read.
  std::string read_until_close();
  // Reads `n` bytes; fewer when the peer closes or the timeout passes first.
  std::string read_exactly(std::size_t n);
  // True when the peer closed the connection within `wait` (reads and drops data meanwhile).
  bool closed_by_peer(std::chrono::milliseconds wait = std::chrono::seconds(3));
  void shutdown_write();
  int fd() const noexcept { return fd_; }

 private:
  // Reads more into buffer_; false on close, error or timeout.
  bool read_more();
  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
};

// The status code of a raw response ("HTTP/1.1 200 OK..." -> 200); 0 if unparsable.
int status_of(std::string_view response);
// The body of a raw response (after the blank line; chunked framing removed).
std::string body_of(std::string_view response);
// The value of a header in a raw response ("" when absent); case-insensitive name.
std::string header_of(std::string_view response, std::string_view name);

// A blocking TCP socket connected to 127.0.0.1:`port`, with TCP_NODELAY; throws
// std::runtime_error when it cannot connect. `rcvbuf` > 0: its receive window is clamped to
// that many bytes (set before connect), so a server writing more than that plus its own send
// buffer must wait for the client to read.
int connect_loopback(std::uint16_t port, int rcvbuf = 0);

// A blocking socket connected to a Unix domain socket address ("unix:/path", "unix:@name");
// throws std::runtime_error when it cannot connect.
int connect_unix(std::string_view unix_address);

// A scratch directory (mkdtemp under /tmp), removed with what is in it when destroyed.
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

// A loopback port nothing listens on (bound, read back and released).
std::uint16_t unused_port();

// Polls `pred` every 10 ms until it holds or `limit` passes; whether it held.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Threads of this process now, from /proc/self/status (-1 if unreadable).
int thread_count();

// Runs a shell command, returns its stdout and exit status.
struct CommandResult {
  int status;
  std::string output;
};
CommandResult run_command(const std::string& command);

}  // namespace khz::test
