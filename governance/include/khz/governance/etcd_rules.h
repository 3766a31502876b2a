// SPDX-License-Identifier: Apache-2.0
// khz/governance/etcd_rules.h: EtcdRuleSource, routing rules (<khz/governance/rules.h>) kept
// in etcd and applied live: the JSON under <prefix><service> (default "/khz/rules/reviews")
// becomes the service's rules in a DiscoveryResolver, again whenever it changes; a deleted key
// removes them. A value that does not parse is logged and ignored (the rules before it stay).
//
//   auto rules = std::make_unique<khz::governance::EtcdRuleSource>(etcd_options, resolver);
//   // etcdctl put /khz/rules/reviews '{"subsets":{...},"routes":[...]}'   -> in effect at once
//
// While etcd is unreachable the rules last loaded stay in effect. Threading: construct and
// destroy from one thread; the work runs on a loop thread of its own.
#pragma once

#include <khz/governance/discovery.h>
#include <khz/governance/etcd.h>

#include <memory>
#include <string>

namespace khz::governance {

class EtcdRuleSource {
 public:
  EtcdRuleSource(EtcdOptions options, std::shared_ptr<DiscoveryResolver> resolver, std::string prefix = "/khz/rules/");
  ~EtcdRuleSource();
  EtcdRuleSource(const EtcdRuleSource&) = delete;
  EtcdRuleSource& operator=(const EtcdRuleSource&) = delete;

  // Rule values read that did not parse (for tests and metrics).
  std::uint64_t rejected() const noexcept;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace khz::governance
