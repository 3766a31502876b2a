// SPDX-License-Identifier: Apache-2.0
// CookieJar: RFC 6265bis §5.7 (storing a Set-Cookie) and §5.8.3 (the Cookie header) for a
// non-browser client; domain and path matching (§5.1.3, §5.1.4).
#include <khz/app/client/cookie_jar.h>

#include <arpa/inet.h>

#include <algorithm>

namespace khz {
namespace {

using Clock = std::chrono::system_clock;
constexpr auto max_lifetime = std::chrono::hours(24 * 400);  // §5.6.1 / §5.6.2: 400 days

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_ip_address(const std::string& host) {
  if (host.find(':') != std::string::npos) return true;  // IPv6 (Url keeps it without brackets)
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

// §5.1.3: `host` domain-matches `domain`.
bool domain_match(const std::string& host, const std::string& domain) {
  if (host == domain) return true;
  return host.size() > domain.size() && host.compare(host.size() - domain.size(), domain.size(), domain) == 0 &&
         host[host.size() - domain.size() - 1] == '.' && !is_ip_address(host);
}

// §5.1.4: the path of the request target (no query).
std::string_view request_path(std::string_view target) {
  std::string_view p = target.substr(0, target.find('?'));
  return p.empty() ? std::string_view("/") : p;
}

// §5.1.4: the default path of a request path.
std::string default_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return "/";
  std::size_t last = path.rfind('/');
  if (last == 0) return "/";
  return std::string(path.substr(0, last));
}

// §5.1.4: `path` (a request's) path-matches `cookie_path`.
bool path_match(std::string_view path, std::string_view cookie_path) {
  if (path == cookie_path) return true;
  if (path.size() > cookie_path.size() && path.substr(0, cookie_path.size()) == cookie_path) {
    return cookie_path.back() == '/' || path[cookie_path.size()] == '/';
  }
  return false;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// A minimal public-suffix rule: a single label ("com", "localhost") is one.
bool is_public_suffix(const std::string& domain) { return domain.find('.') == std::string::npos; }

}  // namespace

void CookieJar::store(const Url& url, const HeaderMap& headers, Clock::time_point now) {
  for (const auto& f : headers) {
    if (iequals(f.name, "Set-Cookie")) store(url, f.value, now);
  }
}

bool CookieJar::store(const Url& url, std::string_view set_cookie, Clock::time_point now) {
  std::optional<Cookie> parsed = parse_set_cookie(set_cookie);
  if (!parsed) return false;
  const Cookie& c = *parsed;
  const std::string host = lower(url.host);
  const bool secure_request = url.scheme == "https";

  StoredCookie s;
  s.name = c.name;
  s.value = c.value;
  s.secure = c.secure;
  s.http_only = c.http_only;
  s.same_site = c.same_site;
  // Expiry: Max-Age wins over Expires (§5.6.2), both capped at 400 days.
  if (c.max_age) {
    s.persistent = true;
    if (c.max_age->count() <= 0) {
      s.expires = Clock::time_point::min();
    } else {
      // In seconds first: a huge Max-Age in the clock's nanoseconds would overflow.
      s.expires = now + std::chrono::duration_cast<Clock::duration>(std::min<std::chrono::seconds>(*c.max_age, max_lifetime));
    }
  } else if (c.expires) {
    s.persistent = true;
    s.expires = now + max_lifetime < *c.expires ? now + max_lifetime : *c.expires;
  }
  // Domain (§5.7 steps 5-6).
  std::string domain = c.domain;  // lower case, no leading '.'
  if (!domain.empty() && is_public_suffix(domain)) {
    if (domain != host) return false;
    domain.clear();
  }
  if (!domain.empty()) {
    if (!domain_match(host, domain)) return false;
    s.host_only = is_ip_address(host);  // matched: the same address; never its "subdomains"
    s.domain = s.host_only ? host : domain;
  } else {
    s.host_only = true;
    s.domain = host;
  }
  // Path (§5.7 step 7; parse_set_cookie left it empty when the attribute was unusable).
  s.path = c.path.empty() ? default_path(request_path(url.target)) : c.path;
  // Secure (§5.7 steps 8-9) and the prefixes (§5.7 step 13, §4.1.3).
  if (s.secure && !secure_request) return false;
  if (c.name.empty() && (starts_with_ci(c.value, "__Secure-") || starts_with_ci(c.value, "__Host-"))) return false;
  if (starts_with_ci(c.name, "__Secure-") && !s.secure) return false;
  if (starts_with_ci(c.name, "__Host-") && !(s.secure && s.host_only && c.path == "/")) return false;

  std::lock_guard lock(mutex_);
  remove_expired(now);
  // §5.7 step 11: an insecure origin does not overwrite (or shadow) a Secure cookie.
  if (!s.secure && !secure_request) {
    for (const Entry& e : entries_) {
      const StoredCookie& o = e.cookie;
      if (o.secure && o.name == s.name && (domain_match(o.domain, s.domain) || domain_match(s.domain, o.domain)) &&
          path_match(s.path, o.path)) {
        return false;
      }
    }
  }
  // §5.7 step 14: replace the cookie of the same name, domain, host-only flag and path.
  s.created = now;
  std::uint64_t order = next_order_;
  auto old = std::find_if(entries_.begin(), entries_.end(), [&s](const Entry& e) {
    return e.cookie.name == s.name && e.cookie.domain == s.domain && e.cookie.host_only == s.host_only &&
           e.cookie.path == s.path;
  });
  if (old != entries_.end()) {
    s.created = old->cookie.created;
    order = old->order;
    entries_.erase(old);
  }
  if (s.expires <= now) return true;  // Max-Age=0, a past Expires: deleted (or never stored)
  s.last_access = now;
  if (order == next_order_) ++next_order_;
  std::string d = s.domain;
  entries_.push_back({std::move(s), order});
  evict(d);
  return true;
}

void CookieJar::remove_expired(Clock::time_point now) {
  std::erase_if(entries_, [now](const Entry& e) { return e.cookie.expires <= now; });
}

void CookieJar::evict(const std::string& domain) {
  // The newest entry (the one just stored) is last and never the victim.
  auto least_recent = [this](auto&& in_scope) {
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it + 1 < entries_.end(); ++it) {
      if (!in_scope(*it)) continue;
      if (victim == entries_.end() || it->cookie.last_access < victim->cookie.last_access) victim = it;
    }
    if (victim != entries_.end()) entries_.erase(victim);
  };
  auto in_domain = [&domain](const Entry& e) { return e.cookie.domain == domain; };
  while (std::count_if(entries_.begin(), entries_.end(), in_domain) > static_cast<std::ptrdiff_t>(max_per_domain)) {
    least_recent(in_domain);
  }
  while (entries_.size() > max_total) {
    least_recent([](const Entry&) { return true; });
  }
}

std::string CookieJar::cookie_header(const Url& url, Clock::time_point now) {
  const std::string host = lower(url.host);
  const std::string_view path = request_path(url.target);
  const bool secure_request = url.scheme == "https";
  std::lock_guard lock(mutex_);
  remove_expired(now);
  std::vector<Entry*> matched;
  for (Entry& e : entries_) {
    const StoredCookie& c = e.cookie;
    if (c.host_only ? host != c.domain : !domain_match(host, c.domain)) continue;
    if (!path_match(path, c.path)) continue;
    if (c.secure && !secure_request) continue;
    matched.push_back(&e);
  }
  // §5.8.3: longer paths first, then earlier creation.
  std::sort(matched.begin(), matched.end(), [](const Entry* a, const Entry* b) {
    if (a->cookie.path.size() != b->cookie.path.size()) return a->cookie.path.size() > b->cookie.path.size();
    if (a->cookie.created != b->cookie.created) return a->cookie.created < b->cookie.created;
    return a->order < b->order;
  });
  std::string out;
  for (Entry* e : matched) {
    e->cookie.last_access = now;
    if (!out.empty()) out.append("; ");
    if (!e->cookie.name.empty()) out.append(e->cookie.name).append("=");
    out.append(e->cookie.value);
  }
  return out;
}

std::vector<StoredCookie> CookieJar::all(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  std::vector<StoredCookie> out;
  for (const Entry& e : entries_) {
    if (e.cookie.expires > now) out.push_back(e.cookie);
  }
  return out;
}

std::size_t CookieJar::size(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(), [now](const Entry& e) { return e.cookie.expires > now; }));
}

void CookieJar::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

}  // namespace khz
