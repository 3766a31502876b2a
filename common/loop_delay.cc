// SPDX-License-Identifier: Apache-2.0
#include <khz/common/loop_delay.h>

#include <algorithm>

namespace khz {

LoopDelay::LoopDelay(Clock::duration interval, Clock::duration memory)
    : interval_(interval), memory_(memory), cell_(std::make_shared<Cell>()) {}

void LoopDelay::sample(Clock::time_point now) {
  Cell& c = *cell_;
  if (c.in_flight || (c.probes != 0 && now - c.measured < interval_)) return;
  EventLoop* loop = EventLoop::current();
  if (loop == nullptr) return;
  c.in_flight = true;
  c.posted = now;
  loop->post([cell = cell_] {
    const auto ran = Clock::now();
    cell->last = std::max(Clock::duration::zero(), ran - cell->posted);
    cell->measured = ran;
    cell->in_flight = false;
    ++cell->probes;
  });
}

LoopDelay::Clock::duration LoopDelay::current(Clock::time_point now) const noexcept {
  const Cell& c = *cell_;
  Clock::duration d{};
  if (c.probes != 0 && now - c.measured < memory_) d = c.last;
  if (c.in_flight && now > c.posted) d = std::max(d, now - c.posted);
  return d;
}

std::uint64_t LoopDelay::probes() const noexcept { return cell_->probes; }

}  // namespace khz
