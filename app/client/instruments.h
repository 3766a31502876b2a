// SPDX-License-Identifier: Apache-2.0
// ClientInstruments: a Client's calls counted and timed by upstream and outcome
// (ClientOptions::metrics). Each thread keeps its own upstream -> series table (one lookup by
// the URL's host:port, no allocation once that upstream has been seen on the thread), holding
// each series as that thread's cells; durations come from khz::TickClock.
// Threading: begin()/end() from any loop; the counts go to per-thread cells.
#pragma once

#include <khz/common/loop_local.h>
#include <khz/common/metrics.h>
#include <khz/common/tick_clock.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

namespace khz {

class ClientInstruments {
 public:
  explicit ClientInstruments(metrics::Registry& registry);

  // The call's start, in TickClock ticks, for end().
  std::uint64_t begin() const { return TickClock::now(); }
  // A call to `url` ended with `status` (its final response's), or failed with `error`.
  void end(std::uint64_t start, std::string_view url, int status, std::error_code error);

  // "host:port" of an absolute URL (the default port made explicit); "" when it has none.
  static std::string_view server_address(std::string_view url, std::string& scratch);

 private:
  static constexpr std::size_t outcomes = 6;  // 1xx..5xx, error
  struct Series {  // this thread's cells of one series
    metrics::ThreadCounter requests;
    metrics::ThreadHistogram duration;
    bool resolved = false;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct ThreadCache {
    std::unordered_map<std::string, std::array<Series, outcomes>, Hash, std::equal_to<>> upstreams;
    std::string scratch;
  };

  metrics::Family<metrics::Counter> requests_;
  metrics::Family<metrics::Histogram> duration_;
  LoopLocal<ThreadCache> cache_;
};

}  // namespace khz
