// SPDX-License-Identifier: Apache-2.0
// middleware/cors's origin matcher (origin_match.h): the input is "pattern\norigin". Checks
// what a match promises: a matched origin is well formed, starts with the pattern's scheme,
// ends with its suffix, and what the '*' covered holds no port, path, userinfo or query.
#include "origin_match.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace khz::middleware::cors_detail;

namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iends_with(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (lower(s[s.size() - suffix.size() + i]) != suffix[i]) return false;
  }
  return true;
}

void check_match(const OriginPattern& p, std::string_view origin) {
  if (!matches_origin_pattern(p, origin)) return;
  if (!iends_with(origin, p.suffix)) std::abort();
  std::string head(origin.substr(0, p.prefix.size()));
  for (char& c : head) c = lower(c);
  if (head != p.prefix) std::abort();
  const std::string_view middle = origin.substr(p.prefix.size(), origin.size() - p.prefix.size() - p.suffix.size());
  if (middle.empty() || middle.find_first_of(":/@?#[] ") != std::string_view::npos) std::abort();
  if (origin.size() <= 2048 && is_well_formed_origin(std::string(p.prefix) + "x" + p.suffix) && !is_well_formed_origin(origin)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  const std::string_view pattern_text = in.substr(0, nl);
  const std::string_view origin = nl == std::string_view::npos ? in : in.substr(nl + 1);
  (void)is_well_formed_origin(origin);
  static const OriginPattern fixed = *parse_origin_pattern("https://*.example.com");
  check_match(fixed, origin);
  if (const auto p = parse_origin_pattern(pattern_text)) {
    if (p->prefix.find("://") == std::string::npos || p->suffix.empty() || p->suffix.front() != '.') std::abort();
    check_match(*p, origin);
  }
  return 0;
}
