// SPDX-License-Identifier: Apache-2.0
#include <khz/common/version.h>

namespace khz {

std::string_view version() noexcept { return KHZ_VERSION_STRING; }

}  // namespace khz
