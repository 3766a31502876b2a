// SPDX-License-Identifier: Apache-2.0
// governance/'s readers of what etcd hands back; the first byte picks which:
//   'R' + a routing-rules document (parse_rules): every accepted route names a defined subset;
//   'W' + one line of a watch stream (parse_watch_message, private to governance/);
//   anything else: an instance's JSON (parse_instance): an accepted instance has a service and
//   an address, and reads back equal from its own JSON.
// Never a crash, a leak or a hang. At start-up known documents must parse, so a broken reader
// fails here.
#include <khz/governance/instance.h>
#include <khz/governance/rules.h>

#include "etcd_client.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void self_test() {
  check(khz::governance::parse_instance(R"({"service":"a","address":"h:1","weight":3,"tags":{"v":"1"}})").has_value());
  check(khz::governance::parse_rules(R"({"subsets":{"a":{"v":"1"}},"routes":[{"destinations":[{"subset":"a"}]}]})")
            .has_value());
  std::vector<khz::governance::WatchEvent> events;
  bool canceled = false;
  check(khz::governance::parse_watch_message(R"({"result":{"events":[{"type":"DELETE","kv":{"key":"YQ=="}}]}})",
                                             events, canceled) &&
        events.size() == 1 && events[0].deleted && events[0].kv.key == "a");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool tested = (self_test(), true);
  (void)tested;
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const char kind = in.front();
  std::string_view rest = in.substr(1);
  if (kind == 'R') {
    if (auto rules = khz::governance::parse_rules(rest)) {
      for (const auto& route : rules->routes) {
        check(!route.destinations.empty());
        for (const auto& d : route.destinations) check(rules->subsets.contains(d.subset));
      }
    }
  } else if (kind == 'W') {
    std::vector<khz::governance::WatchEvent> events;
    bool canceled = false;
    khz::governance::parse_watch_message(rest, events, canceled);
  } else if (auto instance = khz::governance::parse_instance(rest)) {
    check(!instance->service.empty() && !instance->address.empty());
    check(khz::governance::parse_instance(khz::governance::to_json(*instance)) == instance);
  }
  return 0;
}
