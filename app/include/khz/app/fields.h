// SPDX-License-Identifier: Apache-2.0
// khz field lists: a struct's fields declared once, next to the struct, with where each comes
// from and the rules it must keep. Binding (<khz/app/bind.h>), validation, JSON rendering and
// the code `hz` generates all read the same list — the part Hertz's struct tags play
// (`path:"id" query:"q" header:"X-Token" json:"name" default:"1" vd:"..."`).
//
//   struct Address {
//     std::string city;
//     std::optional<std::string> zip;
//     static constexpr auto khz_fields() {
//       return std::tuple{
//           khz::field("city", &Address::city).json().required(),
//           khz::field("zip", &Address::zip).json().pattern("[0-9]{5}"),
//       };
//     }
//   };
//   struct CreateUser {
//     std::int64_t id = 0;
//     std::string name;
//     int age = 18;                             // the member's initialiser is its default
//     std::vector<std::string> tags;
//     Address address;
//     std::optional<std::string> token;
//     static constexpr auto khz_fields() {
//       return std::tuple{
//           khz::field("id", &CreateUser::id).path(),
//           khz::field("name", &CreateUser::name).json().required().length(1, 64),
//           khz::field("age", &CreateUser::age).json().query().range(0, 150),
//           khz::field("tags", &CreateUser::tags).json().query("tag").max_length(16),
//           khz::field("address", &CreateUser::address).json(),
//           khz::field("token", &CreateUser::token).header("X-Token"),
//           khz::check<CreateUser>("age", [](const CreateUser& u) { return u.age >= 18 || u.tags.empty(); },
//                                  "minors cannot have tags"),
//       };
//     }
//   };
//
// A type you cannot change gets its list from a free function found by argument-dependent
// lookup: `constexpr auto khz_fields(const Address*) { return std::tuple{...}; }`.
//
// Sources (a field binds from those it names; with none named it binds from the JSON body, a
// form body and the query string under its name). When several name a value, the first of
// path, form, query, cookie, header wins over the JSON body. `.default_value("1")` gives the
// text bound when no source has the field (as Hertz's `default:"1"`; hz writes these).
//
// Rules (checked by validate(); every failing field is reported). Only required() speaks of an
// absent value (an unset optional, an empty string); the others check values that are there:
//   required()            has a value: an optional is set, a string or container is not empty;
//                         a number that must be sent is declared std::optional<int>
//   min(n) max(n) range(a, b)     numbers (each element of a container)
//   length(a, b) min_length(a) max_length(b)   strings in characters (UTF-8 code points),
//                         containers in elements
//   one_of("a|b|c")       strings and enums by name, numbers by value
//   pattern("regex")      the whole string matches (RE2 syntax: linear time, no backtracking)
//                         (a row of ASCII classes with counts, "[0-9]{5}", matches in one pass)
//   email() url() uuid() ip() ipv4() ipv6()   formats
//   check(fn, "message")  a predicate on the member; khz::check<T>(field, fn, message) on the
//                         whole struct for rules across fields (`end > start`)
//   message("...")        replaces the message of the field's failing rule
// Enums bind and render by name once they have names:
//   constexpr auto khz_enum_names(const Color*) {
//     return khz::enum_names<Color>({{Color::red, "red"}, {Color::green, "green"}});
//   }
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace khz {

// Where a field's value may come from (a bit set).
enum class Source : std::uint8_t { path = 1, form = 2, query = 4, cookie = 8, header = 16, json = 32 };

enum class Format : std::uint8_t { none, email, url, uuid, ip, ipv4, ipv6 };

// A field's rules, whatever its type. Numbers compare as long double (exact for 64-bit integers).
struct FieldRules {
  bool required = false;
  bool has_min = false;
  bool has_max = false;
  long double min = 0;
  long double max = 0;
  std::size_t min_length = 0;
  std::size_t max_length = std::numeric_limits<std::size_t>::max();
  std::string_view one_of;   // "a|b|c"
  std::string_view pattern;  // RE2 regular expression the whole value matches
  Format format = Format::none;
  std::string_view message;  // replaces the message of a failing rule
};

// A field's name in each source; "" where the field does not bind from it.
struct FieldNames {
  std::string_view name;  // the external name: JSON rendering (unless json() renames it) and errors
  std::string_view path, form, query, cookie, header, json;
  std::uint8_t sources = 0;  // Source bits; 0: json, form and query under `name`
  bool rendered = true;      // rendered by to_json (skip_json() turns it off)
  std::string_view default_text;
  bool has_default = false;

  constexpr std::string_view json_name() const noexcept { return json.empty() ? name : json; }
  constexpr bool binds_from(Source s) const noexcept {
    auto bit = static_cast<std::uint8_t>(s);
    if (sources == 0) return s == Source::json || s == Source::form || s == Source::query;
    return (sources & bit) != 0;
  }
  constexpr std::string_view name_in(Source s) const noexcept {
    std::string_view n;
    switch (s) {
      case Source::path: n = path; break;
      case Source::form: n = form; break;
      case Source::query: n = query; break;
      case Source::cookie: n = cookie; break;
      case Source::header: n = header; break;
      case Source::json: n = json; break;
    }
    return n.empty() ? name : n;
  }
};

template <class T, class M>
struct Field {
  using Struct = T;
  using Member = M;
  FieldNames names{};
  M T::*member = nullptr;
  FieldRules rules{};
  bool (*predicate)(const M&) = nullptr;
  std::string_view predicate_message{};

  // ---- sources (an empty name: the field's name)
  constexpr Field path(std::string_view n = {}) const { return from(Source::path, n); }
  constexpr Field form(std::string_view n = {}) const { return from(Source::form, n); }
  constexpr Field query(std::string_view n = {}) const { return from(Source::query, n); }
  constexpr Field cookie(std::string_view n = {}) const { return from(Source::cookie, n); }
  constexpr Field header(std::string_view n = {}) const { return from(Source::header, n); }
  constexpr Field json(std::string_view n = {}) const { return from(Source::json, n); }
  constexpr Field default_value(std::string_view text) const {
    Field f = *this;
    f.names.default_text = text;
    f.names.has_default = true;
    return f;
  }
  // Not rendered by to_json (Hertz's json:"-" for output).
  constexpr Field skip_json() const {
    Field f = *this;
    f.names.rendered = false;
    return f;
  }

  // ---- rules
  constexpr Field required() const { return with([](FieldRules& r) { r.required = true; }); }
  constexpr Field min(long double v) const { return with([v](FieldRules& r) { r.has_min = true, r.min = v; }); }
  constexpr Field max(long double v) const { return with([v](FieldRules& r) { r.has_max = true, r.max = v; }); }
  constexpr Field range(long double lo, long double hi) const { return min(lo).max(hi); }
  constexpr Field min_length(std::size_t n) const { return with([n](FieldRules& r) { r.min_length = n; }); }
  constexpr Field max_length(std::size_t n) const { return with([n](FieldRules& r) { r.max_length = n; }); }
  constexpr Field length(std::size_t lo, std::size_t hi) const { return min_length(lo).max_length(hi); }
  constexpr Field one_of(std::string_view bar_separated) const {
    return with([bar_separated](FieldRules& r) { r.one_of = bar_separated; });
  }
  constexpr Field pattern(std::string_view regex) const { return with([regex](FieldRules& r) { r.pattern = regex; }); }
  constexpr Field email() const { return format(Format::email); }
  constexpr Field url() const { return format(Format::url); }
  constexpr Field uuid() const { return format(Format::uuid); }
  constexpr Field ip() const { return format(Format::ip); }
  constexpr Field ipv4() const { return format(Format::ipv4); }
  constexpr Field ipv6() const { return format(Format::ipv6); }
  constexpr Field check(bool (*fn)(const M&), std::string_view failure_message = "is invalid") const {
    Field f = *this;
    f.predicate = fn;
    f.predicate_message = failure_message;
    return f;
  }
  constexpr Field message(std::string_view text) const { return with([text](FieldRules& r) { r.message = text; }); }

 private:
  constexpr Field from(Source s, std::string_view n) const {
    Field f = *this;
    f.names.sources |= static_cast<std::uint8_t>(s);
    switch (s) {
      case Source::path: f.names.path = n; break;
      case Source::form: f.names.form = n; break;
      case Source::query: f.names.query = n; break;
      case Source::cookie: f.names.cookie = n; break;
      case Source::header: f.names.header = n; break;
      case Source::json: f.names.json = n; break;
    }
    return f;
  }
  constexpr Field format(Format fmt) const { return with([fmt](FieldRules& r) { r.format = fmt; }); }
  template <class Fn>
  constexpr Field with(Fn fn) const {
    Field f = *this;
    fn(f.rules);
    return f;
  }
};

// A field of T: its external name and its member.
template <class T, class M>
constexpr Field<T, M> field(std::string_view name, M T::*member) {
  Field<T, M> f;
  f.names.name = name;
  f.member = member;
  return f;
}

// A rule on the whole struct, reported against `field` (an external name) when it fails.
template <class T>
struct Check {
  std::string_view field;
  bool (*predicate)(const T&) = nullptr;
  std::string_view message;
};
template <class T>
constexpr Check<T> check(std::string_view field, bool (*predicate)(const T&), std::string_view message) {
  return Check<T>{field, predicate, message};
}

// ---- enum names
template <class E>
struct EnumName {
  E value;
  std::string_view name;
};
template <class E, std::size_t N>
constexpr std::array<EnumName<E>, N> enum_names(const EnumName<E> (&list)[N]) {
  std::array<EnumName<E>, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = list[i];
  return out;
}

// ---- what binding and rendering use to find the lists
template <class T>
concept HasMemberFields = requires { T::khz_fields(); };
template <class T>
concept HasFreeFields = requires { khz_fields(static_cast<const T*>(nullptr)); };
// A struct with a field list.
template <class T>
concept Reflected = std::is_class_v<T> && (HasMemberFields<T> || HasFreeFields<T>);
template <class E>
concept NamedEnum = std::is_enum_v<E> && requires { khz_enum_names(static_cast<const E*>(nullptr)); };

namespace detail {
template <class T>
constexpr auto make_field_list() {
  if constexpr (HasMemberFields<T>) {
    return T::khz_fields();
  } else {
    return khz_fields(static_cast<const T*>(nullptr));
  }
}
}  // namespace detail

// The field list of T, built once (a tuple of Field<T, M> and Check<T>).
template <Reflected T>
inline constexpr auto field_list = detail::make_field_list<T>();

template <NamedEnum E>
inline constexpr auto enum_names_of = khz_enum_names(static_cast<const E*>(nullptr));

template <class X>
struct IsField : std::false_type {};
template <class T, class M>
struct IsField<Field<T, M>> : std::true_type {};

// Calls fn(field) for each Field of T's list, in order (Checks are skipped).
template <Reflected T, class Fn>
constexpr void for_each_field(Fn&& fn) {
  std::apply(
      [&](const auto&... item) {
        (
            [&](const auto& f) {
              if constexpr (IsField<std::decay_t<decltype(f)>>::value) fn(f);
            }(item),
            ...);
      },
      field_list<T>);
}

// The name of an enum value ("" for a value without one), and the value of a name.
template <NamedEnum E>
constexpr std::string_view enum_name(E value) noexcept {
  for (const auto& e : enum_names_of<E>) {
    if (e.value == value) return e.name;
  }
  return {};
}
template <NamedEnum E>
constexpr bool enum_from_name(std::string_view name, E& out) noexcept {
  for (const auto& e : enum_names_of<E>) {
    if (e.name == name) return out = e.value, true;
  }
  return false;
}

}  // namespace khz
