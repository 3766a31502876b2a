// SPDX-License-Identifier: Apache-2.0
// What a caught exception says, for a log line or an error body:
//
//   catch (...) { KHZ_LOG(error, "handler threw: " << khz::exception_text(std::current_exception())); }
//
// what() of a std::exception; "a non-standard exception" for anything else; "" for a null
// pointer.
#pragma once

#include <exception>
#include <string>

namespace khz {

std::string exception_text(const std::exception_ptr& e);

}  // namespace khz
