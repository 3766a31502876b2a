// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/header_map.h>

#include "common/field_value.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace khz {
namespace {
inline char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// The 8 bytes of `w` with A-Z made a-z and every other byte as it was.
inline std::uint64_t lower_word(std::uint64_t w) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const std::uint64_t low7 = w & ~highs;
  const std::uint64_t from_a = low7 + (0x80 - 'A') * ones;       // high bit: byte >= 'A'
  const std::uint64_t past_z = low7 + (0x80 - 'Z' - 1) * ones;   // high bit: byte > 'Z'
  const std::uint64_t upper = (from_a ^ past_z) & ~w & highs;    // 'A'..'Z', ASCII only
  return w | (upper >> 2);
}

inline std::uint64_t load(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

}  // namespace

bool iequals_same_size(const char* a, const char* b, std::size_t n) noexcept {
  if (n >= 8) {  // a word at a time, the last one overlapping
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      const std::uint64_t x = load(a + i);
      const std::uint64_t y = load(b + i);
      if (x != y && lower_word(x) != lower_word(y)) return false;
    }
    const std::uint64_t x = load(a + n - 8);
    const std::uint64_t y = load(b + n - 8);
    return x == y || lower_word(x) == lower_word(y);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i] && lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && is_ows(item.front())) item.remove_prefix(1);
    while (!item.empty() && is_ows(item.back())) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

HeaderMap::HeaderMap(const HeaderMap& other) : unsendable_(other.unsendable_) {
  fields_.reserve(other.fields_.size());
  for (const auto& f : other.fields_) add_parsed(f.name, f.value);
}

HeaderMap& HeaderMap::operator=(const HeaderMap& other) {
  if (this != &other) {
    HeaderMap copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  if (!protocol::is_sendable_field(name, value)) [[unlikely]] unsendable_ = true;
  std::string_view both = arena_.copy(name, value);
  push(both.substr(0, name.size()), both.substr(name.size()));
}

void HeaderMap::add_parsed(std::string_view name, std::string_view value) {
  std::string_view both = arena_.copy(name, value);
  push(both.substr(0, name.size()), both.substr(name.size()));
}

void HeaderMap::grow() {
  // A message has a handful of fields: room for kInitialFields at once rather than growing
  // 1, 2, 4, 8 (a map built per request, a proxy's upstream request, would allocate four times).
  fields_.reserve(fields_.capacity() == 0 ? kInitialFields : 2 * fields_.capacity());
}

std::size_t HeaderMap::remove_held(std::string_view name) noexcept {
  auto it = std::remove_if(fields_.begin(), fields_.end(), [&](const Field& f) { return iequals(f.name, name); });
  std::size_t n = static_cast<std::size_t>(fields_.end() - it);
  if (n == 0) return 0;
  fields_.erase(it, fields_.end());
  names_ = 0;  // the removed name's bit may be another field's too
  for (const Field& f : fields_) names_ |= name_bit(f.name);
  return n;
}

std::string_view HeaderMap::get_held(std::string_view name) const noexcept {
  for (const auto& f : fields_) {
    if (iequals(f.name, name)) return f.value;
  }
  return {};
}

bool HeaderMap::contains_held(std::string_view name) const noexcept {
  return std::any_of(fields_.begin(), fields_.end(), [&](const Field& f) { return iequals(f.name, name); });
}

std::size_t HeaderMap::count_held(std::string_view name) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(fields_.begin(), fields_.end(), [&](const Field& f) { return iequals(f.name, name); }));
}

void HeaderMap::own() {
  for (Field& f : fields_) {
    f.name = arena_.copy(f.name);
    f.value = arena_.copy(f.value);
  }
}

}  // namespace khz
