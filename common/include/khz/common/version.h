// SPDX-License-Identifier: Apache-2.0
// The library's version, as the build that produced it was told (CMake's project VERSION).
//
//   std::printf("khz %s\n", khz::version().data());    // "0.1.0"
//
// The view points at static storage and is NUL-terminated.
#pragma once

#include <string_view>

namespace khz {

std::string_view version() noexcept;

}  // namespace khz
