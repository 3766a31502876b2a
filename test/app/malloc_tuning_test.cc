// SPDX-License-Identifier: Apache-2.0
// ServerOptions::malloc_trim_threshold: glibc keeps freed memory at the heap's top instead of
// handing it back to the kernel (and faulting it in again) after every burst. Read through
// mallinfo2, which describes glibc's own allocator: the sanitizers replace it, so the check
// runs in the optimised build only.
#include <khz/app/server.h>

#include <catch2/catch.hpp>

#include <malloc.h>

#include <cstdlib>
#include <vector>

#if !defined(__SANITIZE_ADDRESS__)

namespace {

// Bytes the main arena got from the kernel (sbrk) after a burst of `n` 16 KiB blocks,
// allocated together and freed together (what a completion-based loop does with a batch of
// messages).
std::size_t heap_after_burst(std::size_t n) {
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < n; ++i) {
    void* p = std::malloc(16 * 1024);
    static_cast<volatile char*>(p)[0] = 1;
    blocks.push_back(p);
  }
  for (void* p : blocks) std::free(p);
  return mallinfo2().arena;
}

}  // namespace

TEST_CASE("malloc_trim_threshold: freed memory stays at the heap's top after a burst") {
  // The burst (48 MiB) is larger than whatever free space earlier tests left in the heap, so
  // it grows the heap's top, and what happens to that top when it is freed is the question.
  constexpr std::size_t kBlocks = 3072;
  constexpr std::size_t kBurst = kBlocks * 16 * 1024;
  // glibc's default: the top beyond 128 KiB goes back to the kernel when freed.
  REQUIRE(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1);
  REQUIRE(heap_after_burst(kBlocks) < kBurst);
  khz::Server server({.address = "127.0.0.1:0", .loops = 1, .malloc_trim_threshold = 64 * 1024 * 1024});
  REQUIRE(server.start());
  REQUIRE(heap_after_burst(kBlocks) >= kBurst);  // kept for the next burst
  server.shutdown();
  mallopt(M_TRIM_THRESHOLD, 128 * 1024);  // the rest of the binary as it was
}

#endif
