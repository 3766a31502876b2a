// SPDX-License-Identifier: Apache-2.0
// The running span of this thread (<khz/common/trace_ambient.h>).
#include <khz/common/trace_ambient.h>

namespace khz::tracing {
namespace detail {
constinit thread_local const AmbientSpan* running_span = nullptr;
}  // namespace detail

namespace {
void to_hex(const std::uint8_t* bytes, std::size_t n, char* out) noexcept {
  static constexpr char digits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
}
}  // namespace

bool current_ids(char trace_id_hex[32], char span_id_hex[16]) noexcept {
  const AmbientSpan* span = detail::running_span;
  if (span == nullptr) return false;
  to_hex(span->trace_id.data(), span->trace_id.size(), trace_id_hex);
  to_hex(span->span_id.data(), span->span_id.size(), span_id_hex);
  return true;
}

}  // namespace khz::tracing
