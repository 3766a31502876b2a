// SPDX-License-Identifier: Apache-2.0
// The running span of this thread (<khz/common/trace_ambient.h>).
#include <khz/common/trace_ambient.h>

#include <cstring>
#include <random>
#include <thread>

namespace khz::tracing {
namespace detail {
constinit thread_local const AmbientSpan* running_span = nullptr;
}  // namespace detail

namespace {
// The generator's state is constant-initialised (0: not seeded yet), so a draw reads it without
// a guard.
constinit thread_local std::uint64_t random_state = 0;

[[gnu::noinline, gnu::cold]] std::uint64_t seed_random() noexcept {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ reinterpret_cast<std::uintptr_t>(&random_state);
}

void to_hex(const std::uint8_t* bytes, std::size_t n, char* out) noexcept {
  static constexpr char digits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
}
}  // namespace

std::uint64_t random_id_bits() noexcept {
  for (;;) {
    std::uint64_t z = random_state;
    if (z == 0) [[unlikely]] z = seed_random();
    z += 0x9e3779b97f4a7c15ULL;
    random_state = z != 0 ? z : 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    if (z != 0) [[likely]] return z;  // splitmix64 maps one state in 2^64 to 0: draw again
  }
}

void AmbientSpan::draw_pending() const noexcept {
  std::uint8_t p = pending_.load(std::memory_order_acquire);
  while (p != 0) {
    if ((p & kDrawing) != 0) {  // another thread draws: wait for its ids
      std::this_thread::yield();
      p = pending_.load(std::memory_order_acquire);
      continue;
    }
    if (!pending_.compare_exchange_weak(p, p | kDrawing, std::memory_order_acquire)) continue;
    if (p & kTracePending) {
      std::uint64_t high = random_id_bits(), low = random_id_bits();
      std::memcpy(trace_id_.data(), &high, 8);
      std::memcpy(trace_id_.data() + 8, &low, 8);
    }
    if (p & kSpanPending) {
      std::uint64_t id = random_id_bits();
      std::memcpy(span_id_.data(), &id, 8);
    }
    pending_.store(0, std::memory_order_release);
    return;
  }
}

bool current_ids(char trace_id_hex[32], char span_id_hex[16]) noexcept {
  const AmbientSpan* span = detail::running_span;
  if (span == nullptr) return false;
  to_hex(span->trace_id().data(), span->trace_id().size(), trace_id_hex);
  to_hex(span->span_id().data(), span->span_id().size(), span_id_hex);
  return true;
}

}  // namespace khz::tracing
