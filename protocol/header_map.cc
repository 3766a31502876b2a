// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/header_map.h>

#include <algorithm>

namespace khz {
namespace {
inline char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }
}  // namespace

bool iequals_same_size(const char* a, const char* b, std::size_t n) noexcept {
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

HeaderMap::HeaderMap(const HeaderMap& other) {
  fields_.reserve(other.fields_.size());
  for (const auto& f : other.fields_) add(f.name, f.value);
}

HeaderMap& HeaderMap::operator=(const HeaderMap& other) {
  if (this != &other) {
    HeaderMap copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  std::string_view both = arena_.copy(name, value);
  push(both.substr(0, name.size()), both.substr(name.size()));
}

void HeaderMap::add_ref(std::string_view name, std::string_view value) { push(name, value); }

void HeaderMap::push(std::string_view name, std::string_view value) {
  // A message has a handful of fields: room for kInitialFields at once rather than growing
  // 1, 2, 4, 8 (a map built per request, a proxy's upstream request, would allocate four times).
  if (fields_.capacity() == 0) fields_.reserve(kInitialFields);
  Field& f = fields_.emplace_back();
  f.name = name;
  f.value = value;
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  if (!fields_.empty()) remove(name);
  add(name, value);
}

void HeaderMap::set_ref(std::string_view name, std::string_view value) {
  if (!fields_.empty()) remove(name);
  add_ref(name, value);
}

std::size_t HeaderMap::remove(std::string_view name) noexcept {
  auto it = std::remove_if(fields_.begin(), fields_.end(), [&](const Field& f) { return iequals(f.name, name); });
  std::size_t n = static_cast<std::size_t>(fields_.end() - it);
  fields_.erase(it, fields_.end());
  return n;
}

std::string_view HeaderMap::get(std::string_view name) const noexcept {
  for (const auto& f : fields_) {
    if (iequals(f.name, name)) return f.value;
  }
  return {};
}

bool HeaderMap::contains(std::string_view name) const noexcept {
  return std::any_of(fields_.begin(), fields_.end(), [&](const Field& f) { return iequals(f.name, name); });
}

std::size_t HeaderMap::count(std::string_view name) const noexcept {
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
