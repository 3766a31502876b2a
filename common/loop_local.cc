// SPDX-License-Identifier: Apache-2.0
#include <khz/common/loop_local.h>

#include <atomic>

namespace khz::detail {

constinit thread_local LoopLocalHit loop_local_hit[loop_local_hits] = {};

std::vector<LoopLocalSlot>& loop_local_slots() noexcept {
  thread_local std::vector<LoopLocalSlot> slots;
  return slots;
}

std::uint64_t next_loop_local_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace khz::detail
