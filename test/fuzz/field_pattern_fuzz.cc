// SPDX-License-Identifier: Apache-2.0
// Fuzzes field patterns: a pattern and a value from the input (split at the first NUL). Where
// the one-pass matcher takes the pattern (app/bind/pattern.cc), its answer must be RE2's.
#include <khz/app/bind.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t nul = input.find('\0');
  if (nul == std::string_view::npos || nul > 256) return 0;
  std::string_view pattern = input.substr(0, nul);
  std::string_view value = input.substr(nul + 1);
  int simple = khz::detail::match_simple_pattern(pattern, value);
  if (simple >= 0 && (simple == 1) != khz::detail::match_pattern_re2(pattern, value)) std::abort();
  return 0;
}
