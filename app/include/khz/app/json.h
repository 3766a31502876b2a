// SPDX-License-Identifier: Apache-2.0
// khz::Json: a small JSON value for rendering responses; khz::H builds an object in place,
// as Hertz's utils.H does.
//
//   ctx.json(200, khz::H{{"message", "pong"}, {"count", 3}, {"tags", khz::Json::Array{"a", "b"}}});
//   std::string text = khz::Json(khz::H{{"ok", true}}).dump();   // {"ok":true}
//
// Keys keep their insertion order. Strings are UTF-8; dump() escapes as JSON requires.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace khz {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() noexcept : value_(nullptr) {}
  Json(std::nullptr_t) noexcept : value_(nullptr) {}
  Json(bool v) noexcept : value_(v) {}
  Json(int v) noexcept : value_(static_cast<std::int64_t>(v)) {}
  Json(long v) noexcept : value_(static_cast<std::int64_t>(v)) {}
  Json(long long v) noexcept : value_(static_cast<std::int64_t>(v)) {}
  Json(unsigned v) noexcept : value_(static_cast<std::int64_t>(v)) {}
  Json(unsigned long v) noexcept : value_(static_cast<std::uint64_t>(v)) {}
  Json(unsigned long long v) noexcept : value_(static_cast<std::uint64_t>(v)) {}
  Json(double v) noexcept : value_(v) {}
  Json(const char* v) : value_(std::string(v)) {}
  Json(std::string v) : value_(std::move(v)) {}
  Json(std::string_view v) : value_(std::string(v)) {}
  Json(Array v) : value_(std::move(v)) {}
  Json(Object v) : value_(std::move(v)) {}

  // Serialises compactly (no spaces).
  std::string dump() const;
  void dump_to(std::string& out) const;

  const auto& variant() const noexcept { return value_; }

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, std::uint64_t, double, std::string, Array, Object> value_;
};

using H = Json::Object;

}  // namespace khz
