// SPDX-License-Identifier: Apache-2.0
// Json::parse: the strict reader's document copied into an owned Json tree; Json's accessors.
#include <khz/app/bind.h>
#include <khz/app/json.h>

namespace khz {

namespace detail {

Json json_from_view(JsonView v) {
  switch (v.kind()) {
    case JsonKind::null: return Json(nullptr);
    case JsonKind::boolean: return Json(v.boolean());
    case JsonKind::int64: return Json(static_cast<long long>(v.int64()));
    case JsonKind::uint64: return Json(static_cast<unsigned long long>(v.uint64()));
    case JsonKind::number: return Json(v.number());
    case JsonKind::string: return Json(v.string());
    case JsonKind::array: {
      Json::Array a;
      a.reserve(v.size());
      for (JsonView e : v.elements()) a.push_back(json_from_view(e));  // depth is bounded by the parse
      return Json(std::move(a));
    }
    case JsonKind::object: {
      Json::Object o;
      o.reserve(v.size());
      for (auto [key, e] : v.members()) o.emplace_back(std::string(key), json_from_view(e));
      return Json(std::move(o));
    }
  }
  return Json();
}

}  // namespace detail

std::optional<Json> Json::parse(std::string_view text, JsonError* error, const JsonOptions& options) {
  JsonDocument doc;
  if (JsonError err = doc.parse(text, options)) {
    if (error != nullptr) *error = std::move(err);
    return std::nullopt;
  }
  return detail::json_from_view(doc.root());
}

std::optional<std::int64_t> Json::int64() const noexcept {
  if (const auto* i = std::get_if<std::int64_t>(&value_)) return *i;
  if (const auto* u = std::get_if<std::uint64_t>(&value_); u && *u <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<double> Json::number() const noexcept {
  if (const auto* i = std::get_if<std::int64_t>(&value_)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&value_)) return static_cast<double>(*u);
  if (const auto* d = std::get_if<double>(&value_)) return *d;
  return std::nullopt;
}

const Json* Json::find(std::string_view key) const noexcept {
  const Object* o = object();
  if (o == nullptr) return nullptr;
  for (const auto& [k, v] : *o) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool Json::operator==(const Json& other) const { return value_ == other.value_; }

}  // namespace khz
