// SPDX-License-Identifier: Apache-2.0
// The templates (hz-tool/templates) and api.proto compiled into hz (embed.cmake), by file name.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hz {

// The text of an embedded file ("handler.cc.mustache", "api.proto"); empty when there is none.
std::string_view embedded_file(std::string_view name);
// Every embedded file's name, in build order.
std::vector<std::string> embedded_names();

}  // namespace hz
