// SPDX-License-Identifier: Apache-2.0
// Optional whitespace (RFC 9110 §5.6.3), trimmed where field values are split into parts.
#pragma once

#include <string_view>

namespace khz::protocol {

// `s` without its leading and trailing spaces and tabs.
inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace khz::protocol
