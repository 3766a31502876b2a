// SPDX-License-Identifier: Apache-2.0
// The per-type machinery under <khz/app/bind.h>: text and JSON values into members, and a
// request's sources bound to a struct (rendering: bind_render.h; rules: bind_validate.h).
// Everything here is khz::detail; use bind.h. BindErrors (what a bind found) and BindInput (what it reads) come
// first, as bind.h's users meet them:
//
//   khz::BindErrors errors = khz::validate(order);           // <khz/app/bind.h>
//   if (!errors.empty()) KHZ_LOG(info, errors.summary());
#pragma once

#include <khz/app/fields.h>
#include <khz/app/json.h>
#include <khz/app/json_view.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <forward_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace khz {


struct FieldError {
  std::string field;    // external name with its path: "address.zip", "tags[3]"; "" for the body
  std::string message;  // "is required", "must be at most 150", "malformed JSON: ..."
};

// Every error one bind or validation found. Empty when all is well.
class BindErrors {
 public:
  bool empty() const noexcept { return errors_.empty(); }
  // 0 when empty; else the response status they call for: 415 unsupported body type, 413 a body
  // or form over its limit, 400 otherwise.
  int status() const noexcept { return status_; }
  const std::vector<FieldError>& fields() const noexcept { return errors_; }
  void add(std::string field, std::string message, int status = 400);
  void append(const BindErrors& other);
  // "name is required; age must be at most 150"
  std::string summary() const;
  // RFC 9457 application/problem+json:
  // {"type":"about:blank","title":"Bad Request","status":400,"detail":"...",
  //  "errors":[{"field":"name","message":"is required"}]}
  std::string problem_json() const;

 private:
  int status_ = 0;
  std::vector<FieldError> errors_;
};

// What binding reads from a request (RequestContext provides one; tests may write their own).
class BindInput {
 public:
  using Visit = void (*)(void* state, std::string_view value);
  // Calls visit(state, value) for each value `name` has in `source` (path, form, query, cookie,
  // header; not json), in request order; returns how many there were.
  virtual std::size_t values(Source source, std::string_view name, Visit visit, void* state) = 0;
  virtual std::string_view content_type() = 0;
  virtual std::string_view body() = 0;
  // A copy of `text` that lives as long as the bound value may view it.
  virtual std::string_view keep(std::string_view text) = 0;
  // Whether the body is a form this input can read (urlencoded or multipart).
  virtual bool body_is_form() { return false; }
  // When the form body failed to parse: why, and the status it calls for (400, 413).
  virtual bool form_failed(std::string& message, int& status) {
    (void)message, (void)status;
    return false;
  }

 protected:
  ~BindInput() = default;
};

namespace detail {

// ---- non-template pieces (app/bind/*.cc)
bool parse_signed(std::string_view text, std::int64_t& out) noexcept;
bool parse_unsigned(std::string_view text, std::uint64_t& out) noexcept;
bool parse_double(std::string_view text, double& out) noexcept;  // finite only
bool parse_bool(std::string_view text, bool& out) noexcept;      // true/false/1/0/t/f/TRUE/...
bool parse_duration(std::string_view text, std::chrono::nanoseconds& out) noexcept;  // Go syntax
// RFC 3339 into whole seconds since the epoch (UTC) and the nanoseconds past them.
bool parse_timestamp(std::string_view text, std::chrono::sys_seconds& seconds, std::int64_t& nanos) noexcept;
void write_timestamp(std::string& out, std::chrono::sys_seconds seconds, std::int64_t nanos);
void write_json_string(std::string& out, std::string_view s);
void write_json_number(std::string& out, std::int64_t v);
void write_json_number(std::string& out, std::uint64_t v);
void write_json_number(std::string& out, double v);
std::size_t utf8_length(std::string_view s) noexcept;
bool matches_pattern(std::string_view pattern, std::string_view value);  // compiled once per thread
// The two ways matches_pattern matches (app/bind/pattern.cc), for tests: the one-pass matcher of
// simple patterns (1 or 0; -1 when the pattern is not simple) and RE2.
int match_simple_pattern(std::string_view pattern, std::string_view value);
bool match_pattern_re2(std::string_view pattern, std::string_view value);
bool matches_format(Format format, std::string_view value) noexcept;
bool in_bar_list(std::string_view list, std::string_view value) noexcept;
bool in_bar_list(std::string_view list, long double value) noexcept;
std::string format_number(long double v);
std::string_view format_message(Format format) noexcept;
Json json_from_view(JsonView v);
bool is_json_content_type(std::string_view content_type) noexcept;

// Where a value sits while it binds or validates: errors get its path only when one occurs.
class BindPath {
 public:
  // User-provided on purpose: value-initialising a BindPath then does not zero its 1 KiB of parts.
  BindPath() noexcept {}
  void push(std::string_view name) noexcept { at() = {name.data(), name.size(), 0, false}, ++depth_; }
  void push(std::size_t index) noexcept { at() = {nullptr, 0, index, true}, ++depth_; }
  void pop() noexcept { --depth_; }
  std::string str() const;

 private:
  // Plain data, left uninitialised: a BindPath is made per bind and must cost nothing until used.
  struct Part {
    const char* name;
    std::size_t size;
    std::size_t index;
    bool is_index;
  };
  static constexpr std::size_t kMax = 32;  // deeper paths keep their last part in the last slot
  Part& at() noexcept { return parts_[depth_ < kMax ? depth_ : kMax - 1]; }
  Part parts_[kMax];
  std::size_t depth_ = 0;
};

// Which rule a value broke (BindState::fail_rule words the message).
enum class RuleFailure : std::uint8_t { required, length, items, one_of, pattern, format, min, max };

struct BindState {
  // A constructor, not aggregate initialisation: GCC zeroes a whole aggregate (the path's 1 KiB
  // included) when one member is value-initialised with {}.
  BindState(BindErrors& e, BindInput* in, std::forward_list<std::string>* k) noexcept : errors(e), input(in), kept(k) {}

  BindErrors& errors;
  BindInput* input;                    // null: strings are kept in `kept`
  std::forward_list<std::string>* kept;
  BindPath path;
  bool reject_unknown = false;  // a JSON member no field names is an error (from_json, by option)

  // Failures are out of line and cold: the code that binds and checks values stays small enough
  // to inline, and a literal message becomes a string only when a value fails.
  [[gnu::cold]] void fail(std::string message, int status = 400);
  [[gnu::cold]] void fail(const char* message, int status = 400);
  // "must be a string, not an integer"
  [[gnu::cold]] void fail_kind(std::string_view expected, JsonKind got);
  // "must be an integer from -128 to 127"
  [[gnu::cold]] void fail_range(long double min, long double max);
  // The message of a broken rule ("is required", "must be at most 150", ...), or r.message.
  [[gnu::cold]] void fail_rule(const FieldRules& r, RuleFailure what);
  std::string_view keep(std::string_view s) {
    if (input != nullptr) return input->keep(s);
    kept->emplace_front(s);
    return kept->front();
  }
};

template <class X>
struct IsOptional : std::false_type {};
template <class X>
struct IsOptional<std::optional<X>> : std::true_type {};
template <class X>
struct IsVector : std::false_type {};
template <class X, class A>
struct IsVector<std::vector<X, A>> : std::true_type {};
template <class X>
struct IsMap : std::false_type {};
template <class X, class C, class A>
struct IsMap<std::map<std::string, X, C, A>> : std::true_type {};
template <class X, class H, class E, class A>
struct IsMap<std::unordered_map<std::string, X, H, E, A>> : std::true_type {};
template <class X>
struct IsDuration : std::false_type {};
template <class R, class P>
struct IsDuration<std::chrono::duration<R, P>> : std::true_type {};
template <class X>
struct IsTimePoint : std::false_type {};
template <class D>
struct IsTimePoint<std::chrono::time_point<std::chrono::system_clock, D>> : std::true_type {};
template <class X>
inline constexpr bool is_integer_v = std::is_integral_v<X> && !std::is_same_v<X, bool>;

template <class M>
std::string_view type_name() {
  if constexpr (std::is_same_v<M, bool>) return "a boolean";
  else if constexpr (is_integer_v<M>) return "an integer";
  else if constexpr (std::is_floating_point_v<M>) return "a number";
  else if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::string_view>) return "a string";
  else if constexpr (std::is_enum_v<M>) return "a string";
  else if constexpr (IsVector<M>::value) return "an array";
  else if constexpr (IsMap<M>::value || Reflected<M>) return "an object";
  else if constexpr (IsDuration<M>::value) return "a duration";
  else if constexpr (IsTimePoint<M>::value) return "an RFC 3339 timestamp";
  else return "a value";
}

template <class M>
void fail_range(BindState& s) {
  s.fail_range(static_cast<long double>(std::numeric_limits<M>::min()), static_cast<long double>(std::numeric_limits<M>::max()));
}

template <class M>
bool integer_in_range(std::int64_t v, M& out) {
  if constexpr (std::is_signed_v<M>) {
    if (v < static_cast<std::int64_t>(std::numeric_limits<M>::min()) ||
        v > static_cast<std::int64_t>(std::numeric_limits<M>::max())) return false;
  } else {
    if (v < 0 || static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<M>::max())) return false;
  }
  out = static_cast<M>(v);
  return true;
}
template <class M>
bool integer_in_range(std::uint64_t v, M& out) {
  if (v > static_cast<std::uint64_t>(std::numeric_limits<M>::max())) return false;
  out = static_cast<M>(v);
  return true;
}

template <class M>
bool bind_text(std::string_view text, M& out, BindState& s);
template <class M>
void bind_json(JsonView v, M& out, BindState& s);
template <Reflected T>
void bind_object(JsonView v, T& out, BindState& s);
template <Reflected T>
void bind_nested_object(JsonView v, T& out, BindState& s);

// ---- text (path, query, form, cookie, header, defaults) into one value
template <class M>
bool bind_text(std::string_view text, M& out, BindState& s) {
  if constexpr (std::is_same_v<M, std::string>) {
    out.assign(text);
  } else if constexpr (std::is_same_v<M, std::string_view>) {
    out = text;  // request text lives until the handler's Task completes
  } else if constexpr (std::is_same_v<M, bool>) {
    if (!parse_bool(text, out)) return s.fail("must be a boolean (true or false)"), false;
  } else if constexpr (is_integer_v<M>) {
    bool ok;
    if constexpr (std::is_signed_v<M>) {
      std::int64_t v;
      ok = parse_signed(text, v) && integer_in_range(v, out);
    } else {
      std::uint64_t v;
      ok = parse_unsigned(text, v) && integer_in_range(v, out);
    }
    if (!ok) return fail_range<M>(s), false;
  } else if constexpr (std::is_floating_point_v<M>) {
    double v;
    if (!parse_double(text, v) || (std::is_same_v<M, float> && std::abs(v) > std::numeric_limits<float>::max())) {
      return s.fail("must be a number"), false;
    }
    out = static_cast<M>(v);
  } else if constexpr (NamedEnum<M>) {
    if (!enum_from_name(text, out)) return s.fail("is not one of the allowed names"), false;
  } else if constexpr (IsOptional<M>::value) {
    typename M::value_type v{};
    if (!bind_text(text, v, s)) return false;
    out = std::move(v);
  } else if constexpr (IsDuration<M>::value) {
    std::chrono::nanoseconds d;
    if (!parse_duration(text, d)) return s.fail("must be a duration such as 1h30m, 250ms or 1.5s"), false;
    out = std::chrono::duration_cast<M>(d);
  } else if constexpr (IsTimePoint<M>::value) {
    using D = typename M::duration;
    std::chrono::sys_seconds seconds;
    std::int64_t nanos;
    if (!parse_timestamp(text, seconds, nanos)) return s.fail("must be an RFC 3339 timestamp"), false;
    // the point must fit the member's duration (nanoseconds since 1970 end in 2262)
    constexpr auto lo = std::chrono::duration_cast<std::chrono::seconds>(D::min()).count() + 1;
    constexpr auto hi = std::chrono::duration_cast<std::chrono::seconds>(D::max()).count() - 1;
    auto count = seconds.time_since_epoch().count();
    if (count < lo || count > hi) return s.fail("is a timestamp out of the supported range"), false;
    out = M(std::chrono::duration_cast<D>(seconds.time_since_epoch()) +
            std::chrono::duration_cast<D>(std::chrono::nanoseconds(nanos)));
  } else {
    s.fail(std::string("must be ") + std::string(type_name<M>()) + ", which this source cannot give");
    return false;
  }
  return true;
}

// ---- one JSON value into one value
template <class M>
void bind_json(JsonView v, M& out, BindState& s) {
  JsonKind k = v.kind();
  auto wrong = [&] { s.fail_kind(type_name<M>(), k); };
  if constexpr (IsOptional<M>::value) {
    if (k == JsonKind::null) {
      out.reset();
    } else {
      bind_json(v, out.emplace(), s);  // a fresh value, as a member bound twice must not merge
    }
  } else if constexpr (std::is_same_v<M, Json>) {
    // binding parses with duplicate keys kept (known keys are checked field by field): a value
    // taken whole is checked here
    if (v.has_duplicate_keys()) return s.fail("has an object with a duplicate key");
    out = json_from_view(v);
  } else if constexpr (std::is_same_v<M, std::string>) {
    if (k != JsonKind::string) return wrong();
    out.assign(v.string());
  } else if constexpr (std::is_same_v<M, std::string_view>) {
    if (k != JsonKind::string) return wrong();
    out = s.keep(v.string());
  } else if constexpr (std::is_same_v<M, bool>) {
    if (k != JsonKind::boolean) return wrong();
    out = v.boolean();
  } else if constexpr (is_integer_v<M>) {
    bool ok;
    if (k == JsonKind::int64) ok = integer_in_range(v.int64(), out);
    else if (k == JsonKind::uint64) ok = integer_in_range(v.uint64(), out);
    else return wrong();
    if (!ok) fail_range<M>(s);
  } else if constexpr (std::is_floating_point_v<M>) {
    if (!v.is_number()) return wrong();
    double d = v.number();
    if (std::is_same_v<M, float> && std::abs(d) > std::numeric_limits<float>::max()) return s.fail("must be a number that fits a float");
    out = static_cast<M>(d);
  } else if constexpr (NamedEnum<M>) {
    if (k != JsonKind::string) return wrong();
    if (!enum_from_name(v.string(), out)) s.fail("is not one of the allowed names");
  } else if constexpr (IsDuration<M>::value) {
    if (k == JsonKind::string) {
      bind_text(v.string(), out, s);
    } else if (k == JsonKind::int64) {
      out = M(static_cast<typename M::rep>(v.int64()));
    } else {
      wrong();
    }
  } else if constexpr (IsTimePoint<M>::value) {
    if (k != JsonKind::string) return wrong();
    bind_text(v.string(), out, s);
  } else if constexpr (IsVector<M>::value) {
    if (k != JsonKind::array) return wrong();
    out.clear();
    out.reserve(v.size());
    std::size_t i = 0;
    for (JsonView e : v.elements()) {
      s.path.push(i++);
      bind_json(e, out.emplace_back(), s);
      s.path.pop();
    }
  } else if constexpr (IsMap<M>::value) {
    if (k != JsonKind::object) return wrong();
    out.clear();
    for (auto [key, e] : v.members()) {
      s.path.push(key);
      auto [at, inserted] = out.try_emplace(std::string(key));
      if (inserted) bind_json(e, at->second, s);
      else s.fail("is given twice");
      s.path.pop();
    }
  } else if constexpr (Reflected<M>) {
    if (k != JsonKind::object) return wrong();
    bind_nested_object(v, out, s);
  } else {
    static_assert(sizeof(M) == 0, "khz: this member type cannot bind (see <khz/app/bind.h> for the types)");
  }
}

// How many elements T's field list has (Fields and Checks).
template <Reflected T>
constexpr std::size_t element_count() {
  return std::tuple_size_v<std::decay_t<decltype(field_list<T>)>>;
}

// The field list's elements by their index in the tuple (Checks included), as compile-time
// constants: fn(std::integral_constant<std::size_t, I>{}) for each I. Binding reads a field's
// names and rules as constants this way, so the branches on sources and rules are decided when
// the code is compiled, not per request.
template <Reflected T, class Fn>
constexpr void for_each_index(Fn&& fn) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (fn(std::integral_constant<std::size_t, I>{}), ...);
  }(std::make_index_sequence<element_count<T>()>{});
}

// The bit that stands for element I (a Field) in a bind's `seen` set: one per field, counted
// without the Checks, so a struct binds up to 64 fields however many checks it has.
template <Reflected T, std::size_t I>
constexpr std::uint64_t seen_bit() {
  std::size_t fields_before = 0;
  [&]<std::size_t... J>(std::index_sequence<J...>) {
    ((fields_before += IsField<std::decay_t<decltype(std::get<J>(field_list<T>))>>::value ? 1 : 0), ...);
  }(std::make_index_sequence<I>{});
  return std::uint64_t{1} << fields_before;
}

template <Reflected T>
constexpr std::size_t field_count() {
  std::size_t n = 0;
  for_each_field<T>([&](const auto&) { ++n; });
  return n;
}

// Calls fn(std::integral_constant<std::size_t, I>{}) for I in order until one returns true;
// whether one did.
template <Reflected T, class Fn>
constexpr bool any_index(Fn&& fn) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return (fn(std::integral_constant<std::size_t, I>{}) || ...);
  }(std::make_index_sequence<element_count<T>()>{});
}

// Whether element I of T's list binds from a JSON member (at a request's top level, only fields
// that name json or no source; Checks never).
template <Reflected T, std::size_t I, bool RequestLevel>
constexpr bool binds_json_member() {
  using Item = std::decay_t<decltype(std::get<I>(field_list<T>))>;
  if constexpr (!IsField<Item>::value) return false;
  else return !RequestLevel || std::get<I>(field_list<T>).names.binds_from(Source::json);
}

// Binds the JSON members of an object to T's fields that bind from JSON (`seen` gets the bit of
// each element bound). At a request's top level (RequestLevel) a field binds from the JSON body
// only when it names json among its sources (or names none); nested objects, and from_json, bind
// every field by its JSON name. The key is matched against each field's name as a constant (the
// compiler turns each comparison into a length test and a few word compares).
template <Reflected T, bool RequestLevel>
[[gnu::flatten]] void bind_object_members(JsonView v, T& out, BindState& s, std::uint64_t& seen) {
  static_assert(field_count<T>() <= 64, "khz: a struct binds at most 64 fields");
  for (auto member : v.members()) {
    std::string_view key = member.first;  // not a structured binding: clang 14 cannot capture one
    bool known = any_index<T>([&](auto i) {
      if constexpr (!binds_json_member<T, decltype(i)::value, RequestLevel>()) {
        return false;
      } else {
        constexpr const auto& f = std::get<decltype(i)::value>(field_list<T>);
        constexpr std::string_view name = f.names.json_name();
        if (key.size() != name.size() || std::memcmp(key.data(), name.data(), name.size()) != 0) return false;
        s.path.push(name);
        constexpr std::uint64_t bit = seen_bit<T, decltype(i)::value>();
        if (seen & bit) {
          s.fail("is given twice");
        } else {
          seen |= bit;
          bind_json(member.second, out.*(f.member), s);
        }
        s.path.pop();
        return true;
      }
    });
    if (!known && s.reject_unknown) {
      s.path.push(key);
      s.fail("is not a known field");
      s.path.pop();
    }
  }
}

// Binds the default text of each field with one that nothing set.
template <Reflected T>
void apply_defaults(T& out, BindState& s, std::uint64_t seen) {
  for_each_index<T>([&](auto i) {
    constexpr const auto& f = std::get<decltype(i)::value>(field_list<T>);
    if constexpr (IsField<std::decay_t<decltype(f)>>::value) {
      if constexpr (f.names.has_default) {
        if (seen & seen_bit<T, decltype(i)::value>()) return;
        s.path.push(f.names.name);
        bind_text(f.names.default_text, out.*(f.member), s);
        s.path.pop();
      }
    }
  });
}

template <Reflected T>
[[gnu::flatten]] void bind_object(JsonView v, T& out, BindState& s) {
  std::uint64_t seen = 0;
  bind_object_members<T, false>(v, out, s, seen);
  apply_defaults(out, s, seen);
}

// A nested struct binds in a function of its own. The flattened functions above inline every
// call they make, so without this boundary a document type became one function holding every
// nested type's code: a gateway configuration of a dozen nested structs took GCC 12 almost
// five minutes under ASan at -O1 (points-to analysis), against seconds with it; the call costs
// a few nanoseconds per nested object.
template <Reflected T>
[[gnu::noinline]] void bind_nested_object(JsonView v, T& out, BindState& s) {
  bind_object(v, out, s);
}

// Whether any field of T binds from `src`.
template <Reflected T>
constexpr bool binds_from_any(Source src) {
  bool any = false;
  for_each_field<T>([&](const auto& f) { any |= f.names.binds_from(src); });
  return any;
}

// Binds a member from the values `name` has in one text source; false when it has none there.
// A repeated key fills a vector; other members take its first value.
template <bool Binds, class M>
bool bind_text_source(BindInput& in, Source src, std::string_view name, M& member, BindState& s) {
  if constexpr (!Binds) {
    return false;
  } else {
    struct Visit {
      M* member;
      BindState* state;
      bool first;
    } visit{&member, &s, true};
    s.path.push(name);
    std::size_t found = in.values(src, name, [](void* p, std::string_view text) {
      auto& v = *static_cast<Visit*>(p);
      if constexpr (IsVector<M>::value) {
        if (v.first) v.member->clear();
        bind_text(text, v.member->emplace_back(), *v.state);
      } else {
        if (v.first) bind_text(text, *v.member, *v.state);
      }
      v.first = false;
    }, &visit);
    s.path.pop();
    return found != 0;
  }
}

// Binds the text sources of T's top-level fields, in priority order, and the JSON body.
template <Reflected T>
[[gnu::flatten]] void bind_request(BindInput& in, T& out, BindState& s) {
  static_assert(field_count<T>() <= 64, "khz: a struct binds at most 64 fields");
  std::uint64_t seen = 0;
  std::string_view body = in.body();
  constexpr bool wants_json = binds_from_any<T>(Source::json);
  constexpr bool wants_form = binds_from_any<T>(Source::form);
  if (!body.empty() && (wants_json || wants_form)) {  // a struct bound only from text ignores the body
    std::string_view type = in.content_type();
    if (is_json_content_type(type) && wants_json) {
      thread_local JsonDocument doc;  // bind is synchronous: one parse at a time per thread
      JsonOptions options;
      options.duplicate_keys = JsonOptions::DuplicateKeys::keep;  // known keys are checked below
      if (JsonError err = doc.parse(body, options)) {
        s.fail(std::move(err.message));
        return;
      }
      JsonView root = doc.root();
      if (root.kind() != JsonKind::object) {
        s.fail("the JSON body must be an object, not " + std::string(describe(root.kind())));
        return;
      }
      bind_object_members<T, true>(root, out, s, seen);
    } else if (wants_form && in.body_is_form()) {
      std::string message;
      int status = 400;
      if (in.form_failed(message, status)) {
        s.fail(std::move(message), status);
        return;
      }
    } else {
      std::string accepted = wants_json ? "application/json" : "";
      if (wants_form) accepted += accepted.empty() ? "a form" : " or a form";
      s.fail("Content-Type " + std::string(type.empty() ? "(none)" : type) + " is not supported" +
                 (accepted.empty() ? std::string() : ": send " + accepted),
             415);
      return;
    }
  }
  for_each_index<T>([&](auto i) {
    constexpr const auto& f = std::get<decltype(i)::value>(field_list<T>);
    if constexpr (IsField<std::decay_t<decltype(f)>>::value) {
      auto& member = out.*(f.member);
      // the first source in priority order that has the field wins
      bool found = bind_text_source<f.names.binds_from(Source::path)>(in, Source::path, f.names.name_in(Source::path), member, s) ||
                   bind_text_source<f.names.binds_from(Source::form)>(in, Source::form, f.names.name_in(Source::form), member, s) ||
                   bind_text_source<f.names.binds_from(Source::query)>(in, Source::query, f.names.name_in(Source::query), member, s) ||
                   bind_text_source<f.names.binds_from(Source::cookie)>(in, Source::cookie, f.names.name_in(Source::cookie), member, s) ||
                   bind_text_source<f.names.binds_from(Source::header)>(in, Source::header, f.names.name_in(Source::header), member, s);
      if (found) seen |= seen_bit<T, decltype(i)::value>();
    }
  });
  apply_defaults(out, s, seen);
}

}  // namespace detail

}  // namespace khz
