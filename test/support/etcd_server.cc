// SPDX-License-Identifier: Apache-2.0
// EtcdServer: etcd started as a child process (etcd 3.4 flags), polled until it serves.
#include "support/etcd_server.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

namespace khz::test {

EtcdServer& EtcdServer::get() {
  static EtcdServer server;
  return server;
}

EtcdServer::EtcdServer() : client_port_(unused_port()), peer_port_(unused_port()) { start(true); }

EtcdServer::~EtcdServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string EtcdServer::ctl(const std::string& args) const {
  return run_command("ETCDCTL_API=3 etcdctl --endpoints=" + endpoint() + " " + args + " 2>&1").output;
}

bool EtcdServer::running() const {
  return run_command("curl -s -m 1 -X POST " + endpoint() + "/v3/kv/range -d '{\"key\":\"AA==\"}'").output.find(
             "\"header\"") != std::string::npos;
}

void EtcdServer::start(bool wipe) {
  REQUIRE(pid_ < 0);
  const std::string data = dir_.path + "/data";
  if (wipe) run_command("rm -rf " + data);
  const std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  const std::string log = dir_.path + "/etcd.log";
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    std::freopen(log.c_str(), "a", stdout);
    std::freopen(log.c_str(), "a", stderr);
    ::execlp("etcd", "etcd", "--name", "khz-test", "--data-dir", data.c_str(), "--listen-client-urls", client.c_str(),
             "--advertise-client-urls", client.c_str(), "--listen-peer-urls", peer.c_str(),
             "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster", ("khz-test=" + peer).c_str(),
             "--log-level", "warn", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  INFO("etcd log: " << log);
  REQUIRE(eventually([&] { return running(); }, std::chrono::seconds(10)));
}

void EtcdServer::stop() {
  REQUIRE(pid_ > 0);
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace khz::test
