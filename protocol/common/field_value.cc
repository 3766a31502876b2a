// SPDX-License-Identifier: Apache-2.0
#include "field_value.h"

#include <khz/common/log.h>

#include <string>

namespace khz::protocol {

void log_unsendable_field(std::string_view who, std::string_view name) {
  std::string shown(name.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  KHZ_LOG(error, who << ": field \"" << shown << (name.size() > 64 ? "..." : "")
                     << "\" not sent: a control byte (CR, LF, ...) in its value, or a name with one (or SP, ':', non-ASCII)");
}

}  // namespace khz::protocol
