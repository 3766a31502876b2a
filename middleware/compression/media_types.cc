// SPDX-License-Identifier: Apache-2.0
#include "media_types.h"

namespace khz::middleware::compression_detail {

void media_type_of(std::string_view content_type, std::string& out) {
  content_type = content_type.substr(0, content_type.find(';'));
  // One copy, then lower case and blanks dropped in place (a type is a few dozen bytes).
  out.assign(content_type);
  std::size_t kept = 0;
  for (char c : out) {
    if (c == ' ' || c == '\t') continue;
    out[kept++] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  out.resize(kept);
}

bool media_type_matches(std::string_view type, std::string_view pattern) noexcept {
  const std::size_t slash = pattern.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view sub = pattern.substr(slash + 1);
  if (sub.empty() || sub[0] != '*') return type == pattern;
  // "major/*" or "major/*+suffix".
  if (type.size() <= slash + 1 || type.substr(0, slash + 1) != pattern.substr(0, slash + 1)) return false;
  const std::string_view suffix = sub.substr(1);
  return suffix.empty() || (type.size() > slash + 1 + suffix.size() && type.ends_with(suffix));
}

}  // namespace khz::middleware::compression_detail
