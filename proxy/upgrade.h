// SPDX-License-Identifier: Apache-2.0
// Protocol upgrades through the reverse proxy (private to proxy/): an HTTP/1.1 request with
// Upgrade (WebSocket, ...) is sent to the upstream on a connection of its own; a 101 answer is
// relayed and both connections are then joined, bytes copied both ways until either side
// closes. Runs on the request's loop.
#pragma once

#include <khz/app/request_context.h>
#include <khz/common/task.h>
#include <khz/protocol/header_map.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace khz::proxy::detail {

// True for an HTTP/1.1 request asking to switch protocols (Upgrade named in Connection).
bool is_upgrade_request(const Request& request);

struct UpgradeCall {
  std::string host;            // the upstream's host and port (plain TCP)
  std::uint16_t port = 0;
  std::string url;             // for the log: the upstream URL of the request
  std::string target;          // the request-target to send
  HeaderMap fields;            // end-to-end fields (Host included); Connection/Upgrade are added
  std::chrono::milliseconds connect_timeout{};
  std::chrono::milliseconds response_timeout{};
};

// Forwards the upgrade request and answers `ctx`: the upstream's 101 (then the tunnel), or its
// refusal as it came, or 502/504 (logged). Returns the upstream's status, 0 when none came.
Task<int> forward_upgrade(RequestContext& ctx, UpgradeCall call);

}  // namespace khz::proxy::detail
