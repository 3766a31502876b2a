// SPDX-License-Identifier: Apache-2.0
#include "http_date.h"

#include <cstdio>
#include <ctime>

namespace khz::protocol {
namespace {

struct DateCache {
  std::time_t second = -1;
  char text[32] = {};
  std::size_t size = 0;
};
thread_local DateCache date_cache;

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

std::string_view http_date() {
  std::time_t now = std::time(nullptr);
  DateCache& c = date_cache;
  if (now != c.second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    int n = std::snprintf(c.text, sizeof c.text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                          tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    c.size = static_cast<std::size_t>(n);
    c.second = now;
  }
  return {c.text, c.size};
}

std::time_t http_date_second() noexcept { return date_cache.second; }

}  // namespace khz::protocol
