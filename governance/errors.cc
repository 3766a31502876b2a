// SPDX-License-Identifier: Apache-2.0
// governance::errc's category.
#include <khz/governance/errors.h>

#include <string>

namespace khz::governance {
namespace {

class GovernanceCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.governance"; }
  std::string message(int v) const override {
    switch (static_cast<errc>(v)) {
      case errc::etcd_refused: return "etcd refused the request";
      case errc::malformed_reply: return "etcd's reply could not be read";
      case errc::lease_lost: return "the etcd lease expired or was revoked";
      case errc::bad_instance: return "an instance needs a service name and an address";
      case errc::circuit_open: return "circuit breaker open: the call was not made";
      case errc::concurrency_limited: return "concurrency limit reached: the call was not made";
    }
    return "unknown governance error";
  }
};

}  // namespace

const std::error_category& governance_category() noexcept {
  static const GovernanceCategory category;
  return category;
}

}  // namespace khz::governance
