// SPDX-License-Identifier: Apache-2.0
// khz::Arena: bump allocation of bytes that all die together (one request's copied tokens).
//
//   std::string_view v = arena.copy(piece_a, piece_b);   // valid until arena.reset()
//
// reset() keeps the largest block, so a reused arena stops allocating once warm.
// Not thread-safe; not copyable (copies of data that point into it must re-copy).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace khz {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&&) noexcept = default;
  Arena& operator=(Arena&&) noexcept = default;

  // n bytes, aligned to 8, valid until reset() or destruction.
  char* allocate(std::size_t n);

  // Copies the concatenation of `a` and `b` into the arena.
  std::string_view copy(std::string_view a, std::string_view b = {});

  // Forgets every allocation; keeps the largest block for reuse. Inline: it runs several
  // times per request, and with one block (the steady state) it is a store.
  void reset() noexcept {
    if (blocks_.size() > 1) keep_largest_block();
    used_ = 0;
  }

  std::size_t bytes_reserved() const noexcept;

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t size;
  };
  void keep_largest_block() noexcept;

  std::vector<Block> blocks_;
  std::size_t used_ = 0;  // in blocks_.back()
};

}  // namespace khz
