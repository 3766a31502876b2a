// SPDX-License-Identifier: Apache-2.0
// Instance <-> its JSON value in the registry.
#include <khz/governance/instance.h>

#include <khz/app/json.h>
#include <khz/app/json_view.h>

#include <algorithm>

namespace khz::governance {

std::string to_json(const Instance& instance) {
  Json::Object tags;
  for (const auto& [name, value] : instance.tags) tags.emplace_back(name, value);
  return Json(H{{"service", instance.service},
                {"address", instance.address},
                {"weight", instance.weight},
                {"tags", Json(std::move(tags))}})
      .dump();
}

std::optional<Instance> parse_instance(std::string_view json) {
  JsonDocument doc;
  if (doc.parse(json)) return std::nullopt;
  JsonView root = doc.root();
  if (root.kind() != JsonKind::object) return std::nullopt;
  Instance out;
  for (auto [key, value] : root.members()) {
    if (key == "service" || key == "address") {
      if (value.kind() != JsonKind::string) return std::nullopt;
      (key == "service" ? out.service : out.address) = std::string(value.string());
    } else if (key == "weight") {
      if (!value.is_number()) return std::nullopt;
      out.weight = static_cast<int>(std::clamp(value.number(), 0.0, 10000.0));
    } else if (key == "tags") {
      if (value.kind() != JsonKind::object) return std::nullopt;
      for (auto [name, tag] : value.members()) {
        if (tag.kind() != JsonKind::string) return std::nullopt;
        out.tags.insert_or_assign(std::string(name), std::string(tag.string()));
      }
    }
  }
  if (out.service.empty() || out.address.empty()) return std::nullopt;
  return out;
}

}  // namespace khz::governance
