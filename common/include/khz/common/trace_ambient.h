// SPDX-License-Identifier: Apache-2.0
// khz::tracing::AmbientSpan: the ids of the current span as a Task chain carries them (like its
// cancel signal, <khz/common/task.h>), and the plain accessor for code that is not a coroutine.
// The tracing API (<khz/app/tracing.h>) makes spans; this header only carries their ids.
//
//   // Anywhere on the thread running a traced coroutine (a logger stamping its lines):
//   char trace_id[32], span_id[16];
//   if (khz::tracing::current_ids(trace_id, span_id)) line.add("trace_id", {trace_id, 32});
//
//   // From a coroutine (a Task): the ambient span's ids, or null.
//   const khz::tracing::AmbientSpan* s = co_await khz::tracing::current_ambient_span();
//
// How the plain accessor knows: each thread has one "running span" pointer. A Task sets it to
// its ambient span whenever its body starts or resumes, and clears it when the body suspends
// or ends; so it is the span of the coroutine now running on this thread, and null between
// coroutines (in the event loop, in transport code). When no trace is in play it is never
// written: each resume costs one thread-local read and a predictable branch.
// Threading: the pointer is per thread; an AmbientSpan belongs to the loop of its request and
// must outlive every Task that carries it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace khz::tracing {

// The current span's identity (W3C Trace Context): what a log line or an outbound request needs.
// Either id may be drawn late: a span nobody reads the ids of (an unsampled request that logs
// nothing and calls no one) then costs no random draw. The accessors draw a pending id on first
// read, so readers never see the difference. Reads may come from several threads at once (a
// handler's concurrent calls, each starting a child span on a client loop of its own): the first
// reader draws, the others wait for it, and all see the same ids. The setters and the
// draw-later calls are for whoever makes the span, before others can see it.
struct AmbientSpan {
  using TraceIdBytes = std::array<std::uint8_t, 16>;
  using SpanIdBytes = std::array<std::uint8_t, 8>;

  AmbientSpan() noexcept = default;
  // A copy is the same span: it has the same ids (drawn now if still pending).
  AmbientSpan(const AmbientSpan& other) noexcept { *this = other; }
  AmbientSpan& operator=(const AmbientSpan& other) noexcept {
    if (other.pending_.load(std::memory_order_acquire) != 0) other.draw_pending();
    flags = other.flags;
    trace_id_ = other.trace_id_;
    span_id_ = other.span_id_;
    pending_.store(0, std::memory_order_relaxed);
    return *this;
  }

  const TraceIdBytes& trace_id() const noexcept {
    if ((pending_.load(std::memory_order_acquire) & (kTracePending | kDrawing)) != 0) [[unlikely]] draw_pending();
    return trace_id_;
  }
  const SpanIdBytes& span_id() const noexcept {
    if ((pending_.load(std::memory_order_acquire) & (kSpanPending | kDrawing)) != 0) [[unlikely]] draw_pending();
    return span_id_;
  }
  void set_trace_id(const TraceIdBytes& id) noexcept {
    trace_id_ = id;
    pending_.store(pending_.load(std::memory_order_relaxed) & ~kTracePending, std::memory_order_release);
  }
  void set_span_id(const SpanIdBytes& id) noexcept {
    span_id_ = id;
    pending_.store(pending_.load(std::memory_order_relaxed) & ~kSpanPending, std::memory_order_release);
  }
  // Random ids (not all zero), drawn when first read.
  void draw_trace_id_later() noexcept {
    pending_.store(pending_.load(std::memory_order_relaxed) | kTracePending, std::memory_order_relaxed);
  }
  void draw_span_id_later() noexcept {
    pending_.store(pending_.load(std::memory_order_relaxed) | kSpanPending, std::memory_order_relaxed);
  }

  std::uint8_t flags = 0;  // bit 0: sampled

 private:
  static constexpr std::uint8_t kTracePending = 1, kSpanPending = 2, kDrawing = 4;
  void draw_pending() const noexcept;
  mutable TraceIdBytes trace_id_{};
  mutable SpanIdBytes span_id_{};
  mutable std::atomic<std::uint8_t> pending_{0};
};

namespace detail {
extern constinit thread_local const AmbientSpan* running_span;

// Called by Task on resume (enter) and suspend (leave); write only when something changes.
inline void enter_span(const AmbientSpan* span) noexcept {
  if (running_span != span) running_span = span;
}
inline void leave_span() noexcept {
  if (running_span != nullptr) running_span = nullptr;
}
}  // namespace detail

// The span of the coroutine running on this thread, or null (see above).
inline const AmbientSpan* running_span() noexcept { return detail::running_span; }

// 64 random bits that are not all zero, from a per-thread generator (splitmix64 seeded from
// std::random_device): unique ids, not secret ones.
std::uint64_t random_id_bits() noexcept;

// Writes the running span's trace-id (32) and span-id (16) as lowercase hex, no terminators;
// false, and nothing written, when no traced coroutine is running on this thread.
bool current_ids(char trace_id_hex[32], char span_id_hex[16]) noexcept;

}  // namespace khz::tracing
