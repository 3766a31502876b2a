// SPDX-License-Identifier: Apache-2.0
// khz/governance/errors.h: governance::errc, the errors of the governance layer's own (an etcd
// reply that says no, or one that cannot be read), and their category ("khz.governance").
// Transport and client errors (connection refused while etcd is down, timeouts) come through
// unchanged.
//
//   if (auto ec = registry.register_instance(instance); ec) log(ec.message());
//
// Threading: plain values; the category is a constant, usable from any thread.
#pragma once

#include <system_error>
#include <type_traits>

namespace khz::governance {

enum class errc {
  etcd_refused = 1,  // etcd answered with an error (a non-2xx status or an "error" member)
  malformed_reply,   // etcd's answer is not the JSON the v3 gateway sends
  lease_lost,        // the lease expired or was revoked (keepalive answered without a TTL)
  bad_instance,      // an instance without a service name or an address
  circuit_open,      // the service's circuit breaker is open: the call was not made
  concurrency_limited,  // the service's adaptive concurrency limit is reached: the call was not made
};
const std::error_category& governance_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), governance_category()}; }

}  // namespace khz::governance

template <>
struct std::is_error_code_enum<khz::governance::errc> : std::true_type {};
