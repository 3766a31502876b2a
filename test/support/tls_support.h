// SPDX-License-Identifier: Apache-2.0
// Test support for TLS: a throwaway PKI made at run time (no private key is committed), a
// Connection over a plain client socket for driving a TlsConnection in the client role, and
// a stderr capture for checking log lines.
//
//   const auto& pki = khz::test::TestPki::get();         // CA, alpha/beta servers, a client
//   khz::test::SocketConnection sock(port);              // dialled; serves run_blocking's loop
//   khz::transport::TlsConnection tls(sock, client_ctx, "alpha.test");
//   auto ec = khz::run_blocking(tls.handshake());
#pragma once

#include <khz/transport/connection.h>

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <string>

namespace khz::test {

// Files in a private temporary directory, removed at exit. Keys are P-256.
struct TestPki {
  std::string dir;
  std::string ca_cert;       // "khz test CA"
  std::string alpha_cert;    // CN=alpha.test, SAN DNS:alpha.test, DNS:localhost, IP:127.0.0.1
  std::string alpha_key;
  std::string beta_cert;     // CN=beta.test, SAN DNS:beta.test, DNS:*.beta.test
  std::string beta_key;
  std::string client_cert;   // CN=khz test client, signed by the CA (clientAuth)
  std::string client_key;
  std::string rogue_ca_cert;      // another CA nobody trusts
  std::string rogue_client_cert;  // a client certificate from the rogue CA
  std::string rogue_client_key;

  static const TestPki& get();  // made once per process
};

// A Connection over a connected, non-blocking client socket for code running inside
// khz::run_blocking: operations poll the socket from the loop (posting themselves until they
// can finish), so a fill and a flush may be outstanding together. For tests only.
class SocketConnection final : public transport::Connection {
 public:
  explicit SocketConnection(std::uint16_t port);  // connects to 127.0.0.1:port
  ~SocketConnection() override;

  void close() noexcept override;
  std::string peer_address() const override { return "127.0.0.1:" + std::to_string(port_); }
  std::string local_address() const override { return "127.0.0.1"; }
  int fd() const noexcept { return fd_; }

 protected:
  void start_fill(std::size_t n, std::coroutine_handle<> h) override;
  bool start_flush(std::coroutine_handle<> h) override;
  void on_idle_while_draining() noexcept override {}

 private:
  void poll_fill();
  void poll_flush();

  using Clock = std::chrono::steady_clock;
  int fd_ = -1;
  std::uint16_t port_;
  std::size_t fill_want_ = 0;
  std::coroutine_handle<> fill_waiter_;
  std::coroutine_handle<> flush_waiter_;
  Clock::time_point fill_deadline_;
  Clock::time_point flush_deadline_;
  bool eof_ = false;
};

// Redirects stderr (where KHZ_LOG writes) to a file while it lives; text() reads it so far.
class StderrCapture {
 public:
  StderrCapture();
  ~StderrCapture();
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  std::string text() const;

 private:
  int saved_ = -1;
  std::string path_;
};

}  // namespace khz::test
