// SPDX-License-Identifier: Apache-2.0
// Test support: counts heap allocations per thread, and can make them fail. Linking
// alloc_counter.cc (the khz_alloc_counter object library) replaces the global operator new and
// delete of the whole test binary (every form: plain, array, nothrow, aligned, sized); they
// allocate as the default ones do (malloc, std::bad_alloc or null on failure) and count each
// allocation on the thread that asks for it.
//
//   khz::test::AllocationScope scope;                     // counts from here, on this thread
//   router.find("/users/42", params);
//   REQUIRE(scope.count() == 0);
//
//   khz::test::FailCounter counter(3);                    // the 3rd allocation (and later) fails
//   {
//     khz::test::FailAllocations failing(counter);        // on this thread, while it lives
//     REQUIRE_THROWS_AS(tree.add("/a/:b", 1), std::bad_alloc);
//   }
//
// A server's loop thread is another thread: ask thread_allocations() from a handler there.
// Allocations that bypass operator new (malloc from C libraries: OpenSSL, nghttp2) are not seen.
// Built only without sanitizers for exact counts of the request path (an ASan build allocates
// every coroutine frame on purpose); the counter itself works under them.
#pragma once

#include "support/fail_counter.h"

#include <cstdint>

namespace khz::test {

// Allocations through operator new on the calling thread since it started.
std::uint64_t thread_allocations() noexcept;

// The allocations made on this thread since the scope began.
class AllocationScope {
 public:
  AllocationScope() noexcept : start_(thread_allocations()) {}
  std::uint64_t count() const noexcept { return thread_allocations() - start_; }

 private:
  std::uint64_t start_;
};

// While it lives, every operator new on this thread asks counter.fail() and, when told to,
// fails: std::bad_alloc, or null from the nothrow forms. Not nestable; `counter` must outlive it.
class FailAllocations {
 public:
  explicit FailAllocations(FailCounter& counter) noexcept;
  ~FailAllocations();
  FailAllocations(const FailAllocations&) = delete;
  FailAllocations& operator=(const FailAllocations&) = delete;
};

}  // namespace khz::test
