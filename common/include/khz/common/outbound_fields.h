// SPDX-License-Identifier: Apache-2.0
// khz::OutboundFields: header fields that ride a Task chain, as its cancel signal does, for the
// outbound requests made along it. A server handler's chain carries its RequestContext's
// (RequestContext::set_outbound_header: a request id, trace context); the HTTP client reads
// the ambient set (`co_await khz::current_outbound_fields()`) and adds each field a request
// does not set itself.
//
//   khz::OutboundFields fields;
//   fields.set("X-Request-ID", "7f3a");
//   khz::Task<> t = work();
//   t.set_outbound_fields(&fields);   // before it is awaited; inherited by what it awaits
//
// Names compare case-insensitively (ASCII). Storage is reused across clear(): a pooled owner
// (the RequestContext) allocates only when a value outgrows what it held before.
// Threading: one thread (the owner's loop); the set must outlive the Tasks that carry it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz {

class OutboundFields {
 public:
  // Adds the field, or replaces the value of one of that name.
  void set(std::string_view name, std::string_view value);
  // The value; "" when absent (valid until the next set or clear).
  std::string_view get(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept;
  void clear() noexcept { size_ = 0; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  // The i-th field, in the order first set.
  std::string_view name(std::size_t i) const noexcept { return fields_[i].first; }
  std::string_view value(std::size_t i) const noexcept { return fields_[i].second; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;  // [0, size_) in use
  std::size_t size_ = 0;
};

}  // namespace khz
