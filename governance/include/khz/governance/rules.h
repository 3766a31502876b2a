// SPDX-License-Identifier: Apache-2.0
// khz/governance/rules.h: RouteRules, traffic routing for one service in the spirit of Istio's
// VirtualService + DestinationRule: named subsets of its instances (by tags), and an ordered
// list of routes, each with a match (request headers, baggage entries) and weighted
// destinations (subsets). The first route whose match holds decides; a request no route
// matches goes to every instance. Kept in etcd as JSON under <rules prefix><service>
// (default "/khz/rules/reviews") and applied live (<khz/governance/discovery.h>).
//
//   {
//     "subsets": {"v1": {"version": "v1"}, "v2": {"version": "v2"}, "v3": {"version": "v3"}},
//     "routes": [
//       {"match": {"baggage": {"env": "dev"}}, "destinations": [{"subset": "v2"}]},
//       {"match": {"headers": {"x-canary": "1"}}, "destinations": [{"subset": "v3"}]},
//       {"destinations": [{"subset": "v1", "weight": 80}, {"subset": "v3", "weight": 20}]}
//     ]
//   }
//
// A match lists exact values; every one listed must hold (header names are case-insensitive;
// baggage is the request's `baggage` header, which the client sets from the ambient baggage of
// a traced handler). A route without "match" matches everything. A destination's weight
// defaults to 1. A destination whose subset has no instance left is skipped (its weight goes
// to the others); when none is left the route falls back to every instance.
// parse_rules is strict: unknown members, wrong types, a route naming an undefined subset, or
// limits crossed (64 subsets, 64 routes, 16 destinations and 16 conditions per route) are
// errors with a message. Threading: plain values and pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace khz::governance {

using Tags = std::map<std::string, std::string, std::less<>>;

struct RouteMatch {
  std::vector<std::pair<std::string, std::string>> headers{};  // names lower-case
  std::vector<std::pair<std::string, std::string>> baggage{};
};

struct Destination {
  std::string subset{};
  int weight = 1;
};

struct RouteRule {
  RouteMatch match{};
  std::vector<Destination> destinations{};
};

struct RouteRules {
  std::map<std::string, Tags, std::less<>> subsets{};
  std::vector<RouteRule> routes{};
};

// The rules in `json`, or nullopt with *error set.
std::optional<RouteRules> parse_rules(std::string_view json, std::string* error = nullptr);

}  // namespace khz::governance
