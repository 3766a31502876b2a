// SPDX-License-Identifier: Apache-2.0
#include "origin_match.h"

#include <algorithm>

namespace khz::middleware::cors_detail {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool is_well_formed_origin(std::string_view o) noexcept {
  if (o == "null") return true;
  const auto sep = o.find("://");
  if (sep == std::string_view::npos || sep == 0 || sep + 3 >= o.size() || o.size() > 2048) return false;
  for (std::size_t i = 0; i < sep; ++i) {
    const char c = lower(o[i]);
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) return false;
  }
  for (std::size_t i = sep + 3; i < o.size(); ++i) {
    const char c = lower(o[i]);
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == ':' ||
          c == '[' || c == ']')) {
      return false;
    }
  }
  return true;
}

std::optional<OriginPattern> parse_origin_pattern(std::string_view text) {
  std::string p(text);
  std::transform(p.begin(), p.end(), p.begin(), lower);
  const auto star = p.find('*');
  const auto sep = p.find("://");
  if (star == std::string::npos || p.find('*', star + 1) != std::string::npos || sep == std::string::npos ||
      star != sep + 3 || star + 2 >= p.size() || p[star + 1] != '.' ||
      !is_well_formed_origin(p.substr(0, star) + "x" + p.substr(star + 1))) {
    return std::nullopt;
  }
  return OriginPattern{p.substr(0, star), p.substr(star + 1)};
}

bool matches_origin_pattern(const OriginPattern& p, std::string_view origin) noexcept {
  if (origin.size() <= p.prefix.size() + p.suffix.size()) return false;  // the '*' matches 1+ chars
  for (std::size_t i = 0; i < p.prefix.size(); ++i) {
    if (lower(origin[i]) != p.prefix[i]) return false;
  }
  const std::size_t tail = origin.size() - p.suffix.size();
  for (std::size_t i = 0; i < p.suffix.size(); ++i) {
    if (lower(origin[tail + i]) != p.suffix[i]) return false;
  }
  const std::string_view middle = origin.substr(p.prefix.size(), tail - p.prefix.size());
  if (middle.front() == '.' || middle.back() == '.') return false;
  return std::all_of(middle.begin(), middle.end(), [](char c) {
    c = lower(c);
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

}  // namespace khz::middleware::cors_detail
