// SPDX-License-Identifier: Apache-2.0
// Private to app/: ServerOptions::malloc_trim_threshold applied to glibc's malloc.
#pragma once

#include <cstddef>

namespace khz::detail {

// Keeps up to `trim_threshold` freed bytes at the heap's top and serves allocations up to
// 32 MiB from the heap (mallopt M_TRIM_THRESHOLD, M_MMAP_THRESHOLD). Process-wide. Returns
// false (and logs) when the C library refused.
bool keep_freed_memory(std::size_t trim_threshold) noexcept;

}  // namespace khz::detail
