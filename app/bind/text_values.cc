// SPDX-License-Identifier: Apache-2.0
// Text into values, for the sources that carry text (path, query, form, cookie, header,
// defaults): integers and floats by std::from_chars over the whole text (no leading '+', no
// spaces, no trailing bytes), booleans as Go's strconv.ParseBool reads them, durations in Go's
// syntax and timestamps in RFC 3339.
#include <khz/app/bind.h>

#include <charconv>
#include <cmath>
#include <limits>

namespace khz::detail {
namespace {

template <class N>
bool whole(std::string_view text, N& out) noexcept {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && p == end;
}

bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) noexcept {
  if (at + n > s.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

bool parse_signed(std::string_view text, std::int64_t& out) noexcept { return whole(text, out); }
bool parse_unsigned(std::string_view text, std::uint64_t& out) noexcept { return whole(text, out); }

bool parse_double(std::string_view text, double& out) noexcept {
  // from_chars also takes "inf" and "nan": a bound number must be finite.
  return whole(text, out) && std::isfinite(out);
}

bool parse_bool(std::string_view t, bool& out) noexcept {
  if (t == "1" || t == "t" || t == "T" || t == "true" || t == "TRUE" || t == "True") return out = true, true;
  if (t == "0" || t == "f" || t == "F" || t == "false" || t == "FALSE" || t == "False") return out = false, true;
  return false;
}

// Go's time.ParseDuration: [-+]? then one or more <decimal><unit>, units ns us µs ms s m h;
// "0" alone is zero.
bool parse_duration(std::string_view s, std::chrono::nanoseconds& out) noexcept {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) negative = s[0] == '-', s.remove_prefix(1);
  if (s == "0") return out = {}, true;
  if (s.empty()) return false;
  long double total = 0;
  while (!s.empty()) {
    std::size_t n = 0;
    while (n < s.size() && ((s[n] >= '0' && s[n] <= '9') || s[n] == '.')) ++n;
    if (n == 0) return false;
    double value;
    if (!whole(s.substr(0, n), value)) return false;
    s.remove_prefix(n);
    std::size_t u = 0;
    while (u < s.size() && !((s[u] >= '0' && s[u] <= '9') || s[u] == '.')) ++u;
    std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    long double scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") scale = 1e3L;
    else if (unit == "ms") scale = 1e6L;
    else if (unit == "s") scale = 1e9L;
    else if (unit == "m") scale = 60e9L;
    else if (unit == "h") scale = 3600e9L;
    else return false;
    total += static_cast<long double>(value) * scale;
    if (total > static_cast<long double>(std::numeric_limits<std::int64_t>::max())) return false;
  }
  out = std::chrono::nanoseconds(static_cast<std::int64_t>(negative ? -total : total));
  return true;
}

// RFC 3339 §5.6: full-date "T" full-time, time-offset "Z" or +hh:mm; 't'/'z' and a space for
// the 'T' accepted (§5.6 note); leap second 60 not accepted.
bool parse_timestamp(std::string_view s, std::chrono::sys_seconds& out, std::int64_t& nanos) noexcept {
  using namespace std::chrono;
  int y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return false;
  }
  year_month_day date{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!date.ok() || h > 23 || mi > 59 || sec > 59) return false;
  std::size_t at = 19;
  std::int64_t fraction = 0;
  if (at < s.size() && s[at] == '.') {
    std::size_t start = ++at;
    std::int64_t scale = 100000000;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
      fraction += (s[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == start) return false;
  }
  int offset_minutes = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    int oh, om;
    if (!digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' || !digits(s, at + 4, 2, om) ||
        oh > 23 || om > 59) {
      return false;
    }
    offset_minutes = (oh * 60 + om) * (s[at] == '-' ? -1 : 1);
    at += 6;
  } else {
    return false;
  }
  if (at != s.size()) return false;
  out = sys_days(date) + hours(h) + minutes(mi) + seconds(sec) - minutes(offset_minutes);
  nanos = fraction;
  return true;
}

void write_timestamp(std::string& out, std::chrono::sys_seconds t, std::int64_t nanos) {
  using namespace std::chrono;
  auto day_start = floor<days>(t);
  year_month_day date{day_start};
  hh_mm_ss<seconds> time{t - day_start};
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "\"%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(date.year()),
                        static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                        static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                        static_cast<int>(time.seconds().count()));
  out.append(buf, static_cast<std::size_t>(n));
  if (nanos != 0) {
    n = std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(nanos));
    while (n > 1 && buf[n - 1] == '0') --n;  // shortest: .5, not .500000000
    out.append(buf, static_cast<std::size_t>(n));
  }
  out.append("Z\"");
}

}  // namespace khz::detail
