// SPDX-License-Identifier: Apache-2.0
// khz::Arena: bump allocation of bytes that all die together (one request's copied tokens).
//
//   std::string_view v = arena.copy(piece_a, piece_b);   // valid until arena.reset()
//
// reset() keeps the largest block, so a reused arena stops allocating once warm.
// Not thread-safe; not copyable (copies of data that point into it must re-copy).
#pragma once

#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

namespace khz {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& other) noexcept
      : head_(std::exchange(other.head_, Block{})), used_(std::exchange(other.used_, 0)), older_(std::move(other.older_)) {}
  Arena& operator=(Arena&& other) noexcept {
    if (this != &other) {
      release();
      head_ = std::exchange(other.head_, Block{});
      used_ = std::exchange(other.used_, 0);
      older_ = std::move(other.older_);
    }
    return *this;
  }
  ~Arena() { release(); }

  // n bytes, aligned to 8, valid until reset() or destruction. Inline while the block has
  // room (a header map copies several fields a request through here).
  char* allocate(std::size_t n) {
    n = (n + 7) & ~std::size_t{7};
    if (head_.data == nullptr || head_.size - used_ < n) [[unlikely]] return allocate_in_new_block(n);
    char* p = head_.data + used_;
    used_ += n;
    return p;
  }

  // Copies the concatenation of `a` and `b` into the arena.
  std::string_view copy(std::string_view a, std::string_view b = {});

  // Forgets every allocation; keeps the largest block for reuse. Inline: it runs several
  // times per request, and with one block (the steady state) it is a store.
  void reset() noexcept {
    if (!older_.empty()) keep_largest_block();
    used_ = 0;
  }

  std::size_t bytes_reserved() const noexcept;

 private:
  // Blocks come from the thread's small-block pool (small_pool.h) up to its largest class: a
  // map built per request (a proxy's upstream request, a client's response) allocates nothing
  // from malloc once the thread is warm.
  struct Block {
    char* data = nullptr;
    std::size_t size = 0;
  };
  char* allocate_in_new_block(std::size_t n);  // n rounded up already
  static void free_block(Block b) noexcept;
  void keep_largest_block() noexcept;
  void release() noexcept;

  Block head_{};             // the block allocations come from
  std::size_t used_ = 0;     // in head_
  std::vector<Block> older_;  // full blocks before head_ (a map that outgrew its first block)
};

}  // namespace khz
