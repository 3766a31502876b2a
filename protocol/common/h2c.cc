// SPDX-License-Identifier: Apache-2.0
#include "h2c.h"

namespace khz::protocol {

bool wants_h2c_upgrade(const Request& request) noexcept {
  return has_token(request.header("Upgrade"), "h2c") && request.headers().count("HTTP2-Settings") == 1 &&
         has_token(request.header("Connection"), "Upgrade") && has_token(request.header("Connection"), "HTTP2-Settings");
}

}  // namespace khz::protocol
