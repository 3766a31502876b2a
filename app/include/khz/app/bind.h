// SPDX-License-Identifier: Apache-2.0
// Binding and validation: a request's path parameters, query, headers, cookies, form and JSON
// body bound to a struct through its field list (<khz/app/fields.h>), its rules checked, every
// failing field reported; and the struct rendered back to JSON through the same list.
//
//   server.post("/users/:id", [](khz::RequestContext& ctx) {
//     auto user = ctx.bind_and_validate<CreateUser>();
//     if (!user) return ctx.reject(user.errors());   // 400/413/415 application/problem+json
//     ctx.json(201, *user);                             // rendered through the field list
//   });
//
// Outside a request (tests, a client decoding a response): khz::from_json<T>(text),
// khz::validate(value), khz::to_json(value).
//
// Types a field may have: bool; every integer type (range-checked: 300 into a uint8_t is an
// error, never a wrap); float, double; std::string; std::string_view (a view of the request
// where the value is stored as sent, else a copy kept until the handler's Task completes);
// enums with names (khz_enum_names); std::optional<X>; std::vector<X> (repeated query keys,
// JSON arrays); std::map/std::unordered_map<std::string, X> (JSON objects); a nested struct with
// a field list (JSON objects); khz::Json (any JSON value); std::chrono::duration (JSON: a number
// in the duration's own unit; text: Go's syntax, "1h30m", "250ms", "1.5s");
// std::chrono::system_clock::time_point (RFC 3339, "2026-12-05T07:00:00.5+01:00"; rendered in UTC).
//
// What binding reports (BindErrors::status()): 415 when the body has a Content-Type the struct
// does not bind from (a struct with no json or form field leaves the body alone); 400 for
// malformed JSON, a wrong type, a number that does not fit, or a broken rule. Unknown JSON keys
// are ignored; a known key given twice is an error.
#pragma once

#include <khz/app/bind_codec.h>
#include <khz/app/bind_render.h>
#include <khz/app/bind_validate.h>

#include <forward_list>
#include <string>
#include <string_view>
#include <utility>

namespace khz {

// A bound value, or the errors that kept it from binding (the value then holds what did bind).
template <class T>
class [[nodiscard]] Bound {
 public:
  explicit operator bool() const noexcept { return errors_.empty(); }
  T& operator*() & noexcept { return value_; }
  const T& operator*() const& noexcept { return value_; }
  T&& operator*() && noexcept { return std::move(value_); }
  T* operator->() noexcept { return &value_; }
  const T* operator->() const noexcept { return &value_; }
  T& value() & noexcept { return value_; }
  const BindErrors& errors() const noexcept { return errors_; }
  BindErrors& errors() noexcept { return errors_; }
  // Strings kept for string_view members that had no other home (from_json only).
  std::forward_list<std::string>& kept() noexcept { return kept_; }

 private:
  T value_{};
  BindErrors errors_;
  std::forward_list<std::string> kept_;  // nodes never move: views into them stay valid
};

// Binds a request's values to T (no rules; see validate).
template <Reflected T>
Bound<T> bind(BindInput& input) {
  Bound<T> b;
  detail::BindState s(b.errors(), &input, &b.kept());
  detail::bind_request(input, *b, s);
  return b;
}

// Checks T's rules; every failing field is in the result.
template <Reflected T>
BindErrors validate(const T& value) {
  BindErrors errors;
  std::forward_list<std::string> none;
  detail::BindState s(errors, nullptr, &none);
  detail::validate_into(value, s);
  return errors;
}

// bind, then validate when binding found nothing wrong.
template <Reflected T>
Bound<T> bind_and_validate(BindInput& input) {
  Bound<T> b = bind<T>(input);
  if (b) b.errors() = validate(*b);
  return b;
}

// What from_json does with an object member that no field of the struct names.
enum class UnknownMembers : std::uint8_t {
  ignore,  // as binding a request does (and Go's encoding/json)
  reject,  // an error at the member's path, "is not a known field": configuration files, where
           // a misspelt key must not pass silently
};

// Binds a JSON text (a response body, a file) to T; string_view members view strings the
// result keeps (Bound::kept()). No rules: validate() checks them.
template <Reflected T>
Bound<T> from_json(std::string_view text, const JsonOptions& options = {},
                   UnknownMembers unknown = UnknownMembers::ignore) {
  Bound<T> b;
  detail::BindState s(b.errors(), nullptr, &b.kept());
  s.reject_unknown = unknown == UnknownMembers::reject;
  JsonDocument doc;
  if (JsonError err = doc.parse(text, options)) {
    s.fail(std::move(err.message));
    return b;
  }
  detail::bind_json(doc.root(), *b, s);
  return b;
}

// Renders T through its field list (unset optionals and skip_json() fields are left out).
template <class T>
  requires Reflected<T>
[[gnu::flatten]] void to_json(const T& value, std::string& out) {
  detail::write_json(out, value);
}
template <class T>
  requires Reflected<T>
[[gnu::flatten]] std::string to_json(const T& value) {
  std::string out;
  detail::write_json(out, value);
  return out;
}

}  // namespace khz
