// SPDX-License-Identifier: Apache-2.0
#include "support/raw_client.h"

#include <khz/protocol/header_map.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>

namespace khz::test {

int connect_loopback(std::uint16_t port, int rcvbuf) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  if (rcvbuf > 0 && ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0) {
    ::close(fd);
    throw std::runtime_error("setsockopt SO_RCVBUF failed");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int connect_unix(std::string_view unix_address) {
  std::string_view path = unix_address.substr(unix_address.starts_with("unix:") ? 5 : 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) throw std::runtime_error("bad unix socket path");
  std::memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  if (path.front() == '@') {  // abstract: a leading NUL, no trailing one
    addr.sun_path[0] = '\0';
    len -= 1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  return fd;
}

TempDir::TempDir() {
  char name[] = "/tmp/khz-test-XXXXXX";
  if (::mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
  path = name;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

std::uint16_t unused_port() {
  // Below the kernel's ephemeral range (as test/support/free_port.py): a port from that range
  // could go to another test's outgoing connection before whatever is to listen on it binds.
  int ephemeral_low = 32768;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%d", &ephemeral_low) != 1) ephemeral_low = 32768;
    std::fclose(f);
  }
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(10000, std::max(10001, ephemeral_low - 1));
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<std::uint16_t>(pick(rng));
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (free) return port;
  }
  throw std::runtime_error("unused_port: no free port below the ephemeral range");
}

RawClient::RawClient(std::uint16_t port, std::chrono::milliseconds timeout)
    : fd_(connect_loopback(port)), timeout_(timeout) {}

RawClient::RawClient(const std::string& unix_address, std::chrono::milliseconds timeout)
    : fd_(connect_unix(unix_address)), timeout_(timeout) {}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RawClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // peer gone: the test's reads will show it
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void RawClient::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

bool RawClient::read_more() {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0) return false;
  char buf[16384];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) return false;
  buffer_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::string RawClient::read_response(bool head_only) {
  for (;;) {
    std::size_t end = buffer_.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string_view head(buffer_.data(), end + 4);
      std::string cl = header_of(head, "Content-Length");
      std::string te = header_of(head, "Transfer-Encoding");
      int status = status_of(head);
      std::size_t total = std::string::npos;
      if (head_only || status / 100 == 1 || status == 204 || status == 304) {
        total = end + 4;
      } else if (!cl.empty()) {
        total = end + 4 + std::stoul(cl);
      } else if (te.find("chunked") != std::string::npos) {
        std::size_t last = buffer_.find("\r\n0\r\n\r\n", end);
        if (buffer_.compare(end + 4, 5, "0\r\n\r\n") == 0) last = end - 2 + 4;
        if (last != std::string::npos) total = last + 7;
      } else {
        total = end + 4;  // no framing we know: the head alone
      }
      if (total != std::string::npos && buffer_.size() >= total) {
        std::string out = buffer_.substr(0, total);
        buffer_.erase(0, total);
        return out;
      }
    }
    if (!read_more()) return {};
  }
}

std::string RawClient::read_until_close() {
  while (read_more()) {
  }
  return std::exchange(buffer_, {});
}

std::string RawClient::read_exactly(std::size_t n) {
  while (buffer_.size() < n && read_more()) {
  }
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, out.size());
  return out;
}

bool RawClient::closed_by_peer(std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
  return false;
}

int status_of(std::string_view response) {
  if (response.size() < 12 || response.substr(0, 5) != "HTTP/") return 0;
  return std::atoi(std::string(response.substr(9, 3)).c_str());
}

std::string header_of(std::string_view response, std::string_view name) {
  std::size_t end = response.find("\r\n\r\n");
  std::string_view head = response.substr(0, end);
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string_view line = head.substr(pos + 2, next == std::string_view::npos ? std::string_view::npos : next - pos - 2);
    std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      return std::string(v);
    }
    pos = next;
  }
  return {};
}

std::string body_of(std::string_view response) {
  std::size_t end = response.find("\r\n\r\n");
  if (end == std::string_view::npos) return {};
  std::string_view body = response.substr(end + 4);
  if (header_of(response, "Transfer-Encoding").find("chunked") == std::string::npos) return std::string(body);
  std::string out;
  while (!body.empty()) {
    std::size_t eol = body.find("\r\n");
    if (eol == std::string_view::npos) break;
    std::size_t size = std::stoul(std::string(body.substr(0, eol)), nullptr, 16);
    if (size == 0) break;
    out.append(body.substr(eol + 2, size));
    body.remove_prefix(eol + 2 + size + 2);
  }
  return out;
}

CommandResult run_command(const std::string& command) {
  CommandResult r{-1, {}};
  FILE* f = ::popen(command.c_str(), "r");
  if (f == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.output.append(buf, n);
  int status = ::pclose(f);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

int thread_count() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  int n = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "Threads: %d", &n) == 1) break;
  }
  std::fclose(f);
  return n;
}

}  // namespace khz::test
