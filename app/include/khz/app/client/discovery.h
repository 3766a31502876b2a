// SPDX-License-Identifier: Apache-2.0
// khz/app/client/discovery.h: where a request's host really goes. A Resolver maps a host to
// Endpoints (service discovery); a Balancer picks one of them per request. StaticResolver is a
// fixed table; RoundRobinBalancer (the default) and WeightedRandomBalancer are the balancers.
//
//   auto table = std::make_shared<khz::StaticResolver>();
//   table->add("users.svc", {{.host = "10.0.0.7", .port = 8080}, {.host = "unix:/run/users.sock"}});
//   khz::Client client({.resolver = table, .balancer = std::make_shared<khz::WeightedRandomBalancer>()});
//   co_await client.get("http://users.svc/users/7");   // dials 10.0.0.7:8080 or the socket,
//                                                      // sends "Host: users.svc"
//
// A proxy, when one applies, wins over discovery (the proxy is dialled).
// Threading: resolve() and pick() are called from every loop at once: they must be thread-safe
// (the ones here are; StaticResolver only while nobody calls add()).
#pragma once

#include <khz/protocol/header_map.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz {

// Where a request's host really goes: service discovery. resolve() returns the endpoints for
// a host; an empty list means "dial the host itself". An endpoint's host may be a Unix domain
// socket, "unix:/run/api.sock" or "unix:@name" (its port is then ignored): requests for
// http://api/... go over that socket, with "Host: api".
struct Endpoint {
  std::string host{};
  std::uint16_t port = 0;
  int weight = 1;
};
class Resolver {
 public:
  virtual ~Resolver() = default;
  // Must be thread-safe (called from every loop). The span lives until the next call on the
  // same thread.
  virtual std::span<const Endpoint> resolve(std::string_view host, std::uint16_t port) = 0;
  // The same for one request, whose header fields may steer the choice (routing rules that
  // match headers or the `baggage` field); the client calls this one. Default: the above.
  virtual std::span<const Endpoint> resolve(std::string_view host, std::uint16_t port, const HeaderMap& headers) {
    (void)headers;
    return resolve(host, port);
  }
};
// A fixed table: service name -> endpoints. Names not in it resolve to themselves.
class StaticResolver final : public Resolver {
 public:
  StaticResolver& add(std::string name, std::vector<Endpoint> endpoints);
  using Resolver::resolve;
  std::span<const Endpoint> resolve(std::string_view host, std::uint16_t port) override;

 private:
  std::vector<std::pair<std::string, std::vector<Endpoint>>> table_;
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Picks one of `endpoints` (never empty). Thread-safe.
  virtual std::size_t pick(std::span<const Endpoint> endpoints) = 0;
};
class RoundRobinBalancer final : public Balancer {
 public:
  std::size_t pick(std::span<const Endpoint> endpoints) override;

 private:
  std::atomic<std::size_t> next_{0};
};
class WeightedRandomBalancer final : public Balancer {
 public:
  std::size_t pick(std::span<const Endpoint> endpoints) override;
};

}  // namespace khz
