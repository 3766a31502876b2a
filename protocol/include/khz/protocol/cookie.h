// SPDX-License-Identifier: Apache-2.0
// khz::Cookie and the cookie codec (RFC 6265bis): the request `Cookie` header read as
// name/value views, a Set-Cookie value built (and validated) from a Cookie, and a Set-Cookie
// value parsed back (for a client's cookie jar). Shared by server and client.
//
//   // Server: read what the browser sent (views into the header: no copies).
//   std::vector<khz::CookiePair> pairs;
//   khz::parse_cookie_header("theme=dark; sid=\"a1b2\"", pairs);   // {theme, dark}, {sid, a1b2}
//
//   // Server: build a Set-Cookie value; a cookie that breaks a rule is an error, never a header.
//   khz::Cookie c{.name = "sid", .value = token, .path = "/", .max_age = std::chrono::hours(1),
//                 .secure = true, .http_only = true, .same_site = khz::SameSite::lax};
//   khz::Result<std::string> v = c.serialize();   // "sid=...; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax"
//   if (!v) KHZ_LOG(warn, v.error().message());   // e.g. "SameSite=None requires Secure"
//
//   // Client: what a response asked to store (RFC 6265bis §5.6; nullopt: ignore the field).
//   std::optional<khz::Cookie> got = khz::parse_set_cookie("id=7; Max-Age=60; Domain=.example.com");
//
// Lifetimes: CookiePair views point into the header string given to parse_cookie_header and
// live as long as it does. Cookie is a value that owns its strings. Every function is pure
// (no state, no locks): callable from any thread. Nothing here throws on bad input: malformed
// bytes are skipped (parsing) or reported as a cookie_errc (serialising).
#pragma once

#include <khz/common/result.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace khz {

// The SameSite attribute (RFC 6265bis §4.1.2.7); unset sends none (browsers then apply Lax).
enum class SameSite { unset, none, lax, strict };

// One cookie as a server sets it (Set-Cookie, RFC 6265bis §4.1) or a client parsed it.
// Designated initializers follow the field order:
//   khz::Cookie{.name = "a", .value = "1", .path = "/", .max_age = std::chrono::seconds(0)}  // delete "a"
struct Cookie {
  std::string name{};    // a token (RFC 9110 §5.6.2); "__Secure-" / "__Host-" prefixes add rules
  std::string value{};   // cookie-octets, optionally in DQUOTEs (kept as given)
  std::string domain{};  // empty: host-only (the cookie goes back only to the host that set it)
  std::string path{};    // empty: none sent (the client uses the request's default path)
  // When it expires (sent as an IMF-fixdate, second resolution); unset: not sent.
  std::optional<std::chrono::system_clock::time_point> expires{};
  // Max-Age in seconds; 0 or negative deletes the cookie now (sent as "Max-Age=0"). It wins
  // over `expires` at the client; unset: not sent. No max_age and no expires: a session cookie.
  std::optional<std::chrono::seconds> max_age{};
  bool secure = false;     // only over https
  bool http_only = false;  // not readable by browser scripts
  SameSite same_site = SameSite::unset;
  bool partitioned = false;  // CHIPS: kept per top-level site (requires secure)

  // Checks the rules below; {} when the cookie may be sent. Errors (cookie_errc):
  //   invalid_name     empty, or a byte that is not a token character
  //   invalid_value    a byte outside cookie-octet (no space, DQUOTE, ',', ';', '\\', CTL,
  //                    non-ASCII), except one DQUOTE at each end
  //   invalid_domain   a byte other than letters, digits, '-', '.' (one leading '.' allowed)
  //   invalid_path     a CTL, ';' or a non-ASCII byte
  //   too_large        name + value over 4096 bytes, or domain / path over 1024
  //   same_site_none_insecure, partitioned_insecure: SameSite=None / Partitioned without secure
  //   secure_prefix    a "__Secure-" name without secure (prefixes match case-insensitively)
  //   host_prefix      a "__Host-" name without secure, with a domain, or a path other than "/"
  std::error_code validate() const noexcept;
  // The Set-Cookie field value, attributes in the order Path, Domain, Expires, Max-Age,
  // Secure, HttpOnly, SameSite, Partitioned; validate()'s error instead when it fails.
  Result<std::string> serialize() const;
  // The same, appended to `out` (untouched on error).
  std::error_code serialize_to(std::string& out) const;
};

// One cookie of a request's Cookie header; views into that header.
struct CookiePair {
  std::string_view name{};
  std::string_view value{};
};

// Appends the cookies of one Cookie header value to `out`, in order. Lenient (RFC 6265bis
// §5.4 and what servers meet in practice): pairs split on ';', spaces and tabs around names
// and values trimmed, one pair of surrounding DQUOTEs stripped from a value, a pair without
// '=' is a nameless cookie (name "", value the text), empty pairs skipped. Never fails.
void parse_cookie_header(std::string_view header, std::vector<CookiePair>& out);

// Parses a Set-Cookie field value as a user agent does (RFC 6265bis §5.6): nullopt when the
// field must be ignored (a CTL other than HTAB, no name and no value, name + value over 4096
// bytes). Attribute names match case-insensitively, the last of each kind wins, an attribute
// value over 1024 bytes or one that does not parse (a bad Expires date or Max-Age) is skipped,
// unknown attributes are ignored. Domain comes back lower case without its leading '.'; a Path
// that is empty or does not begin with '/' comes back empty (the jar then uses the default
// path); SameSite other than None/Lax/Strict comes back unset. An Expires date outside the
// time_point's range (about 1678 to 2262) is clamped to its minimum or maximum.
std::optional<Cookie> parse_set_cookie(std::string_view set_cookie);

// Parses a cookie date (RFC 6265bis §5.1.1: the lenient algorithm that reads IMF-fixdate,
// RFC 850 and asctime forms and their common variants); nullopt when it is not a date (a
// missing part, a day/time out of range, a year before 1601). Two-digit years: 70-99 are
// 19xx, 00-69 are 20xx. Clamped to the time_point's range as parse_set_cookie says.
std::optional<std::chrono::system_clock::time_point> parse_cookie_date(std::string_view text);

// `t` as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"; RFC 9110 §5.6.7), to the second.
std::string format_http_date(std::chrono::system_clock::time_point t);

namespace protocol {

// Why a Cookie may not be sent (Cookie::validate). Category "khz.cookie".
enum class cookie_errc {
  invalid_name = 1,
  invalid_value,
  invalid_domain,
  invalid_path,
  too_large,
  same_site_none_insecure,
  partitioned_insecure,
  secure_prefix,
  host_prefix,
};

const std::error_category& cookie_category() noexcept;
inline std::error_code make_error_code(cookie_errc e) noexcept { return {static_cast<int>(e), cookie_category()}; }

}  // namespace protocol
}  // namespace khz

template <>
struct std::is_error_code_enum<khz::protocol::cookie_errc> : std::true_type {};
