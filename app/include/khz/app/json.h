// SPDX-License-Identifier: Apache-2.0
// khz::Json: a small owned JSON value, for rendering responses and for reading JSON whose shape
// has no struct; khz::H builds an object in place, as Hertz's utils.H does.
//
//   ctx.json(200, khz::H{{"message", "pong"}, {"count", 3}, {"tags", khz::Json::Array{"a", "b"}}});
//   std::string text = khz::Json(khz::H{{"ok", true}}).dump();   // {"ok":true}
//
//   khz::JsonError err;
//   std::optional<khz::Json> doc = khz::Json::parse(R"({"user":{"id":7}})", &err);
//   if (const khz::Json* id = doc ? doc->find("user") : nullptr; id && (id = id->find("id"))) use(*id->int64());
//
// Keys keep their insertion order. Strings are UTF-8; dump() escapes as JSON requires. parse()
// is the strict reader of <khz/app/json_view.h> (RFC 8259, UTF-8 checked, depth limit, numbers
// that do not fit and duplicate keys are errors); a struct with a field list binds without
// this tree (<khz/app/bind.h>).
#pragma once

#include <khz/app/json_view.h>

#include <cstdint>
#include <optional>
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

  // Parses `text`; nullopt (and the reason in *error when given) when it is not strict JSON.
  static std::optional<Json> parse(std::string_view text, JsonError* error = nullptr, const JsonOptions& options = {});

  // ---- reading: each returns null / nullopt when the value is of another kind
  bool is_null() const noexcept { return std::holds_alternative<std::nullptr_t>(value_); }
  const bool* boolean() const noexcept { return std::get_if<bool>(&value_); }
  // Integers that fit an int64_t (a uint64_t above INT64_MAX does not).
  std::optional<std::int64_t> int64() const noexcept;
  // Any number, as a double.
  std::optional<double> number() const noexcept;
  const std::string* string() const noexcept { return std::get_if<std::string>(&value_); }
  const Array* array() const noexcept { return std::get_if<Array>(&value_); }
  const Object* object() const noexcept { return std::get_if<Object>(&value_); }
  // An object's member by key (the first); null when absent or not an object.
  const Json* find(std::string_view key) const noexcept;

  bool operator==(const Json& other) const;

  // Serialises compactly (no spaces).
  std::string dump() const;
  void dump_to(std::string& out) const;

  const auto& variant() const noexcept { return value_; }

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, std::uint64_t, double, std::string, Array, Object> value_;
};

using H = Json::Object;

}  // namespace khz
