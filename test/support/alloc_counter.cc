// SPDX-License-Identifier: Apache-2.0
// The replaceable global allocation functions, counting per thread (see alloc_counter.h).
#include "support/alloc_counter.h"

#include <cstdlib>
#include <new>

namespace khz::test {
namespace {

thread_local std::uint64_t allocations = 0;
thread_local FailCounter* failing = nullptr;

// One allocation of `size` bytes (`align` 0: malloc's own alignment); null when it fails.
void* allocate(std::size_t size, std::size_t align) noexcept {
  ++allocations;
  if (failing != nullptr && failing->fail()) return nullptr;
  if (size == 0) size = 1;
  if (align == 0) return std::malloc(size);
  // aligned_alloc wants a size that is a multiple of the alignment.
  return std::aligned_alloc(align, (size + align - 1) / align * align);
}

// What operator new does with it: retry through the new-handler, else throw.
void* allocate_or_throw(std::size_t size, std::size_t align) {
  for (;;) {
    if (void* p = allocate(size, align)) return p;
    if (failing != nullptr) throw std::bad_alloc();  // an injected failure: no handler retries it
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

}  // namespace

std::uint64_t thread_allocations() noexcept { return allocations; }

FailAllocations::FailAllocations(FailCounter& counter) noexcept { failing = &counter; }
FailAllocations::~FailAllocations() { failing = nullptr; }

}  // namespace khz::test

using khz::test::allocate;
using khz::test::allocate_or_throw;

void* operator new(std::size_t n) { return allocate_or_throw(n, 0); }
void* operator new[](std::size_t n) { return allocate_or_throw(n, 0); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, static_cast<std::size_t>(a));
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&, std::align_val_t) noexcept { std::free(p); }
