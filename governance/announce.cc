// SPDX-License-Identifier: Apache-2.0
// announce: a Server's on_run / on_drain hooks that register and withdraw it.
#include <khz/governance/announce.h>

#include <khz/app/server.h>

namespace khz::governance {
namespace {

std::string advertised(std::string_view listen, const std::string& host) {
  std::string address(listen);
  for (std::string_view wildcard : {"0.0.0.0:", "[::]:"}) {
    if (address.starts_with(wildcard)) return host + address.substr(wildcard.size() - 1);
  }
  return address;
}

}  // namespace

void announce(Server& server, std::shared_ptr<Registry> registry, Instance instance, std::string advertise_host) {
  auto registered = std::make_shared<Instance>(std::move(instance));
  server.on_run([registry, registered, host = std::move(advertise_host)](std::string_view listen_address) {
    if (registered->address.empty()) registered->address = advertised(listen_address, host);
    registry->register_instance(*registered);
  });
  // Withdrawn as the shutdown begins: callers stop choosing it while its requests finish.
  server.on_drain([registry, registered] { registry->deregister_instance(*registered); });
}

}  // namespace khz::governance
