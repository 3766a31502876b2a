// SPDX-License-Identifier: Apache-2.0
// BucketTable: the token buckets of one event loop, one per key, at most `max_keys` of them
// (least recently used first out). Private to middleware/rate_limit.
//
//   most recent                                   least recent
//   head_ <-> entry <-> entry <-> ... <-> entry <-> tail_      (evicted first)
//
// Threading: used from one event loop; not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace khz::middleware::detail {

class BucketTable {
 public:
  using Clock = std::chrono::steady_clock;

  struct Verdict {
    bool allowed = false;
    double tokens = 0;                 // left after this request
    Clock::duration retry_after{};     // refused: until one token is back
    Clock::duration full_in{};         // until the bucket is full again
  };

  BucketTable(double rate, double burst, std::size_t max_keys) : rate_(rate), burst_(burst), max_keys_(max_keys) {}
  BucketTable(const BucketTable&) = delete;
  BucketTable& operator=(const BucketTable&) = delete;

  // Refills `key`'s bucket up to `now` and takes a token when there is one. A new key starts
  // full; adding one past max_keys forgets the least recently used.
  Verdict take(std::string_view key, Clock::time_point now);

  std::size_t size() const noexcept { return map_.size(); }
  double rate() const noexcept { return rate_; }
  double burst() const noexcept { return burst_; }

 private:
  struct Entry {
    double tokens = 0;
    Clock::time_point last{};
    Entry* prev = nullptr;
    Entry* next = nullptr;
    const std::string* key = nullptr;  // the map node's key (stable: nodes never move)
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  void unlink(Entry* e) noexcept;
  void push_front(Entry* e) noexcept;

  double rate_;
  double burst_;
  std::size_t max_keys_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> map_;
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
};

}  // namespace khz::middleware::detail
