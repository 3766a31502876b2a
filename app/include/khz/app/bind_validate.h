// SPDX-License-Identifier: Apache-2.0
// The rules of a field list checked on a value (khz::validate); every failing field reported.
// Everything here is khz::detail; use <khz/app/bind.h>.
#pragma once

#include <khz/app/bind_codec.h>

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace khz::detail {

template <Reflected T>
void validate_into(const T& v, BindState& s);
// A nested struct validates in a function of its own (bind_nested_object in bind_codec.h says why).
template <Reflected T>
[[gnu::noinline]] void validate_nested(const T& v, BindState& s) {
  validate_into(v, s);
}

template <class M>
bool has_value(const M& v) {
  if constexpr (IsOptional<M>::value) return v.has_value();
  else if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::string_view> || IsVector<M>::value ||
                     IsMap<M>::value)
    return !v.empty();
  else if constexpr (std::is_same_v<M, Json>) return !std::holds_alternative<std::nullptr_t>(v.variant());
  else return true;
}

// Whether a string of `bytes` UTF-8 bytes has between `min` and `max` characters; counts them
// only when the byte count leaves it open (n bytes hold n/4 to n characters).
inline bool utf8_length_within(std::string_view text, std::size_t min, std::size_t max) noexcept {
  std::size_t bytes = text.size();
  if (bytes <= max && (bytes + 3) / 4 >= min) return true;
  std::size_t n = utf8_length(text);
  return n >= min && n <= max;
}

// The rules that apply to one scalar (a string, a number, an enum), or to each element.
template <class M>
void validate_scalar(const M& v, const FieldRules& r, BindState& s) {
  if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::string_view>) {
    std::string_view text = v;
    if (text.empty()) return;  // absent: only required() speaks of it
    if (!utf8_length_within(text, r.min_length, r.max_length)) s.fail_rule(r, RuleFailure::length);
    if (!r.one_of.empty() && !in_bar_list(r.one_of, text)) s.fail_rule(r, RuleFailure::one_of);
    if (!r.pattern.empty() && !matches_pattern(r.pattern, text)) s.fail_rule(r, RuleFailure::pattern);
    if (r.format != Format::none && !matches_format(r.format, text)) s.fail_rule(r, RuleFailure::format);
  } else if constexpr (std::is_arithmetic_v<M> && !std::is_same_v<M, bool>) {
    auto x = static_cast<long double>(v);
    if (r.has_min && x < r.min) s.fail_rule(r, RuleFailure::min);
    if (r.has_max && x > r.max) s.fail_rule(r, RuleFailure::max);
    if (!r.one_of.empty() && !in_bar_list(r.one_of, x)) s.fail_rule(r, RuleFailure::one_of);
  } else if constexpr (NamedEnum<M>) {
    if (!r.one_of.empty() && !in_bar_list(r.one_of, enum_name(v))) s.fail_rule(r, RuleFailure::one_of);
  } else if constexpr (Reflected<M>) {
    validate_nested(v, s);
  } else if constexpr (IsOptional<M>::value) {
    if (v) validate_scalar(*v, r, s);
  } else if constexpr (IsVector<M>::value || IsMap<M>::value) {
    // nested containers: elements' rules only
    std::size_t i = 0;
    for (const auto& e : v) {
      if constexpr (IsMap<M>::value) s.path.push(e.first), validate_scalar(e.second, r, s);
      else s.path.push(i++), validate_scalar(e, r, s);
      s.path.pop();
    }
  }
}

template <class M>
void validate_value(const M& v, const FieldRules& r, BindState& s) {
  if (r.required && !has_value(v)) return s.fail_rule(r, RuleFailure::required);
  if constexpr (IsOptional<M>::value) {
    if (v) {
      FieldRules inner = r;
      inner.required = false;
      validate_value(*v, inner, s);
    }
  } else if constexpr (IsVector<M>::value || IsMap<M>::value) {
    if (v.size() < r.min_length || v.size() > r.max_length) s.fail_rule(r, RuleFailure::items);
    FieldRules each = r;
    each.required = false;
    each.min_length = 0;
    each.max_length = std::numeric_limits<std::size_t>::max();
    validate_scalar(v, each, s);
  } else {
    validate_scalar(v, r, s);
  }
}

template <Reflected T>
[[gnu::flatten]] void validate_into(const T& v, BindState& s) {
  std::apply(
      [&](const auto&... item) {
        (
            [&](const auto& f) {
              using Item = std::decay_t<decltype(f)>;
              if constexpr (IsField<Item>::value) {
                s.path.push(f.names.json_name());
                const auto& member = v.*(f.member);
                std::size_t before = s.errors.fields().size();
                validate_value(member, f.rules, s);
                if (f.predicate != nullptr && s.errors.fields().size() == before && !f.predicate(member)) {
                  s.fail(std::string(f.predicate_message));
                }
                s.path.pop();
              } else {
                if (!f.predicate(v)) {
                  s.path.push(f.field);
                  s.fail(std::string(f.message));
                  s.path.pop();
                }
              }
            }(item),
            ...);
      },
      field_list<T>);
}

}  // namespace khz::detail
