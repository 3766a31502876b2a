// SPDX-License-Identifier: Apache-2.0
#include "field_value.h"

#include <khz/common/log_limiter.h>

#include <chrono>
#include <ostream>

namespace khz::protocol {
namespace {

// A refused name as the log shows it: at most 64 bytes, control bytes as '?'.
struct ShownName {
  std::string_view name;
};

std::ostream& operator<<(std::ostream& os, ShownName shown) {
  for (char c : shown.name.substr(0, 64)) {
    os << (static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  }
  if (shown.name.size() > 64) os << "...";
  return os;
}

}  // namespace

void log_unsendable_field(std::string_view who, std::string_view name) {
  // A handler that copies a request's bytes into a field does this on every request.
  static log::Limiter limiter(10, std::chrono::seconds(10));
  KHZ_LOG_LIMITED(limiter, error, who << ": field \"" << ShownName{name}
                                      << "\" not sent: a control byte (CR, LF, ...) in its value, or a name with one (or SP, ':', non-ASCII)");
}

}  // namespace khz::protocol
