// SPDX-License-Identifier: Apache-2.0
// RequestContext's cookies: the request's Cookie headers read once into views, Set-Cookie
// headers added through the codec's validation (<khz/protocol/cookie.h>).
#include <khz/app/request_context.h>
#include <khz/common/log.h>
#include <khz/protocol/header_map.h>

#include <string>

namespace khz {
namespace {

// A cookie name as a log line may show it: printable ASCII, at most 64 bytes.
std::string loggable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  if (s.size() > 64) out.append("...");
  return out;
}

}  // namespace

void RequestContext::parse_cookies() {
  if (cookies_parsed_) return;
  cookies_parsed_ = true;
  for (const auto& f : exchange_->request.headers()) {
    if (iequals(f.name, "Cookie")) parse_cookie_header(f.value, cookies_);
  }
}

std::string_view RequestContext::cookie(std::string_view name) {
  check_live("cookie");
  parse_cookies();
  for (const CookiePair& c : cookies_) {
    if (c.name == name) return c.value;
  }
  return {};
}

bool RequestContext::has_cookie(std::string_view name) {
  check_live("has_cookie");
  parse_cookies();
  for (const CookiePair& c : cookies_) {
    if (c.name == name) return true;
  }
  return false;
}

const std::vector<CookiePair>& RequestContext::cookies() {
  check_live("cookies");
  parse_cookies();
  return cookies_;
}

bool RequestContext::set_cookie(const Cookie& cookie) {
  check_live("set_cookie");
  thread_local std::string scratch;  // no allocation per call once warm
  scratch.clear();
  if (auto ec = cookie.serialize_to(scratch)) {
    KHZ_LOG(warn, "set_cookie(\"" << loggable(cookie.name) << "\") for " << exchange_->request.method() << " "
                                  << exchange_->request.path() << ": " << ec.message() << "; not sent");
    return false;
  }
  exchange_->response.headers().add("Set-Cookie", scratch);
  return true;
}

bool RequestContext::delete_cookie(std::string_view name, std::string_view path, std::string_view domain) {
  check_live("delete_cookie");
  Cookie c;
  c.name = name;
  c.path = path;
  c.domain = domain;
  c.expires = std::chrono::system_clock::time_point{};  // Thu, 01 Jan 1970 00:00:00 GMT
  c.max_age = std::chrono::seconds(0);
  // RFC 6265bis §4.1.3: a prefixed cookie is only accepted (so only overwritten) with Secure.
  std::string_view n = name;
  c.secure = (n.size() >= 9 && iequals(n.substr(0, 9), "__Secure-")) || (n.size() >= 7 && iequals(n.substr(0, 7), "__Host-"));
  return set_cookie(c);
}

}  // namespace khz
