// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/conditional.h>
#include <khz/protocol/header_map.h>

#include "../common/ows.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace khz::protocol {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

// Exactly `n` digits.
bool number(std::string_view s, std::size_t n, int& out) noexcept {
  if (s.size() != n) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

int month_of(std::string_view s) noexcept {
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (s == kMonths[i]) return static_cast<int>(i);
  }
  return -1;
}

// "08:49:37"
bool clock_time(std::string_view s, int& h, int& m, int& sec) noexcept {
  return s.size() == 8 && s[2] == ':' && s[5] == ':' && number(s.substr(0, 2), 2, h) &&
         number(s.substr(3, 2), 2, m) && number(s.substr(6, 2), 2, sec) && h < 24 && m < 60 && sec <= 60;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<std::int64_t> to_seconds(int year, int month0, int day, int h, int m, int s) noexcept {
  static constexpr int kDaysIn[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month0 < 0 || day < 1 || day > kDaysIn[month0]) return std::nullopt;
  return days_from_civil(year, static_cast<unsigned>(month0 + 1), static_cast<unsigned>(day)) * 86400 +
         h * 3600 + m * 60 + s;
}

// An opaque-tag with an optional W/ prefix; the tag's quotes included. Empty when malformed.
std::string_view opaque(std::string_view tag, bool& weak) noexcept {
  weak = false;
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') {
    weak = true;
    tag.remove_prefix(2);
  }
  if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return {};
  return tag;
}

}  // namespace

std::string file_etag(std::int64_t mtime_ns, std::uint64_t size, std::string_view suffix) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "\"%llx-%llx", static_cast<unsigned long long>(mtime_ns),
                        static_cast<unsigned long long>(size));
  std::string tag(buf, static_cast<std::size_t>(n));
  if (!suffix.empty()) {
    tag += '-';
    tag += suffix;
  }
  tag += '"';
  return tag;
}

std::optional<std::int64_t> parse_http_date(std::string_view v) {
  v = trim_ows(v);
  int day = 0, year = 0, h = 0, m = 0, s = 0;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (v.size() == 29 && v[3] == ',' && v[4] == ' ' && v[7] == ' ' && v[11] == ' ' && v[16] == ' ' &&
      v[25] == ' ' && v.substr(26) == "GMT") {
    if (!number(v.substr(5, 2), 2, day) || !number(v.substr(12, 4), 4, year) || !clock_time(v.substr(17, 8), h, m, s)) {
      return std::nullopt;
    }
    return to_seconds(year, month_of(v.substr(8, 3)), day, h, m, s);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (v.size() == 24 && v[3] == ' ' && v[7] == ' ' && v[10] == ' ' && v[19] == ' ') {
    std::string_view d = v.substr(8, 2);
    if (d[0] == ' ') d.remove_prefix(1);
    if (!number(d, d.size(), day) || !clock_time(v.substr(11, 8), h, m, s) || !number(v.substr(20, 4), 4, year)) {
      return std::nullopt;
    }
    return to_seconds(year, month_of(v.substr(4, 3)), day, h, m, s);
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years are taken as 19xx/20xx per
  // RFC 9110 §5.6.7 (more than 50 years ahead is the past century).
  const std::size_t comma = v.find(", ");
  if (comma != std::string_view::npos && v.size() == comma + 2 + 22) {
    std::string_view rest = v.substr(comma + 2);
    if (rest[2] != '-' || rest[6] != '-' || rest[9] != ' ' || rest[18] != ' ' || rest.substr(19) != "GMT") return std::nullopt;
    int yy = 0;
    if (!number(rest.substr(0, 2), 2, day) || !number(rest.substr(7, 2), 2, yy) || !clock_time(rest.substr(10, 8), h, m, s)) {
      return std::nullopt;
    }
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    const int this_year = tm.tm_year + 1900;
    year = this_year / 100 * 100 + yy;
    if (year > this_year + 50) year -= 100;
    return to_seconds(year, month_of(rest.substr(3, 3)), day, h, m, s);
  }
  return std::nullopt;
}

std::string format_http_date(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[static_cast<std::size_t>(tm.tm_wday)].data(),
                        tm.tm_mday, kMonths[static_cast<std::size_t>(tm.tm_mon)].data(), tm.tm_year + 1900,
                        tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf, static_cast<std::size_t>(n));
}

bool etag_list_matches(std::string_view list, std::string_view etag, bool weak) {
  bool etag_weak = false;
  std::string_view mine = opaque(etag, etag_weak);
  if (mine.empty()) return false;
  list = trim_ows(list);
  if (list == "*") return true;
  // entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc excludes '"', so a comma inside one is data.
  std::size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) ++i;
    if (i >= list.size()) break;
    std::size_t start = i;
    if (list.compare(i, 2, "W/") == 0) i += 2;
    if (i >= list.size() || list[i] != '"') return false;  // malformed: no match
    const std::size_t close = list.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    i = close + 1;
    bool tag_weak = false;
    std::string_view tag = opaque(list.substr(start, i - start), tag_weak);
    if (tag == mine && (weak || (!tag_weak && !etag_weak))) return true;
  }
  return false;
}

Precondition evaluate_preconditions(std::string_view method, const HeaderMap& headers, const Validators& v) {
  bool has_if_match = false, if_match = false, has_if_none_match = false, if_none_match_hit = false;
  std::string_view if_unmodified_since, if_modified_since;
  for (const auto& f : headers) {
    if (iequals(f.name, "If-Match")) {
      has_if_match = true;
      if_match = if_match || etag_list_matches(f.value, v.etag, false);
    } else if (iequals(f.name, "If-None-Match")) {
      has_if_none_match = true;
      if_none_match_hit = if_none_match_hit || etag_list_matches(f.value, v.etag, true);
    } else if (iequals(f.name, "If-Unmodified-Since")) {
      if_unmodified_since = f.value;
    } else if (iequals(f.name, "If-Modified-Since")) {
      if_modified_since = f.value;
    }
  }
  const bool get_or_head = method == "GET" || method == "HEAD";
  // Step 1 and 2.
  if (has_if_match) {
    if (!if_match) return Precondition::failed;
  } else if (!if_unmodified_since.empty()) {
    if (auto date = parse_http_date(if_unmodified_since); date && v.last_modified > *date) return Precondition::failed;
  }
  // Step 3 and 4.
  if (has_if_none_match) {
    if (if_none_match_hit) return get_or_head ? Precondition::not_modified : Precondition::failed;
  } else if (get_or_head && !if_modified_since.empty()) {
    if (auto date = parse_http_date(if_modified_since); date && v.last_modified <= *date) return Precondition::not_modified;
  }
  return Precondition::proceed;
}

bool range_applies(std::string_view if_range, const Validators& v) {
  if_range = trim_ows(if_range);
  if (if_range.empty()) return true;
  if (if_range.front() == '"' || if_range.rfind("W/", 0) == 0) {
    bool weak = false;
    std::string_view tag = opaque(if_range, weak);
    if (tag.empty() || weak) return false;
    bool mine_weak = false;
    std::string_view mine = opaque(v.etag, mine_weak);
    return !mine_weak && tag == mine;
  }
  auto date = parse_http_date(if_range);
  return date && *date == v.last_modified;
}

}  // namespace khz::protocol
