// SPDX-License-Identifier: Apache-2.0
// Reading and checking khz-gateway's configuration file (config.h).
#include "config.h"

#include <khz/app/bind.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

namespace khz::gateway {
namespace {

bool iequal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// "host", "host:port", "[v6]", "[v6]:port": the host.
std::string_view strip_port(std::string_view authority) noexcept {
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  const auto colon = authority.find(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

// Rules across the document that field lists cannot say.
void check_references(const GatewayConfig& config, std::vector<std::string>& problems) {
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& r = config.routes[i];
    const std::string at = "routes[" + std::to_string(i) + "]";
    if (!r.upstream.empty() && !config.upstreams.contains(r.upstream)) {
      problems.push_back(at + ".upstream: no upstream group \"" + r.upstream + "\"");
    }
    std::string host = r.host;
    std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string prefix = r.path_prefix.size() > 1 && r.path_prefix.back() == '/'
                             ? r.path_prefix.substr(0, r.path_prefix.size() - 1)
                             : r.path_prefix;
    if (!seen.emplace(host, prefix).second) {
      problems.push_back(at + ": another route already takes host \"" + r.host + "\" and path_prefix \"" +
                         r.path_prefix + "\"");
    }
  }
  for (const auto& [name, group] : config.upstreams) {
    if (group.balance == "weighted_round_robin") continue;
    for (std::size_t t = 0; t < group.targets.size(); ++t) {
      if (group.targets[t].weight != 1) {
        problems.push_back("upstreams." + name + ".targets[" + std::to_string(t) +
                           "].weight: weights apply to balance \"weighted_round_robin\" only");
      }
    }
  }
}

}  // namespace

GatewayConfig parse_config(std::string_view json) {
  auto bound = khz::from_json<GatewayConfig>(json, {}, khz::UnknownMembers::reject);
  std::vector<std::string> problems;
  auto collect = [&](const khz::BindErrors& errors) {
    for (const auto& e : errors.fields()) problems.push_back((e.field.empty() ? "" : e.field + ": ") + e.message);
  };
  collect(bound.errors());
  if (problems.empty()) {
    collect(khz::validate(*bound));
    check_references(*bound, problems);
  }
  if (!problems.empty()) {
    std::string text;
    for (const auto& p : problems) text += p + "\n";
    text.pop_back();
    throw ConfigError(text);
  }
  return std::move(*bound);
}

GatewayConfig load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return parse_config(text.str());
  } catch (const ConfigError& e) {
    // Each problem prefixed with the file, as compilers do.
    std::string out;
    std::istringstream lines(e.what());
    for (std::string line; std::getline(lines, line);) out += path + ": " + line + "\n";
    out.pop_back();
    throw ConfigError(out);
  }
}

bool host_matches(std::string_view route_host, std::string_view host) noexcept {
  if (route_host.empty()) return true;
  host = strip_port(host);
  if (route_host.starts_with("*.")) {
    const std::string_view suffix = route_host.substr(1);  // ".example.com"
    return host.size() > suffix.size() && iequal(host.substr(host.size() - suffix.size()), suffix);
  }
  return iequal(route_host, host);
}

bool prefix_matches(std::string_view prefix, std::string_view path) noexcept {
  if (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix == "/") return true;
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace khz::gateway
