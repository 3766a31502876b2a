// SPDX-License-Identifier: Apache-2.0
#include "malloc_tuning.h"

#include <khz/common/log.h>

#include <malloc.h>

#include <algorithm>
#include <climits>

namespace khz::detail {

bool keep_freed_memory(std::size_t trim_threshold) noexcept {
  constexpr std::size_t kHeapUpTo = 32 * 1024 * 1024;  // glibc's largest M_MMAP_THRESHOLD on 64-bit
  const int trim = static_cast<int>(std::min<std::size_t>(trim_threshold, INT_MAX));
  if (::mallopt(M_TRIM_THRESHOLD, trim) == 0 || ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(kHeapUpTo)) == 0) {
    KHZ_LOG(warn, "server: malloc_trim_threshold " << trim_threshold << ": mallopt refused it; glibc's policy stays");
    return false;
  }
  return true;
}

}  // namespace khz::detail
