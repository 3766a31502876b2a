// SPDX-License-Identifier: Apache-2.0
// khz/governance/announce.h: a khz::Server registers itself in a Registry once it listens and
// withdraws when it stops.
//
//   khz::Server server({.address = "127.0.0.1:0"});
//   khz::governance::announce(server, registry, {.service = "ratings", .tags = {{"version", "v2"}}});
//   server.spin();   // registered as ratings at 127.0.0.1:<port> while it serves
//
// The instance's address, when empty, is the server's listen address (the real port for port
// 0); a wildcard host ("0.0.0.0", "[::]") is replaced by `advertise_host`. Registration happens
// in the server's on_run hook (etcd unreachable: logged, kept trying in the background); the
// instance is withdrawn by the server's on_drain hook, as its shutdown begins. Threading: call before start()/spin(),
// from the thread that owns the server.
#pragma once

#include <khz/governance/registry.h>

#include <memory>
#include <string>

namespace khz {
class Server;
}

namespace khz::governance {

void announce(Server& server, std::shared_ptr<Registry> registry, Instance instance,
              std::string advertise_host = "127.0.0.1");

}  // namespace khz::governance
