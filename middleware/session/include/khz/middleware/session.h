// SPDX-License-Identifier: Apache-2.0
// khz::middleware::session: per-client sessions (Hertz's sessions contrib), their data kept
// in the cookie itself (cookie_store: sealed with HMAC-SHA256 or AES-256-GCM) or in Redis
// (redis_store: the cookie holds a random id).
//
//   auto store = khz::middleware::cookie_store({.keys = {secret_2026, secret_2025}});
//   server.use(khz::middleware::session({.store = store}));
//   server.post("/login", [](khz::RequestContext& ctx) {
//     auto& s = khz::middleware::session(ctx);
//     s.regenerate();                       // a new id once the user changes (fixation)
//     s.set("user", "ann");                 // written back after the handler, as it changed
//   });
//   server.get("/me", [](khz::RequestContext& ctx) {
//     const std::string* user = khz::middleware::session(ctx).get("user");
//     ctx.string(200, user != nullptr ? *user : "nobody");
//   });
//   server.post("/logout", [](khz::RequestContext& ctx) { khz::middleware::session(ctx).destroy(); });
//
// Handler API: session(ctx) → get / set / erase / clear (string keys and values), regenerate
// (new id; the old one is forgotten by the store), destroy (the store forgets it and the
// cookie is deleted), co_await save() (writes now: needed before a streamed response, whose
// head leaves with its first write). Otherwise the middleware writes the session back after
// the chain, once, and only when it changed, or when an unchanged session was last written
// more than a quarter of idle_timeout ago (so the idle timeout slides without a write per
// request). A new session nobody wrote to sends no cookie.
//
// Trust: max_age (since the session was made) and idle_timeout (since it was last written)
// are checked against times inside the sealed payload (cookie_store) or the stored record
// (redis_store), never against the cookie's own Expires/Max-Age, which the client controls.
// Bad input never fails the request: a cookie that is tampered with, truncated, sealed with
// an unknown key, over 4096 bytes, not base64url, expired, or names an id the store does not
// know, becomes a fresh empty session and one info line ("session: GET /me: cookie refused
// (bad signature ...); a new session"); the cookie's value is never logged. A store that fails
// (Redis down, a timeout) is logged (warn) and gives an empty session too, or a 503 with
// `unavailable_status = 503`.
//
// cookie_store: the cookie value is base64url (no padding) of a mode byte and the sealed
// payload (created, last written, id, the key/value pairs). `encrypt = true` (default):
// AES-256-GCM, a random 96-bit nonce per write, the client can neither read nor change it;
// false: HMAC-SHA256, readable but not changeable. Key rotation: `keys` lists secrets of at
// least 32 bytes each; the first seals, every one opens (a cookie sealed with an older key is
// resealed with the first at its next write). Each secret is turned into separate AES and HMAC
// keys by HMAC-SHA256 with a fixed label. OpenSSL 3 does the cryptography. A session whose
// cookie would pass 4096 bytes (name and value) is not written: logged (warn), save() false.
//
// redis_store: the cookie holds a 128-bit id from OpenSSL's CSPRNG (32 hex digits); the record
// lives under `key_prefix + id` with a TTL of idle_timeout (capped by what max_age leaves).
// Route: hiredis's protocol pieces (redisFormatCommand to encode, redisReader to parse replies)
// over a khz byte stream (khz::client::open_stream, the app layer's raw TCP client), so the
// connection runs on the server's own event loop and never blocks it, on both transports;
// hiredis's async API would instead need an fd-readiness adapter per backend, which khz does
// not expose. One connection per event loop, made on first use; one command at a time on it,
// the loop's other requests waiting their turn in order (no locks: a loop's connection is only
// touched on that loop). A connection that fails (Redis restarted, a timeout) is dropped; a
// command that failed on a connection that had worked before is sent once more on a new one
// (GET, SET and DEL are idempotent), so a restart costs no request once Redis is back.
// connect_timeout bounds a dial, command_timeout each write and each wait for a reply; a
// failure is the store failing (see above). Each loop's connection is closed on that loop when
// the loop stops (a small keeper coroutine sleeps there until then).
//
// Where it goes: after recovery, request_id and cors, before the handlers and any middleware
// that reads the session (auth checks).
//
// Options (defaults):
//   SessionOptions
//     store              required: cookie_store(...) or redis_store(...)
//     cookie             name "khz_session", path "/", domain "", secure true, http_only true,
//                        same_site lax; persistent true (Max-Age: what max_age leaves), false:
//                        a browser-session cookie
//     max_age            24h: absolute lifetime of a session
//     idle_timeout       2h: a session not written for this long is expired
//     unavailable_status 0: a store failure gives an empty session; 503: answer 503 instead
//   CookieStoreOptions
//     keys               required; each at least 32 bytes; first seals, all open
//     encrypt            true (AES-256-GCM); false: HMAC-SHA256 signature only
//   RedisStoreOptions
//     host "127.0.0.1", port 6379, password "" (AUTH when set), db 0 (SELECT when not 0),
//     key_prefix "khz:session:", connect_timeout 1s, command_timeout 1s
#pragma once

#include <khz/app/handler.h>
#include <khz/app/request_context.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/cookie.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace khz::middleware {

// Why a session was not loaded or saved (std::error_code, category "khz.session").
enum class session_errc {
  malformed = 1,   // not base64url, truncated, or a payload that does not decode
  bad_signature,   // tampered with, or sealed with a key not in the list
  too_large,       // a cookie over 4096 bytes (name and value)
  expired,         // past max_age or idle_timeout
  not_found,       // the store does not know the id (expired there, or never stored)
  unavailable,     // the store failed (Redis down, a timeout, an error reply)
};
const std::error_category& session_category() noexcept;
inline std::error_code make_error_code(session_errc e) noexcept { return {static_cast<int>(e), session_category()}; }

// One session as stored: what a store reads and writes. Times have second resolution.
struct SessionRecord {
  std::string id{};
  std::map<std::string, std::string, std::less<>> values{};
  std::chrono::system_clock::time_point created{};
  std::chrono::system_clock::time_point last_written{};
};

// Where sessions live. Used from event loops (any of them, concurrently: an implementation
// keeps per-loop state or locks); its Tasks must never block a loop.
class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // The record a cookie value names; an error (session_errc) when it names none.
  virtual Task<Result<SessionRecord>> load(std::string cookie_value) = 0;
  // Stores `record`, to be kept for `ttl`; returns the cookie value that names it.
  virtual Task<Result<std::string>> save(SessionRecord record, std::chrono::seconds ttl) = 0;
  // Forgets the session with this id (nothing for a store that keeps nothing).
  virtual Task<std::error_code> erase(std::string id) = 0;
  // A new session id: 128 bits from a CSPRNG, as 32 lowercase hex digits.
  static std::string new_id();
};

struct SessionCookie {
  std::string name = "khz_session";
  std::string path = "/";
  std::string domain{};
  bool secure = true;
  bool http_only = true;
  SameSite same_site = SameSite::lax;
  bool persistent = true;
};

struct SessionOptions {
  std::shared_ptr<SessionStore> store{};
  SessionCookie cookie{};
  std::chrono::seconds max_age{std::chrono::hours(24)};
  std::chrono::seconds idle_timeout{std::chrono::hours(2)};
  int unavailable_status = 0;
};

struct CookieStoreOptions {
  std::vector<std::string> keys{};
  bool encrypt = true;
};

struct RedisStoreOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password{};
  int db = 0;
  std::string key_prefix = "khz:session:";
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
};

namespace detail {
struct SessionState;
}

// The session of the request in hand. Used on the request's loop; lives until the handler's
// Task completes.
class Session {
 public:
  // The id ("" for a new session until it is first written; redis_store and cookie_store
  // both give one then).
  std::string_view id() const noexcept { return record_.id; }
  // True when no session came with the request (none sent, or refused).
  bool is_new() const noexcept { return is_new_; }
  // A value by key; nullptr when absent. Valid until the next set/erase/clear.
  const std::string* get(std::string_view key) const noexcept;
  void set(std::string key, std::string value);
  void erase(std::string_view key);
  void clear();
  const std::map<std::string, std::string, std::less<>>& values() const noexcept { return record_.values; }
  // A new id for the same data; the store forgets the old one at the next write.
  void regenerate();
  // Ends the session: the store forgets it and the client is told to delete the cookie.
  void destroy();
  // Writes the session now if it changed (Set-Cookie; or a delete after destroy()). False when
  // it could not be written (logged): the store failed, or the cookie would be too large.
  Task<bool> save();
  // Whether something will be written back.
  bool changed() const noexcept { return changed_ || destroyed_; }

  // For the middleware.
  Session(const detail::SessionState& state, RequestContext& ctx) noexcept : state_(state), ctx_(ctx) {}
  void adopt(SessionRecord record) noexcept;
  bool needs_write() const noexcept;

 private:
  const detail::SessionState& state_;
  RequestContext& ctx_;
  SessionRecord record_{};
  std::string old_id_{};  // the id the request came with, to forget after regenerate/destroy
  bool is_new_ = true;
  bool changed_ = false;
  bool destroyed_ = false;
};

// Throws std::invalid_argument without a store, for a cookie whose attributes the cookie
// rules refuse (e.g. SameSite=None without secure), timeouts not positive or over 100 years, or an unavailable_status
// other than 0 or 5xx.
Handler session(SessionOptions options);
// The session of the request; throws std::logic_error when the session middleware is not in
// the chain.
Session& session(RequestContext& ctx);

// Throws std::invalid_argument without keys or for a key under 32 bytes.
std::shared_ptr<SessionStore> cookie_store(CookieStoreOptions options);
// Throws std::invalid_argument for an empty host or port 0. Connects on first use.
std::shared_ptr<SessionStore> redis_store(RedisStoreOptions options);

}  // namespace khz::middleware

template <>
struct std::is_error_code_enum<khz::middleware::session_errc> : std::true_type {};
