// SPDX-License-Identifier: Apache-2.0
// application/x-www-form-urlencoded: the decoding of one component, and a parser for whole
// bodies (and query strings) fed in pieces of any size. Sans-I/O: bytes in, fields out.
//
//   std::vector<khz::protocol::FormField> fields;
//   khz::protocol::UrlencodedParser parser(fields, request.arena(), {.max_fields = 100});
//   std::error_code ec = parser.feed(body, /*stable=*/true);   // any number of feeds
//   if (!ec) ec = parser.finish();                               // the body ended
//   // "a=1&b=x+y&a=%C3%A9" -> {a, 1}, {b, "x y"}, {a, "é"}, in the order sent
//
//   std::string_view v = khz::protocol::urlencoded_decode("J%C3%BCrgen+M", arena);  // "Jürgen M"
//
// Rules (the WHATWG URL standard's application/x-www-form-urlencoded parser): the input is
// split on '&'; empty pieces are skipped; a piece splits at its first '=' into name and value
// (no '=': the value is ""); in each, '+' is a space and "%XY" (two hex digits, either case) the
// byte XY. A '%' not followed by two hex digits is kept as it is ("50%" stays "50%", "%zz"
// stays "%zz"), as browsers and the standard do; UrlencodedLimits::strict_escapes makes it an
// error (form_errc::bad_escape) instead. Bytes are not checked for UTF-8.
//
// Storage and lifetimes: a field's name and value are views. When the bytes were fed with
// `stable` (they stay in place and unchanged while the fields are used, as a buffered request
// body does) and a component has nothing to decode and arrived in one piece, its view points
// into those bytes: no copy. Every other component is written once into the Arena given to the
// parser (decoded components are never longer than sent), so those views live as long as the
// arena's current generation (for a request's arena: until the handler's Task completes).
// Threading: a parser is used by one thread at a time.
#pragma once

#include <khz/common/arena.h>

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace khz::protocol {

// One field of a form or a query string, decoded. The views' lifetime is set by whoever made
// the field (see the top of this file).
struct FormField {
  std::string_view name;
  std::string_view value;
};

// Limits of one urlencoded body. Sizes are of the bytes as sent (before decoding), so a field
// exactly at a limit passes and one byte more fails; each check is made as the bytes arrive,
// so an oversized field is refused before it is buffered.
struct UrlencodedLimits {
  static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();
  std::size_t max_fields = 1000;          // non-empty fields; one more: form_errc::too_many_fields
  std::size_t max_key_bytes = 1024;       // a field's name; over: form_errc::key_too_large
  std::size_t max_value_bytes = 1 << 20;  // a field's value; over: form_errc::value_too_large
  std::size_t max_body_bytes = unlimited; // all bytes fed; over: form_errc::body_too_large
  bool strict_escapes = false;            // a bad '%' escape is form_errc::bad_escape, not kept
};

// True when decoding could change `text` (it holds a '+' or a '%').
bool urlencoded_needs_decode(std::string_view text) noexcept;

// Decodes `text` into `out`, which must have room for text.size() bytes (the result is never
// longer), and returns the decoded length. A bad escape is copied as it is, or, when `strict`,
// makes the result std::nullopt (with `out` partly written). Allocates nothing.
std::optional<std::size_t> urlencoded_decode_to(std::string_view text, char* out, bool strict = false) noexcept;

// `text` itself when it has nothing to decode; else its decoding (bad escapes kept) written into
// `arena` and valid as long as the arena's current allocations.
std::string_view urlencoded_decode(std::string_view text, Arena& arena);

// An incremental parser: fields are appended to `out` as soon as their terminating '&' (or the
// end of the input, at finish()) is seen. The first error stops it; feed() and finish() then
// keep returning it. Copies only a field split across two feeds (into a buffer of its own,
// bounded by the key and value limits) and what the Storage rules above say.
class UrlencodedParser {
 public:
  UrlencodedParser(std::vector<FormField>& out, Arena& arena, UrlencodedLimits limits = {});
  UrlencodedParser(const UrlencodedParser&) = delete;
  UrlencodedParser& operator=(const UrlencodedParser&) = delete;

  // Parses the next piece of the input. `stable`: see Storage above.
  std::error_code feed(std::string_view bytes, bool stable = false);
  // The input ended: the last field (if any) is appended.
  std::error_code finish();

  std::error_code error() const noexcept { return error_; }
  std::size_t field_count() const noexcept { return fields_; }
  std::size_t body_bytes() const noexcept { return body_bytes_; }

 private:
  std::error_code fail(std::error_code ec) noexcept { return error_ = ec; }
  std::error_code parse(std::string_view bytes, bool stable);  // feed() within the body limit
  // Adds the sizes of `piece` (a part of the current field) to its name and value; checks limits.
  std::error_code account(std::string_view piece) noexcept;
  // Appends the field `raw` ("name=value" as sent); `stable`: `raw` outlives the fields.
  std::error_code complete(std::string_view raw, bool stable);
  std::error_code decode(std::string_view raw, bool stable, std::string_view& out);

  std::vector<FormField>& out_;
  Arena& arena_;
  UrlencodedLimits limits_;
  std::error_code error_;
  std::string pending_;         // the current field's bytes so far, when it spans feeds
  std::string_view held_;       // or: its bytes so far, in a stable piece (not copied yet)
  bool saw_equals_ = false;     // the current field's '=' has been seen
  std::size_t key_bytes_ = 0;   // of the current field, as sent
  std::size_t value_bytes_ = 0;
  std::size_t fields_ = 0;
  std::size_t body_bytes_ = 0;
};

// Parses a whole urlencoded text (a buffered body, a query string) that stays in place as long
// as the fields are used: UrlencodedParser with stable input, fed once, then finished.
std::error_code parse_urlencoded(std::string_view text, std::vector<FormField>& out, Arena& arena,
                                 const UrlencodedLimits& limits = {});

}  // namespace khz::protocol
