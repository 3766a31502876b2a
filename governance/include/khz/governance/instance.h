// SPDX-License-Identifier: Apache-2.0
// khz/governance/instance.h: Instance, one running copy of a service as the registry keeps it
// (address, weight, tags such as version, zone and lane), and its JSON form, the value stored
// under /khz/services/<service>/<address> in etcd.
//
//   khz::governance::Instance i{.service = "reviews", .address = "10.0.0.7:9080", .weight = 10,
//                               .tags = {{"version", "v2"}, {"zone", "eu-1"}}};
//   std::string value = khz::governance::to_json(i);
//   // {"service":"reviews","address":"10.0.0.7:9080","weight":10,"tags":{"version":"v2","zone":"eu-1"}}
//   std::optional<Instance> back = khz::governance::parse_instance(value);
//
// parse_instance is the reader of what etcd hands back, so it is strict about shape and lenient
// about extras: unknown members are ignored, a wrong type or a missing service/address is
// nullopt; a weight outside [0, 10000] is clamped. Threading: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace khz::governance {

struct Instance {
  std::string service{};
  std::string address{};  // "host:port" (or "unix:/path")
  int weight = 100;       // relative; 0: registered but takes no traffic
  std::map<std::string, std::string, std::less<>> tags{};  // "version", "zone", "lane", ...

  // The tag's value, or "" when absent.
  std::string_view tag(std::string_view name) const {
    auto it = tags.find(name);
    return it == tags.end() ? std::string_view{} : std::string_view(it->second);
  }
  bool operator==(const Instance&) const = default;
};

std::string to_json(const Instance& instance);
std::optional<Instance> parse_instance(std::string_view json);

}  // namespace khz::governance
