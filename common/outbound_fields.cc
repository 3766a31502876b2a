// SPDX-License-Identifier: Apache-2.0
#include <khz/common/outbound_fields.h>

namespace khz {
namespace {

bool same_name(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

void OutboundFields::set(std::string_view name, std::string_view value) {
  for (std::size_t i = 0; i < size_; ++i) {
    if (same_name(fields_[i].first, name)) {
      fields_[i].second.assign(value);
      return;
    }
  }
  if (size_ == fields_.size()) fields_.emplace_back();
  fields_[size_].first.assign(name);
  fields_[size_].second.assign(value);
  ++size_;
}

std::string_view OutboundFields::get(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < size_; ++i) {
    if (same_name(fields_[i].first, name)) return fields_[i].second;
  }
  return {};
}

bool OutboundFields::contains(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < size_; ++i) {
    if (same_name(fields_[i].first, name)) return true;
  }
  return false;
}

}  // namespace khz
