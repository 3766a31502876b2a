// SPDX-License-Identifier: Apache-2.0
// Private to protocol/: the Date header value both HTTP versions send (RFC 9110 §6.6.1).
#pragma once

#include <ctime>
#include <string_view>

namespace khz::protocol {

// The current IMF-fixdate ("Tue, 24 Nov 2026 19:36:26 GMT"), formatted at most once per
// second per thread. Valid until the next call on this thread.
std::string_view http_date();
// The second (time_t) that the last http_date() on this thread formatted; -1 before any.
std::time_t http_date_second() noexcept;

}  // namespace khz::protocol
