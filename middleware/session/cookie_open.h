// SPDX-License-Identifier: Apache-2.0
// Private to middleware/session (and its fuzz target): the cookie store's decode path without
// a coroutine, for a store made by cookie_store().
#pragma once

#include <khz/middleware/session.h>

#include <string_view>

namespace khz::middleware::detail {

// What cookie_store's load(value) gives: the record, or malformed, bad_signature, too_large.
Result<SessionRecord> open_cookie(const SessionStore& cookie_store, std::string_view value);
// What its save(record, ttl) gives: the cookie value, or too_large.
Result<std::string> seal_cookie(const SessionStore& cookie_store, const SessionRecord& record);

}  // namespace khz::middleware::detail
