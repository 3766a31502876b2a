// SPDX-License-Identifier: Apache-2.0
// khz::LoopLocal<T>: one T per event loop thread, made on first use there: state that a
// middleware or a metric keeps per loop so the request path takes no lock and touches no
// shared atomic.
//
//   struct Counter { std::uint64_t requests = 0; };
//   khz::LoopLocal<Counter> counters;                    // shared by every loop
//   engine.use([&counters](khz::RequestContext&) { ++counters.get().requests; });
//   counters.for_each([&](const Counter& c) { total += c.requests; });   // while the loops are stopped
//
// get() finds the calling thread's T in a small direct-mapped thread-local cache (by id modulo
// 8: ids are consecutive, so eight LoopLocals made one after another never evict each other),
// else by a linear scan of a thread-local table (one entry per LoopLocal the thread has used);
// no atomics, no lock either way. The first get() on a thread makes its T (under a mutex,
// once). The Ts live as long as the LoopLocal; a thread's table entry for a destroyed LoopLocal
// is dropped on that thread's next miss.
// Threading: get() from any thread returns that thread's own T (so a loop's handlers share
// one); T itself is used from that thread only. for_each visits every T: call it only when
// nothing else touches them (the loops stopped), or make T's fields safe to read elsewhere.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace khz {

namespace detail {
// The calling thread's table: LoopLocal id -> its value on this thread.
struct LoopLocalSlot {
  std::uint64_t id;
  void* value;
  std::weak_ptr<void> alive;  // expires with the LoopLocal's copy
};
std::vector<LoopLocalSlot>& loop_local_slots() noexcept;
std::uint64_t next_loop_local_id() noexcept;
// The thread's latest finds, at id % loop_local_hits: constant-initialised and trivially
// destructible, so reading it takes no TLS guard. Ids are never reused (0: empty), so the entry
// of a LoopLocal gone since never matches again.
struct LoopLocalHit {
  std::uint64_t id;
  void* value;
};
inline constexpr std::size_t loop_local_hits = 8;
extern constinit thread_local LoopLocalHit loop_local_hit[loop_local_hits];
}  // namespace detail

template <class T>
class LoopLocal {
 public:
  // `make` builds a thread's T (default: T{}); it runs on that thread, under a mutex.
  explicit LoopLocal(std::function<std::unique_ptr<T>()> make = [] { return std::make_unique<T>(); })
      : make_(std::move(make)) {}
  LoopLocal(const LoopLocal&) = delete;
  LoopLocal& operator=(const LoopLocal&) = delete;

  T& get() {
    auto& hit = detail::loop_local_hit[id_ % detail::loop_local_hits];
    if (hit.id == id_) [[likely]] return *static_cast<T*>(hit.value);
    return find(hit);
  }

  template <class F>
  void for_each(F&& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& v : values_) fn(static_cast<const T&>(*v));
  }

 private:
  [[gnu::noinline]] T& find(detail::LoopLocalHit& hit) {
    auto& slots = detail::loop_local_slots();
    for (const auto& s : slots) {
      if (s.id == id_) {
        hit = {id_, s.value};
        return *static_cast<T*>(s.value);
      }
    }
    T& made = make_here(slots);
    hit = {id_, &made};
    return made;
  }

  T& make_here(std::vector<detail::LoopLocalSlot>& slots) {
    std::erase_if(slots, [](const detail::LoopLocalSlot& s) { return s.alive.expired(); });
    std::shared_ptr<T> value;
    {
      std::lock_guard lock(mutex_);
      value = std::shared_ptr<T>(make_());
      values_.push_back(value);
    }
    slots.push_back({id_, value.get(), std::weak_ptr<void>(value)});
    return *value;
  }

  const std::uint64_t id_ = detail::next_loop_local_id();  // never reused, unlike an address
  std::function<std::unique_ptr<T>()> make_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<T>> values_;
};

}  // namespace khz
