// SPDX-License-Identifier: Apache-2.0
// DiscoveryResolver: a copy-on-write table of services (instances filtered by tags, endpoints,
// subsets and routes), read lock-free per thread.
#include <khz/governance/discovery.h>

#include <khz/common/log.h>
#include <khz/protocol/baggage.h>
#include <khz/protocol/header_map.h>

#include <charconv>
#include <map>
#include <random>
#include <vector>

namespace khz::governance {

// One service as resolve() sees it: immutable once published.
struct ServiceView {
  std::vector<Endpoint> all;
  std::optional<RouteRules> rules;
  std::vector<std::vector<Endpoint>> subsets;  // rules->subsets' endpoints, in map order
  std::vector<std::string_view> subset_names;  // into rules->subsets
  bool rules_use_baggage = false;
};

struct DiscoveryResolver::Table {
  std::map<std::string, std::shared_ptr<const ServiceView>, std::less<>> services;
};

struct DiscoveryResolver::Sources {
  std::map<std::string, std::vector<Instance>, std::less<>> instances;
  std::map<std::string, RouteRules, std::less<>> rules;
};

namespace {

std::atomic<std::uint64_t> next_resolver_id{1};

bool has_tags(const Instance& i, const Tags& tags) {
  for (const auto& [name, value] : tags) {
    if (i.tag(name) != value) return false;
  }
  return true;
}

// "host:port" -> Endpoint; "unix:..." as it is; "[v6]:port" without the brackets.
std::optional<Endpoint> endpoint_of(const Instance& i) {
  Endpoint e;
  e.weight = i.weight;
  if (i.address.starts_with("unix:")) {
    e.host = i.address;
    return e;
  }
  auto colon = i.address.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string_view host(i.address.data(), colon);
  std::string_view port(i.address.data() + colon + 1, i.address.size() - colon - 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) return std::nullopt;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  e.host = std::string(host);
  e.port = static_cast<std::uint16_t>(value);
  return e;
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

bool matches(const RouteMatch& m, const HeaderMap* headers, const protocol::Baggage* baggage) {
  for (const auto& [name, value] : m.headers) {
    if (headers == nullptr) return false;
    if (headers->get(name) != value) return false;
  }
  for (const auto& [key, value] : m.baggage) {
    if (baggage == nullptr) return false;
    auto got = baggage->get(key);
    if (!got || *got != value) return false;
  }
  return true;
}

}  // namespace

DiscoveryResolver::DiscoveryResolver(std::shared_ptr<Registry> registry, DiscoveryOptions options)
    : options_(std::move(options)), id_(next_resolver_id.fetch_add(1)), table_(std::make_shared<Table>()),
      sources_(std::make_unique<Sources>()) {
  if (options_.metrics) {
    auto& m = *options_.metrics;
    disconnects_ = m.counter("khz_discovery_registry_disconnects", "Times the registry became unreachable.").with({});
    connected_callback_ = m.callback("khz_discovery_registry_connected", "1 while the registry is reachable.",
                                     metrics::Kind::gauge, {}, [this](metrics::CallbackSink& sink) {
                                       sink.value({}, connected() ? 1 : 0);
                                     });
    instances_callback_ = m.callback("khz_discovery_instances", "Instances a service resolves to now.",
                                     metrics::Kind::gauge, {"service"}, [this](metrics::CallbackSink& sink) {
                                       std::shared_ptr<const Table> table;
                                       {
                                         std::lock_guard lock(mutex_);
                                         table = table_;
                                       }
                                       for (const auto& [name, view] : table->services) {
                                         sink.value({name}, static_cast<double>(view->all.size()));
                                       }
                                     });
  }
  if (registry) {
    watch_ = registry->watch(options_.service,
                             {.on_update = [this](std::string_view service,
                                                  std::span<const Instance> instances) { update(service, instances); },
                              .on_connection = [this](bool up) { on_connection(up); }});
  }
}

DiscoveryResolver::~DiscoveryResolver() {
  watch_.reset();
  if (options_.metrics) {
    options_.metrics->remove_callback(connected_callback_);
    options_.metrics->remove_callback(instances_callback_);
  }
}

void DiscoveryResolver::on_connection(bool up) {
  // Called on the registry's loop only. The disconnect is counted before connected() turns
  // false (release; connected() acquires), so whoever sees it false sees it counted.
  const bool lost = !up && connected_.load(std::memory_order_relaxed);
  if (lost && disconnects_) disconnects_.inc();
  connected_.store(up, std::memory_order_release);
  if (lost) KHZ_LOG(warn, "discovery: registry unreachable; serving the last known instances");
}

void DiscoveryResolver::update(std::string_view service, std::span<const Instance> instances) {
  std::lock_guard lock(mutex_);
  auto& slot = sources_->instances[std::string(service)];
  slot.assign(instances.begin(), instances.end());
  publish(service);
}

void DiscoveryResolver::set_rules(std::string_view service, std::optional<RouteRules> rules) {
  std::lock_guard lock(mutex_);
  if (rules) {
    sources_->rules.insert_or_assign(std::string(service), std::move(*rules));
  } else if (auto it = sources_->rules.find(service); it != sources_->rules.end()) {
    sources_->rules.erase(it);
  }
  publish(service);
}

// Under mutex_: rebuilds one service's view and publishes a new table (other services' views
// are shared with the old one).
void DiscoveryResolver::publish(std::string_view service) {
  auto view = std::make_shared<ServiceView>();
  std::vector<const Instance*> usable;
  if (auto it = sources_->instances.find(service); it != sources_->instances.end()) {
    for (const Instance& i : it->second) {
      if (i.weight <= 0 || !has_tags(i, options_.tags)) continue;
      if (auto e = endpoint_of(i)) {
        view->all.push_back(std::move(*e));
        usable.push_back(&i);
      } else {
        KHZ_LOG(info, "discovery: " << service << ": ignoring the address \"" << i.address << "\"");
      }
    }
  }
  if (auto it = sources_->rules.find(service); it != sources_->rules.end()) {
    view->rules = it->second;
    for (const auto& [name, tags] : view->rules->subsets) {
      view->subset_names.push_back(name);
      auto& endpoints = view->subsets.emplace_back();
      for (std::size_t k = 0; k < usable.size(); ++k) {
        if (has_tags(*usable[k], tags)) endpoints.push_back(view->all[k]);
      }
    }
    for (const RouteRule& r : view->rules->routes) view->rules_use_baggage |= !r.match.baggage.empty();
  }
  auto table = std::make_shared<Table>(*table_);
  if (view->all.empty() && !view->rules) {
    table->services.erase(std::string(service));
  } else {
    table->services.insert_or_assign(std::string(service), std::move(view));
  }
  table_ = std::move(table);
  generation_.fetch_add(1, std::memory_order_release);
}

std::span<const Endpoint> DiscoveryResolver::pick_route(const ServiceView& view, const HeaderMap* headers) {
  if (!view.rules) return view.all;
  std::optional<protocol::Baggage> baggage;
  if (view.rules_use_baggage && headers != nullptr) {
    // The request's `baggage` field lines (the client adds the ambient baggage as one).
    for (const auto& field : *headers) {
      if (!iequals(field.name, "baggage")) continue;
      if (!baggage) baggage.emplace();
      baggage->add_header(field.value);
    }
  }
  for (const RouteRule& route : view.rules->routes) {
    if (!matches(route.match, headers, baggage ? &*baggage : nullptr)) continue;
    // Weighted choice among destinations whose subset has instances.
    long total = 0;
    for (const Destination& d : route.destinations) {
      auto idx = view.rules->subsets.find(d.subset);
      std::size_t k = static_cast<std::size_t>(std::distance(view.rules->subsets.begin(), idx));
      if (!view.subsets[k].empty()) total += d.weight;
    }
    if (total <= 0) return view.all;
    long r = std::uniform_int_distribution<long>(0, total - 1)(rng());
    for (const Destination& d : route.destinations) {
      auto idx = view.rules->subsets.find(d.subset);
      std::size_t k = static_cast<std::size_t>(std::distance(view.rules->subsets.begin(), idx));
      if (view.subsets[k].empty()) continue;
      r -= d.weight;
      if (r < 0) return view.subsets[k];
    }
    return view.all;
  }
  return view.all;
}

namespace {

// The calling thread's snapshot of one resolver's table.
struct ThreadSnapshot {
  std::uint64_t owner = 0;
  std::uint64_t generation = 0;
  std::shared_ptr<const DiscoveryResolver::Table> table;
};
thread_local ThreadSnapshot snapshot;

}  // namespace

std::span<const Endpoint> DiscoveryResolver::resolve(std::string_view host, std::uint16_t) {
  return resolve_with(host, nullptr);
}

std::span<const Endpoint> DiscoveryResolver::resolve(std::string_view host, std::uint16_t, const HeaderMap& headers) {
  return resolve_with(host, &headers);
}

std::span<const Endpoint> DiscoveryResolver::resolve_with(std::string_view host, const HeaderMap* headers) {
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  if (snapshot.owner != id_ || snapshot.generation != generation) {
    std::lock_guard lock(mutex_);
    snapshot.owner = id_;
    snapshot.generation = generation_.load(std::memory_order_relaxed);
    snapshot.table = table_;
  }
  auto it = snapshot.table->services.find(host);
  if (it == snapshot.table->services.end()) return {};
  return pick_route(*it->second, headers);
}

}  // namespace khz::governance
