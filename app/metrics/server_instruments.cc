// SPDX-License-Identifier: Apache-2.0
#include "server_instruments.h"

namespace khz {

namespace {

constexpr std::string_view method_names[ServerInstruments::methods] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"};
constexpr std::string_view class_names[ServerInstruments::classes] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr std::string_view protocol_names[ServerInstruments::protocols] = {"1.0", "1.1", "2"};

std::size_t method_index(std::string_view m) noexcept {
  // By length first: one or two comparisons.
  switch (m.size()) {
    case 3: return m == "GET" ? 0 : m == "PUT" ? 3 : 9;
    case 4: return m == "HEAD" ? 1 : m == "POST" ? 2 : 9;
    case 5: return m == "TRACE" ? 7 : m == "PATCH" ? 8 : 9;
    case 6: return m == "DELETE" ? 4 : 9;
    case 7: return m == "CONNECT" ? 5 : m == "OPTIONS" ? 6 : 9;
    default: return 9;
  }
}

std::size_t class_index(int status) noexcept {
  const int c = status / 100 - 1;
  return c < 0 ? 0 : c > 4 ? 4 : static_cast<std::size_t>(c);
}

std::size_t protocol_index(Version v) noexcept {
  switch (v) {
    case Version::http10: return 0;
    case Version::http11: return 1;
    case Version::http2: return 2;
  }
  return 1;
}

}  // namespace

ServerInstruments::ServerInstruments(metrics::Registry& registry)
    : registry_(registry),
      requests_family_(registry.counter("http_server_requests", "HTTP requests served.",
                                        {"http_request_method", "http_route", "http_response_status_class",
                                         "network_protocol_version"})),
      duration_family_(registry.histogram("http_server_request_duration_seconds",
                                          "Duration of HTTP server requests, from the end of the request head to "
                                          "the end of the handler.",
                                          {"http_request_method", "http_route", "http_response_status_class",
                                           "network_protocol_version"})),
      request_bytes_(registry.counter("http_server_request_body_bytes",
                                      "Bytes of request bodies read whole (streamed bodies are not counted).")
                         .with({})),
      response_bytes_(registry.counter("http_server_response_body_bytes",
                                       "Bytes of response bodies set whole or from a file (streamed bodies are not "
                                       "counted).")
                          .with({})) {
  TickClock::calibrate();  // here, not on the first request
  // Lock order: the registry's (held while this runs), then cache_'s; nothing holding cache_'s
  // takes the registry's.
  active_callback_ = registry.callback("http_server_active_requests", "HTTP requests being served now.",
                                       metrics::Kind::gauge, {}, [this](metrics::CallbackSink& sink) {
                                         std::int64_t in_flight = 0;
                                         cache_.for_each([&in_flight](const ThreadCache& c) {
                                           in_flight += c.in_flight.load(std::memory_order_relaxed);
                                         });
                                         sink.value({}, static_cast<double>(in_flight));
                                       });
}

ServerInstruments::~ServerInstruments() { registry_.remove_callback(active_callback_); }

void ServerInstruments::add_route(std::uint32_t id, std::string method, std::string pattern) {
  if (patterns_.size() <= id) {
    patterns_.resize(id + 1);
    route_methods_.resize(id + 1);
  }
  patterns_[id] = std::move(pattern);
  route_methods_[id] = std::move(method);
}

ServerInstruments::Series& ServerInstruments::resolve(Series& slot, std::uint32_t route_id, std::size_t method,
                                                      std::size_t cls, std::size_t proto) {
  const std::string_view values[] = {method_names[method], patterns_[route_id], class_names[cls],
                                     protocol_names[proto]};
  slot.requests = requests_family_.with(values).for_this_thread();
  slot.duration = duration_family_.with(values).for_this_thread();
  slot.resolved = true;
  return slot;
}

void ServerInstruments::end(std::uint64_t start, std::uint32_t route_id, std::string_view method, int status,
                            Version version, std::uint64_t request_bytes, std::uint64_t response_bytes) {
  const auto elapsed = static_cast<std::int64_t>(TickClock::now() - start);  // never negative: kept as a guard
  if (route_id >= patterns_.size()) route_id = 0;
  const std::size_t m = method_index(method);
  const std::size_t c = class_index(status);
  const std::size_t p = protocol_index(version);
  auto& loop = cache_.get();  // this thread's (begin() may have run on another: the gauge sums threads)
  if (!loop.bytes_resolved) [[unlikely]] {
    loop.request_bytes = request_bytes_.for_this_thread();
    loop.response_bytes = response_bytes_.for_this_thread();
    loop.bytes_resolved = true;
  }
  loop.requests.store(loop.requests.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  loop.in_flight.store(loop.in_flight.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  auto& routes = loop.routes;
  if (routes.size() <= route_id) routes.resize(patterns_.size());
  auto& block = routes[route_id];
  if (!block) block = std::make_unique<std::array<Series, per_route>>();
  Series* s = &(*block)[(m * classes + c) * protocols + p];
  if (!s->resolved) [[unlikely]] s = &resolve(*s, route_id, m, c, p);
  s->requests.inc();
  s->duration.observe(elapsed > 0 ? TickClock::seconds(static_cast<std::uint64_t>(elapsed)) : 0.0);
  if (request_bytes != 0) loop.request_bytes.inc(request_bytes);
  if (response_bytes != 0) loop.response_bytes.inc(response_bytes);
}

std::vector<ServerInstruments::LoopSnapshot> ServerInstruments::per_loop() const {
  std::vector<LoopSnapshot> out;
  cache_.for_each([&out](const ThreadCache& c) {
    out.push_back({c.thread, c.requests.load(std::memory_order_relaxed), c.in_flight.load(std::memory_order_relaxed)});
  });
  return out;
}

std::vector<std::uint64_t> ServerInstruments::requests_per_route() const {
  std::vector<std::uint64_t> out(patterns_.size(), 0);
  for (const auto& fam : registry_.collect()) {
    if (fam.name != "http_server_requests") continue;
    for (const auto& s : fam.samples) {
      for (std::size_t id = 0; id < patterns_.size(); ++id) {
        if (s.label_values.at(1) != patterns_[id]) continue;
        if (id != 0 && s.label_values.at(0) != method_names[method_index(route_methods_[id])]) continue;
        out[id] += static_cast<std::uint64_t>(s.value);
      }
    }
  }
  return out;
}

}  // namespace khz
