// SPDX-License-Identifier: Apache-2.0
// The session middleware: loads the session the cookie names before the chain, writes it back
// after (when it changed), and the Session a handler reaches through session(ctx).
#include <khz/common/log.h>
#include <khz/middleware/session.h>

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace khz::middleware {
namespace detail {

struct SessionState {
  std::shared_ptr<SessionStore> store;
  SessionCookie cookie;
  std::chrono::seconds max_age;
  std::chrono::seconds idle_timeout;
  int unavailable_status = 0;
};

}  // namespace detail

namespace {

constexpr std::string_view kContextKey = "khz.session";

class SessionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.session"; }
  std::string message(int e) const override {
    switch (static_cast<session_errc>(e)) {
      case session_errc::malformed: return "malformed (not base64url, truncated, or an undecodable payload)";
      case session_errc::bad_signature: return "bad signature (tampered with, or sealed with an unknown key)";
      case session_errc::too_large: return "over 4096 bytes";
      case session_errc::expired: return "expired";
      case session_errc::not_found: return "unknown session id";
      case session_errc::unavailable: return "session store unavailable";
    }
    return "session error";
  }
};

std::chrono::system_clock::time_point now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

// Removes the Set-Cookie fields for cookie `name` (a second save() replaces the first).
void drop_set_cookie(HeaderMap& headers, std::string_view name) {
  std::vector<std::string> keep;
  bool found = false;
  for (const auto& f : headers) {
    if (!iequals(f.name, "Set-Cookie")) continue;
    const bool same = f.value.size() > name.size() && f.value.substr(0, name.size()) == name && f.value[name.size()] == '=';
    found = found || same;
    if (!same) keep.emplace_back(f.value);
  }
  if (!found) return;
  headers.remove("Set-Cookie");
  for (const auto& v : keep) headers.add("Set-Cookie", v);
}

}  // namespace

const std::error_category& session_category() noexcept {
  static const SessionCategory category;
  return category;
}

std::string SessionStore::new_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("session: RAND_bytes failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (unsigned char b : bytes) {
    id.push_back(hex[b >> 4]);
    id.push_back(hex[b & 15]);
  }
  return id;
}

// ---- Session

const std::string* Session::get(std::string_view key) const noexcept {
  auto it = record_.values.find(key);
  return it == record_.values.end() ? nullptr : &it->second;
}

void Session::set(std::string key, std::string value) {
  auto it = record_.values.find(key);
  if (it != record_.values.end() && it->second == value) return;
  record_.values.insert_or_assign(std::move(key), std::move(value));
  changed_ = true;
  destroyed_ = false;
}

void Session::erase(std::string_view key) {
  auto it = record_.values.find(key);
  if (it == record_.values.end()) return;
  record_.values.erase(it);
  changed_ = true;
}

void Session::clear() {
  if (record_.values.empty()) return;
  record_.values.clear();
  changed_ = true;
}

void Session::regenerate() {
  record_.id = SessionStore::new_id();
  changed_ = true;
}

void Session::destroy() {
  record_.values.clear();
  record_.id.clear();
  destroyed_ = true;
  changed_ = false;
}

void Session::adopt(SessionRecord record) noexcept {
  record_ = std::move(record);
  old_id_ = record_.id;
  is_new_ = false;
}

bool Session::needs_write() const noexcept {
  if (changed()) return true;
  if (is_new_) return false;
  // An unchanged session is rewritten once a quarter of the idle timeout has gone by, so
  // the timeout slides for a session in use.
  return now_seconds() - record_.last_written >= state_.idle_timeout / 4;
}

Task<bool> Session::save() {
  const detail::SessionState& s = state_;
  RequestContext& ctx = ctx_;
  if (destroyed_) {
    destroyed_ = false;
    bool ok = true;
    if (!old_id_.empty()) {
      std::error_code ec = co_await s.store->erase(old_id_);
      if (ec) {
        KHZ_LOG(warn, "session: " << ctx.method() << " " << ctx.path() << ": could not erase the session: " << ec.message());
        ok = false;
      }
      old_id_.clear();
    }
    ctx.delete_cookie(s.cookie.name, s.cookie.path, s.cookie.domain);
    is_new_ = true;
    co_return ok;
  }
  if (!needs_write()) co_return true;
  const auto now = now_seconds();
  if (record_.id.empty()) record_.id = SessionStore::new_id();
  if (is_new_ && old_id_.empty()) record_.created = now;
  record_.last_written = now;
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(record_.created + s.max_age - now);
  const std::chrono::seconds ttl = std::max(std::chrono::seconds(1), std::min(s.idle_timeout, left));
  Result<std::string> value = co_await s.store->save(record_, ttl);
  if (!value) {
    KHZ_LOG(warn, "session: " << ctx.method() << " " << ctx.path() << ": not saved: " << value.error().message());
    co_return false;
  }
  if (s.cookie.name.size() + value->size() > 4096) {
    KHZ_LOG(warn, "session: " << ctx.method() << " " << ctx.path() << ": not saved: the cookie would pass 4096 bytes");
    co_return false;
  }
  if (!old_id_.empty() && old_id_ != record_.id) {
    std::error_code ec = co_await s.store->erase(old_id_);
    if (ec) KHZ_LOG(warn, "session: " << ctx.method() << " " << ctx.path() << ": could not erase the old id: " << ec.message());
  }
  old_id_ = record_.id;
  Cookie c;
  c.name = s.cookie.name;
  c.value = std::move(*value);
  c.path = s.cookie.path;
  c.domain = s.cookie.domain;
  c.secure = s.cookie.secure;
  c.http_only = s.cookie.http_only;
  c.same_site = s.cookie.same_site;
  if (s.cookie.persistent) c.max_age = std::max(std::chrono::seconds(1), left);
  // One Set-Cookie for this name per response: a second save replaces the first.
  drop_set_cookie(ctx.response().headers(), s.cookie.name);
  const bool ok = ctx.set_cookie(c);
  if (ok) {
    changed_ = false;
    is_new_ = false;
  }
  co_return ok;
}

// ---- the middleware

namespace {

struct SessionMiddleware {
  std::shared_ptr<const detail::SessionState> state;

  Task<void> operator()(RequestContext& ctx) const { return run(state, ctx); }

  static Task<void> run(std::shared_ptr<const detail::SessionState> state, RequestContext& ctx) {
    const detail::SessionState& s = *state;
    Session session(s, ctx);
    if (ctx.has_cookie(s.cookie.name)) {
      Result<SessionRecord> loaded = co_await s.store->load(std::string(ctx.cookie(s.cookie.name)));
      if (loaded) {
        const auto now = now_seconds();
        if (now - loaded->created >= s.max_age || now - loaded->last_written >= s.idle_timeout) {
          loaded = make_error_code(session_errc::expired);
        }
      }
      if (loaded) {
        session.adopt(std::move(*loaded));
      } else if (loaded.error() == session_errc::unavailable) {
        KHZ_LOG(warn, "session: " << ctx.method() << " " << ctx.path() << ": " << loaded.error().message()
                                  << (s.unavailable_status != 0 ? "; " + std::to_string(s.unavailable_status) : "; a new session"));
        if (s.unavailable_status != 0) {
          ctx.discard_response(s.unavailable_status);
          ctx.string(s.unavailable_status, std::to_string(s.unavailable_status) + " session store unavailable");
          ctx.abort();
          co_return;
        }
      } else {
        KHZ_LOG(info, "session: " << ctx.method() << " " << ctx.path() << ": cookie refused (" << loaded.error().message()
                                  << "); a new session");
      }
    }
    ctx.set(kContextKey, &session);
    co_await ctx.next();
    if (session.needs_write() && !ctx.is_streaming()) {
      const bool saved = co_await session.save();
      (void)saved;  // logged by save()
    } else if (session.changed() && ctx.is_streaming()) {
      KHZ_LOG(warn, "session: " << ctx.method() << " " << ctx.path()
                                << ": changed after the streamed response began, not saved (co_await save() before the first write)");
    }
    ctx.set(kContextKey, static_cast<Session*>(nullptr));
  }
};

}  // namespace

Handler session(SessionOptions o) {
  if (!o.store) throw std::invalid_argument("SessionOptions::store: none");
  if (o.max_age.count() <= 0) throw std::invalid_argument("SessionOptions::max_age: not positive");
  if (o.idle_timeout.count() <= 0) throw std::invalid_argument("SessionOptions::idle_timeout: not positive");
  // Past a century the clock arithmetic (created + max_age, in nanoseconds) could overflow.
  constexpr std::chrono::seconds kCentury{std::chrono::hours(24 * 366 * 100)};
  if (o.max_age > kCentury || o.idle_timeout > kCentury) throw std::invalid_argument("SessionOptions: a timeout over 100 years");
  if (o.unavailable_status != 0 && (o.unavailable_status < 500 || o.unavailable_status > 599)) {
    throw std::invalid_argument("SessionOptions::unavailable_status: 0 or 5xx");
  }
  Cookie probe{.name = o.cookie.name, .value = "x", .domain = o.cookie.domain, .path = o.cookie.path,
               .secure = o.cookie.secure, .http_only = o.cookie.http_only, .same_site = o.cookie.same_site};
  if (auto ec = probe.validate()) throw std::invalid_argument("SessionOptions::cookie: " + ec.message());
  auto s = std::make_shared<detail::SessionState>();
  s->store = std::move(o.store);
  s->cookie = std::move(o.cookie);
  s->max_age = o.max_age;
  s->idle_timeout = o.idle_timeout;
  s->unavailable_status = o.unavailable_status;
  return Handler("khz::middleware::session", SessionMiddleware{std::move(s)});
}

Session& session(RequestContext& ctx) {
  Session* const* s = ctx.get_as<Session*>(kContextKey);
  if (s == nullptr || *s == nullptr) throw std::logic_error("khz::middleware::session(ctx): no session middleware in the chain");
  return **s;
}

}  // namespace khz::middleware
