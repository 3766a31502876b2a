// SPDX-License-Identifier: Apache-2.0
// khz/app/client/discovery.h: where a request's host really goes. A Resolver maps a host to
// Endpoints (service discovery); a Balancer picks one of them per request. StaticResolver is a
// fixed table; the balancers: RoundRobinBalancer (the default), WeightedRandomBalancer,
// SmoothWeightedBalancer, LeastRequestBalancer (power of two choices) and
// ConsistentHashBalancer (their algorithms, shared with the reverse proxy:
// <khz/app/client/balancing.h>). khz::governance adds an etcd-backed Resolver.
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
#include <memory>
#include <mutex>
#include <unordered_map>
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
  // The same for one request (a balancer that hashes a header field picks by it); the client
  // calls this one. Default: the above.
  virtual std::size_t pick(std::span<const Endpoint> endpoints, const HeaderMap& headers) {
    (void)headers;
    return pick(endpoints);
  }
  // Feedback, for balancers that weigh load or health: when wants_feedback(), the client calls
  // started() as an attempt to a picked endpoint begins and finished() as it ends (ok: a
  // response with a status below 500), on the request's loop, from every loop at once.
  virtual bool wants_feedback() const noexcept { return false; }
  virtual void started(const Endpoint& endpoint) noexcept { (void)endpoint; }
  virtual void finished(const Endpoint& endpoint, bool ok) noexcept { (void)endpoint, (void)ok; }
};
class RoundRobinBalancer final : public Balancer {
 public:
  using Balancer::pick;
  std::size_t pick(std::span<const Endpoint> endpoints) override;

 private:
  std::atomic<std::size_t> next_{0};
};
class WeightedRandomBalancer final : public Balancer {
 public:
  using Balancer::pick;
  std::size_t pick(std::span<const Endpoint> endpoints) override;
};
// nginx's smooth weighted round robin: over sum(weights) picks each endpoint gets exactly its
// weight, interleaved. Its state (a current weight per endpoint, by host:port) is under a mutex.
class SmoothWeightedBalancer final : public Balancer {
 public:
  using Balancer::pick;
  std::size_t pick(std::span<const Endpoint> endpoints) override;

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, int> current_;
};
// Power of two choices, least request: of two endpoints at random, the one with fewer
// requests in flight (counted from the client's feedback, by host:port, under a mutex).
class LeastRequestBalancer final : public Balancer {
 public:
  using Balancer::pick;
  std::size_t pick(std::span<const Endpoint> endpoints) override;
  bool wants_feedback() const noexcept override { return true; }
  void started(const Endpoint& endpoint) noexcept override;
  void finished(const Endpoint& endpoint, bool ok) noexcept override;
  int in_flight(const Endpoint& endpoint);  // for tests

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, int> in_flight_;
};
// A consistent-hash ring (160 points per unit of weight) keyed by a request header field (e.g.
// "X-User-Id"): the same value goes to the same endpoint while the set holds, and only the
// keys of an endpoint that leaves move. A request without the field goes round robin. The ring
// is rebuilt when the endpoint set changes.
class ConsistentHashBalancer final : public Balancer {
 public:
  explicit ConsistentHashBalancer(std::string header) : header_(std::move(header)) {}
  std::size_t pick(std::span<const Endpoint> endpoints) override;
  std::size_t pick(std::span<const Endpoint> endpoints, const HeaderMap& headers) override;

 private:
  std::string header_;
  std::atomic<std::size_t> next_{0};
  std::mutex mutex_;
  struct Ring;
  std::shared_ptr<const Ring> ring_;  // for the last endpoint set seen (under mutex_)
};

}  // namespace khz
