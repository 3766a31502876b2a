// SPDX-License-Identifier: Apache-2.0
// Test support: one real etcd (Debian's etcd-server) for a test binary, on free loopback ports
// with a temporary data directory, stopped at exit.
//
//   auto& etcd = khz::test::EtcdServer::get();        // started on first use
//   khz::governance::EtcdRegistry registry({.endpoint = etcd.endpoint()});
//   etcd.stop();  etcd.start(/*wipe=*/true);         // an outage; a fresh etcd on the same port
//   etcd.ctl("get --prefix /khz/");                   // etcdctl against it
#pragma once

#include "support/raw_client.h"

#include <cstdint>
#include <string>

namespace khz::test {

class EtcdServer {
 public:
  static EtcdServer& get();
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
  std::uint16_t port() const { return client_port_; }
  // etcdctl (v3 API) with `args`; stdout and stderr.
  std::string ctl(const std::string& args) const;
  void stop();
  // wipe: a new, empty member (its data directory removed first).
  void start(bool wipe = false);
  bool running() const;
  ~EtcdServer();

 private:
  EtcdServer();
  TempDir dir_;
  std::uint16_t client_port_;
  std::uint16_t peer_port_;
  int pid_ = -1;
};

}  // namespace khz::test
