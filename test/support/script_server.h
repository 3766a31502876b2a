// SPDX-License-Identifier: Apache-2.0
// Test support: a raw TCP server on 127.0.0.1:0 that answers each connection with a script
// (canned bytes, hangs, closes), for feeding a client hostile responses.
//
//   ScriptServer s([](ScriptServer::Peer& p) {
//     p.read_head();                                  // the request head (up to CRLFCRLF)
//     p.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
//   });                                               // the connection closes when it returns
//   client.get("http://127.0.0.1:" + std::to_string(s.port()) + "/");
//
// Each connection is served on its own thread; the destructor stops accepting and joins them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace khz::test {

class ScriptServer {
 public:
  class Peer {
   public:
    explicit Peer(int fd) : fd_(fd) {}
    // Reads up to the end of a request head; returns it ("" on close/timeout). Bytes after the
    // head stay buffered for read_exact.
    std::string read_head(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Reads exactly n bytes (after the head); "" on close/timeout.
    std::string read_exact(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5));
    void send(std::string_view bytes);
    // Keeps the connection open, reading and dropping, until the peer closes or `wait` passes.
    void hold(std::chrono::milliseconds wait);
    int fd() const noexcept { return fd_; }

   private:
    bool read_more(std::chrono::milliseconds timeout);
    int fd_;
    std::string buffer_;
  };
  using Script = std::function<void(Peer&)>;

  explicit ScriptServer(Script script);
  ~ScriptServer();
  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::string url(std::string_view path = "/") const;
  int connections() const noexcept { return connections_.load(); }

 private:
  void accept_loop();
  Script script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
};

}  // namespace khz::test
