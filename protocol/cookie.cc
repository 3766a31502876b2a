// SPDX-License-Identifier: Apache-2.0
// The cookie codec (RFC 6265bis): Cookie header pairs, Set-Cookie serialisation with its
// validation, Set-Cookie parsing (§5.6) and cookie dates (§5.1.1).
#include <khz/protocol/cookie.h>
#include <khz/protocol/header_map.h>  // iequals

#include <cstdint>
#include <limits>

namespace khz {
namespace {

using Clock = std::chrono::system_clock;

constexpr std::size_t max_name_value_bytes = 4096;  // RFC 6265bis §5.6 / §4.1
constexpr std::size_t max_attribute_bytes = 1024;

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim_wsp(std::string_view s) noexcept {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// tchar (RFC 9110 §5.6.2).
bool is_tchar(char c) noexcept {
  if (is_digit(c) || is_alpha(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E (RFC 6265bis §4.1.1).
bool is_cookie_octet(char ch) noexcept {
  auto c = static_cast<unsigned char>(ch);
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) || (c >= 0x3C && c <= 0x5B) ||
         (c >= 0x5D && c <= 0x7E);
}

bool starts_with_ci(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool valid_value(std::string_view v) noexcept {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  for (char c : v) {
    if (!is_cookie_octet(c)) return false;
  }
  return true;
}

bool valid_domain(std::string_view d) noexcept {
  if (!d.empty() && d.front() == '.') d.remove_prefix(1);
  if (d.empty()) return false;
  for (char c : d) {
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.') return false;
  }
  return true;
}

// Any CHAR except CTLs or ';' (RFC 6265bis §4.1.1 path-value).
bool valid_path(std::string_view p) noexcept {
  for (char ch : p) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7F || c == ';') return false;
  }
  return true;
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian; days since 1970-01-01).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

bool is_leap(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

// Seconds since the epoch to a time_point, clamped to its range.
Clock::time_point from_unix_seconds(std::int64_t secs) noexcept {
  using Secs = std::chrono::seconds;
  const auto max_secs = std::chrono::duration_cast<Secs>(Clock::time_point::max().time_since_epoch()).count();
  const auto min_secs = std::chrono::duration_cast<Secs>(Clock::time_point::min().time_since_epoch()).count();
  if (secs >= max_secs) return Clock::time_point::max();
  if (secs <= min_secs) return Clock::time_point::min();
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(Secs(secs)));
}

constexpr std::string_view month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};

// delimiter = %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E (RFC 6265bis §5.1.1).
bool is_date_delimiter(char ch) noexcept {
  auto c = static_cast<unsigned char>(ch);
  return c == 0x09 || (c >= 0x20 && c <= 0x2F) || (c >= 0x3B && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

// Reads min..max digits at token[pos]; the value, or -1. Advances pos.
int read_digits(std::string_view token, std::size_t& pos, std::size_t min, std::size_t max) noexcept {
  std::size_t start = pos;
  int value = 0;
  while (pos < token.size() && is_digit(token[pos]) && pos - start < max) {
    value = value * 10 + (token[pos] - '0');
    ++pos;
  }
  if (pos - start < min) return -1;
  // "[ non-digit *OCTET ]": more digits right after the field do not match.
  if (pos < token.size() && is_digit(token[pos])) return -1;
  return value;
}

// time = hms-time [ non-digit *OCTET ]; hms-time = time-field ":" time-field ":" time-field.
bool parse_time_token(std::string_view t, int& h, int& m, int& s) noexcept {
  std::size_t pos = 0;
  auto field = [&](bool colon_after) {
    std::size_t start = pos;
    int v = 0;
    while (pos < t.size() && is_digit(t[pos]) && pos - start < 2) v = v * 10 + (t[pos++] - '0');
    if (pos == start) return -1;
    if (colon_after) {
      if (pos >= t.size() || t[pos] != ':') return -1;
      ++pos;
    } else if (pos < t.size() && is_digit(t[pos])) {
      return -1;
    }
    return v;
  };
  h = field(true);
  if (h < 0) return false;
  m = field(true);
  if (m < 0) return false;
  s = field(false);
  return s >= 0;
}

}  // namespace

// ---- Cookie header (request)

void parse_cookie_header(std::string_view header, std::vector<CookiePair>& out) {
  while (!header.empty()) {
    std::size_t semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    std::size_t eq = part.find('=');
    std::string_view name = eq == std::string_view::npos ? std::string_view{} : trim_wsp(part.substr(0, eq));
    std::string_view value = trim_wsp(eq == std::string_view::npos ? part : part.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (name.empty() && value.empty()) continue;
    out.push_back({name, value});
  }
}

// ---- Set-Cookie (response)

std::error_code Cookie::validate() const noexcept {
  using protocol::cookie_errc;
  if (name.empty()) return cookie_errc::invalid_name;
  for (char c : name) {
    if (!is_tchar(c)) return cookie_errc::invalid_name;
  }
  if (!valid_value(value)) return cookie_errc::invalid_value;
  if (name.size() + value.size() > max_name_value_bytes) return cookie_errc::too_large;
  if (domain.size() > max_attribute_bytes || path.size() > max_attribute_bytes) return cookie_errc::too_large;
  if (!domain.empty() && !valid_domain(domain)) return cookie_errc::invalid_domain;
  if (!valid_path(path)) return cookie_errc::invalid_path;
  if (same_site == SameSite::none && !secure) return cookie_errc::same_site_none_insecure;
  if (partitioned && !secure) return cookie_errc::partitioned_insecure;
  // RFC 6265bis §4.1.3: cookie name prefixes.
  if (starts_with_ci(name, "__Secure-") && !secure) return cookie_errc::secure_prefix;
  if (starts_with_ci(name, "__Host-") && (!secure || !domain.empty() || path != "/")) return cookie_errc::host_prefix;
  return {};
}

std::error_code Cookie::serialize_to(std::string& out) const {
  if (auto ec = validate()) return ec;
  out.append(name).append("=").append(value);
  if (!path.empty()) out.append("; Path=").append(path);
  if (!domain.empty()) out.append("; Domain=").append(domain);
  if (expires) out.append("; Expires=").append(format_http_date(*expires));
  if (max_age) out.append("; Max-Age=").append(std::to_string(max_age->count() > 0 ? max_age->count() : 0));
  if (secure) out.append("; Secure");
  if (http_only) out.append("; HttpOnly");
  switch (same_site) {
    case SameSite::none: out.append("; SameSite=None"); break;
    case SameSite::lax: out.append("; SameSite=Lax"); break;
    case SameSite::strict: out.append("; SameSite=Strict"); break;
    case SameSite::unset: break;
  }
  if (partitioned) out.append("; Partitioned");
  return {};
}

Result<std::string> Cookie::serialize() const {
  std::string out;
  if (auto ec = serialize_to(out)) return ec;
  return out;
}

std::optional<Cookie> parse_set_cookie(std::string_view text) {
  // RFC 6265bis §5.6 step 1: a CTL other than HTAB makes the whole field ignored.
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return std::nullopt;
  }
  std::size_t semi = text.find(';');
  std::string_view pair = text.substr(0, semi);
  std::string_view rest = semi == std::string_view::npos ? std::string_view{} : text.substr(semi);
  std::size_t eq = pair.find('=');
  Cookie c;
  std::string_view name = eq == std::string_view::npos ? std::string_view{} : trim_wsp(pair.substr(0, eq));
  std::string_view value = trim_wsp(eq == std::string_view::npos ? pair : pair.substr(eq + 1));
  if (name.empty() && value.empty()) return std::nullopt;
  if (name.size() + value.size() > max_name_value_bytes) return std::nullopt;
  c.name = name;
  c.value = value;

  while (!rest.empty()) {
    rest.remove_prefix(1);  // the ';'
    std::size_t next = rest.find(';');
    std::string_view av = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next);
    std::size_t aeq = av.find('=');
    std::string_view an = trim_wsp(av.substr(0, aeq));
    std::string_view aval = aeq == std::string_view::npos ? std::string_view{} : trim_wsp(av.substr(aeq + 1));
    if (aval.size() > max_attribute_bytes) continue;
    if (iequals(an, "Expires")) {
      if (auto t = parse_cookie_date(aval)) c.expires = *t;
    } else if (iequals(an, "Max-Age")) {
      // §5.6.2: a DIGIT or '-' first, then only DIGITs.
      if (aval.empty() || (!is_digit(aval.front()) && aval.front() != '-')) continue;
      bool negative = aval.front() == '-';
      std::string_view digits = negative ? aval.substr(1) : aval;
      if (digits.empty()) continue;
      std::int64_t v = 0;
      bool ok = true;
      for (char d : digits) {
        if (!is_digit(d)) {
          ok = false;
          break;
        }
        if (v < (std::int64_t{1} << 40)) v = v * 10 + (d - '0');  // larger means "forever" anyway
      }
      if (!ok) continue;
      c.max_age = std::chrono::seconds(negative ? -v : v);
    } else if (iequals(an, "Domain")) {
      if (aval.empty()) continue;  // §5.6.3: ignore an empty Domain
      if (aval.front() == '.') aval.remove_prefix(1);
      c.domain.assign(aval);
      for (char& ch : c.domain) {
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      }
    } else if (iequals(an, "Path")) {
      // §5.6.4: empty or not absolute: the default path (left to the jar).
      if (aval.empty() || aval.front() != '/') {
        c.path.clear();
      } else {
        c.path.assign(aval);
      }
    } else if (iequals(an, "Secure")) {
      c.secure = true;
    } else if (iequals(an, "HttpOnly")) {
      c.http_only = true;
    } else if (iequals(an, "SameSite")) {
      if (iequals(aval, "None")) {
        c.same_site = SameSite::none;
      } else if (iequals(aval, "Lax")) {
        c.same_site = SameSite::lax;
      } else if (iequals(aval, "Strict")) {
        c.same_site = SameSite::strict;
      } else {
        c.same_site = SameSite::unset;
      }
    } else if (iequals(an, "Partitioned")) {
      c.partitioned = true;
    }
  }
  return c;
}

// ---- dates

std::optional<Clock::time_point> parse_cookie_date(std::string_view text) {
  int hour = -1, minute = -1, second = -1, day = -1, month = -1, year = -1;
  bool found_time = false, found_day = false, found_month = false, found_year = false;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_date_delimiter(text[i])) ++i;
    std::size_t start = i;
    while (i < text.size() && !is_date_delimiter(text[i])) ++i;
    if (start == i) continue;
    std::string_view token = text.substr(start, i - start);
    if (!found_time) {
      int h, m, s;
      if (parse_time_token(token, h, m, s)) {
        found_time = true;
        hour = h, minute = m, second = s;
        continue;
      }
    }
    if (!found_day) {
      std::size_t pos = 0;
      int v = read_digits(token, pos, 1, 2);
      if (v >= 0) {
        found_day = true;
        day = v;
        continue;
      }
    }
    if (!found_month && token.size() >= 3) {
      for (int m = 0; m < 12; ++m) {
        if (iequals(token.substr(0, 3), month_names[m])) {
          found_month = true;
          month = m + 1;
          break;
        }
      }
      if (found_month) continue;
    }
    if (!found_year) {
      std::size_t pos = 0;
      int v = read_digits(token, pos, 2, 4);
      if (v >= 0) {
        found_year = true;
        year = v;
        continue;
      }
    }
  }
  if (!found_time || !found_day || !found_month || !found_year) return std::nullopt;
  if (year >= 70 && year <= 99) year += 1900;
  if (year >= 0 && year <= 69) year += 2000;
  if (day < 1 || day > 31 || year < 1601 || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  if (static_cast<unsigned>(day) > days_in_month(year, static_cast<unsigned>(month))) return std::nullopt;
  std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return from_unix_seconds(days * 86400 + hour * 3600 + minute * 60 + second);
}

std::string format_http_date(Clock::time_point t) {
  static constexpr std::string_view weekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::int64_t secs = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  std::int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  std::int64_t sod = secs - days * 86400;
  Civil c = civil_from_days(days);
  std::int64_t wd = (days % 7 + 7 + 4) % 7;  // 1970-01-01 was a Thursday
  auto two = [](std::string& out, std::int64_t v) {
    out.push_back(static_cast<char>('0' + v / 10));
    out.push_back(static_cast<char>('0' + v % 10));
  };
  std::string out;
  out.reserve(29);
  out.append(weekdays[wd]).append(", ");
  two(out, c.day);
  out.append(" ").append(months[c.month - 1]).append(" ");
  two(out, c.year / 100);
  two(out, c.year % 100);
  out.push_back(' ');
  two(out, sod / 3600);
  out.push_back(':');
  two(out, sod / 60 % 60);
  out.push_back(':');
  two(out, sod % 60);
  out.append(" GMT");
  return out;
}

namespace protocol {
namespace {

class CookieCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.cookie"; }
  std::string message(int code) const override {
    switch (static_cast<cookie_errc>(code)) {
      case cookie_errc::invalid_name: return "cookie name is empty or not a token";
      case cookie_errc::invalid_value: return "cookie value has a byte outside cookie-octet";
      case cookie_errc::invalid_domain: return "cookie Domain is not a host name";
      case cookie_errc::invalid_path: return "cookie Path has a control character, ';' or a non-ASCII byte";
      case cookie_errc::too_large: return "cookie too large (name + value over 4096 bytes, or an attribute over 1024)";
      case cookie_errc::same_site_none_insecure: return "SameSite=None requires Secure";
      case cookie_errc::partitioned_insecure: return "Partitioned requires Secure";
      case cookie_errc::secure_prefix: return "a __Secure- cookie requires Secure";
      case cookie_errc::host_prefix: return "a __Host- cookie requires Secure, Path=/ and no Domain";
    }
    return "unknown cookie error";
  }
};

}  // namespace

const std::error_category& cookie_category() noexcept {
  static const CookieCategory category;
  return category;
}

}  // namespace protocol
}  // namespace khz
