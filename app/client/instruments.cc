// SPDX-License-Identifier: Apache-2.0
#include "instruments.h"

namespace khz {

namespace {
constexpr std::string_view outcome_names[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "error"};
}  // namespace

ClientInstruments::ClientInstruments(metrics::Registry& registry)
    : requests_(registry.counter("http_client_requests", "HTTP client calls (redirects and retries included).",
                                 {"server_address", "outcome"})),
      duration_(registry.histogram("http_client_request_duration_seconds",
                                   "Duration of HTTP client calls, until the response head (the whole body when "
                                   "buffered).",
                                   {"server_address", "outcome"})) {
  TickClock::calibrate();  // here, not on the first call
}

std::string_view ClientInstruments::server_address(std::string_view url, std::string& scratch) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  const std::string_view scheme = url.substr(0, scheme_end);
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);  // userinfo
  const auto bracket = rest.rfind(']');
  const auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) return rest;
  scratch.assign(rest);
  scratch += (scheme == "https" || scheme == "wss") ? ":443" : ":80";
  return scratch;
}

void ClientInstruments::end(std::uint64_t start, std::string_view url, int status, std::error_code error) {
  const auto elapsed = static_cast<std::int64_t>(TickClock::now() - start);
  const double seconds = elapsed > 0 ? TickClock::seconds(static_cast<std::uint64_t>(elapsed)) : 0.0;
  auto& cache = cache_.get();
  const std::string_view upstream = server_address(url, cache.scratch);
  auto it = cache.upstreams.find(upstream);
  if (it == cache.upstreams.end()) it = cache.upstreams.emplace(std::string(upstream), std::array<Series, outcomes>{}).first;
  std::size_t o = 5;
  if (!error) {
    const int c = status / 100 - 1;
    o = c < 0 ? 0 : c > 4 ? 4 : static_cast<std::size_t>(c);
  }
  Series& s = it->second[o];
  if (!s.resolved) {
    const std::string_view values[] = {upstream, outcome_names[o]};
    s.requests = requests_.with(values).for_this_thread();
    s.duration = duration_.with(values).for_this_thread();
    s.resolved = true;
  }
  s.requests.inc();
  s.duration.observe(seconds);
}

}  // namespace khz
