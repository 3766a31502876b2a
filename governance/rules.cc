// SPDX-License-Identifier: Apache-2.0
// parse_rules: the routing rules' JSON reader (rules.h).
#include <khz/governance/rules.h>

#include <khz/app/json_view.h>

namespace khz::governance {
namespace {

constexpr std::size_t kMaxSubsets = 64;
constexpr std::size_t kMaxRoutes = 64;
constexpr std::size_t kMaxPerRoute = 16;

bool fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

// {"name": "value", ...} into pairs; names lower-cased when asked.
bool string_pairs(JsonView v, std::string_view what, bool lower, std::vector<std::pair<std::string, std::string>>& out,
                  std::string* error) {
  if (v.kind() != JsonKind::object) return fail(error, std::string(what) + " must be an object");
  for (auto [name, value] : v.members()) {
    if (value.kind() != JsonKind::string) return fail(error, std::string(what) + " values must be strings");
    if (name.empty()) return fail(error, std::string(what) + " names must not be empty");
    std::string key(name);
    if (lower) {
      for (char& c : key) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out.emplace_back(std::move(key), std::string(value.string()));
    if (out.size() > kMaxPerRoute) return fail(error, "too many conditions in " + std::string(what));
  }
  return true;
}

bool parse_route(JsonView v, const RouteRules& rules, RouteRule& out, std::string* error) {
  if (v.kind() != JsonKind::object) return fail(error, "a route must be an object");
  for (auto [key, value] : v.members()) {
    if (key == "match") {
      if (value.kind() != JsonKind::object) return fail(error, "match must be an object");
      for (auto [what, cond] : value.members()) {
        if (what == "headers") {
          if (!string_pairs(cond, "match.headers", true, out.match.headers, error)) return false;
        } else if (what == "baggage") {
          if (!string_pairs(cond, "match.baggage", false, out.match.baggage, error)) return false;
        } else {
          return fail(error, "unknown match member \"" + std::string(what) + "\"");
        }
      }
    } else if (key == "destinations") {
      if (value.kind() != JsonKind::array || value.size() == 0) return fail(error, "destinations must be a non-empty array");
      if (value.size() > kMaxPerRoute) return fail(error, "too many destinations");
      for (JsonView d : value.elements()) {
        if (d.kind() != JsonKind::object) return fail(error, "a destination must be an object");
        Destination dest;
        for (auto [dk, dv] : d.members()) {
          if (dk == "subset" && dv.kind() == JsonKind::string) {
            dest.subset = std::string(dv.string());
          } else if (dk == "weight" && (dv.kind() == JsonKind::int64 || dv.kind() == JsonKind::uint64)) {
            if (dv.uint64() > 1000000 || dv.int64() < 0) return fail(error, "weight must be in [0, 1000000]");
            dest.weight = static_cast<int>(dv.int64());
          } else {
            return fail(error, "bad destination member \"" + std::string(dk) + "\"");
          }
        }
        if (!rules.subsets.contains(dest.subset)) return fail(error, "undefined subset \"" + dest.subset + "\"");
        out.destinations.push_back(std::move(dest));
      }
    } else {
      return fail(error, "unknown route member \"" + std::string(key) + "\"");
    }
  }
  if (out.destinations.empty()) return fail(error, "a route needs destinations");
  return true;
}

}  // namespace

std::optional<RouteRules> parse_rules(std::string_view json, std::string* error) {
  JsonDocument doc;
  if (auto err = doc.parse(json)) {
    fail(error, err.message);
    return std::nullopt;
  }
  JsonView root = doc.root();
  if (root.kind() != JsonKind::object) {
    fail(error, "rules must be an object");
    return std::nullopt;
  }
  RouteRules rules;
  // Subsets first: routes refer to them.
  JsonView subsets = root.find("subsets");
  if (subsets.found()) {
    if (subsets.kind() != JsonKind::object || subsets.size() > kMaxSubsets) {
      fail(error, "subsets must be an object of at most 64 subsets");
      return std::nullopt;
    }
    for (auto [name, tags] : subsets.members()) {
      std::vector<std::pair<std::string, std::string>> pairs;
      if (!string_pairs(tags, "a subset's tags", false, pairs, error)) return std::nullopt;
      rules.subsets.emplace(std::string(name), Tags(pairs.begin(), pairs.end()));
    }
  }
  for (auto [key, value] : root.members()) {
    if (key == "subsets") continue;
    if (key != "routes") {
      fail(error, "unknown member \"" + std::string(key) + "\"");
      return std::nullopt;
    }
    if (value.kind() != JsonKind::array || value.size() > kMaxRoutes) {
      fail(error, "routes must be an array of at most 64 routes");
      return std::nullopt;
    }
    for (JsonView r : value.elements()) {
      RouteRule route;
      if (!parse_route(r, rules, route, error)) return std::nullopt;
      rules.routes.push_back(std::move(route));
    }
  }
  return rules;
}

}  // namespace khz::governance
