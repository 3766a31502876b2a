// SPDX-License-Identifier: Apache-2.0
// A struct rendered as JSON through its field list (khz::to_json). Everything here is
// khz::detail; use <khz/app/bind.h>.
#pragma once

#include <khz/app/bind_codec.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace khz::detail {

template <class M>
void write_json(std::string& out, const M& v);
template <Reflected T>
void write_json_object(std::string& out, const T& v);

// The text a member of a rendered struct starts with, `,"name":`, made when the program is
// compiled (a name with characters JSON escapes gets them escaped).
template <Reflected T, std::size_t I>
inline constexpr auto json_key_text = [] {
  constexpr std::string_view name = std::get<I>(field_list<T>).names.json_name();
  constexpr auto escaped_size = [&] {
    std::size_t n = 0;
    for (char c : name) n += (c == '"' || c == '\\') ? 2 : static_cast<unsigned char>(c) < 0x20 ? 6 : 1;
    return n;
  }();
  std::array<char, escaped_size + 4> text{};
  std::size_t at = 0;
  text[at++] = ',';
  text[at++] = '"';
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      text[at++] = '\\';
      text[at++] = c;
    } else if (u < 0x20) {
      constexpr const char* hex = "0123456789abcdef";
      for (char e : {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 15]}) text[at++] = e;
    } else {
      text[at++] = c;
    }
  }
  text[at++] = '"';
  text[at++] = ':';
  return text;
}();

template <class M>
bool renders(const M& v) {
  if constexpr (IsOptional<M>::value) return v.has_value();
  else return true;
}

template <class M>
void write_json(std::string& out, const M& v) {
  if constexpr (IsOptional<M>::value) {
    if (v) write_json(out, *v);
    else out.append("null");
  } else if constexpr (std::is_same_v<M, Json>) {
    v.dump_to(out);
  } else if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::string_view>) {
    write_json_string(out, v);
  } else if constexpr (std::is_same_v<M, bool>) {
    out.append(v ? "true" : "false");
  } else if constexpr (is_integer_v<M>) {
    if constexpr (std::is_signed_v<M>) write_json_number(out, static_cast<std::int64_t>(v));
    else write_json_number(out, static_cast<std::uint64_t>(v));
  } else if constexpr (std::is_floating_point_v<M>) {
    write_json_number(out, static_cast<double>(v));
  } else if constexpr (NamedEnum<M>) {
    write_json_string(out, enum_name(v));
  } else if constexpr (IsDuration<M>::value) {
    write_json_number(out, static_cast<std::int64_t>(v.count()));
  } else if constexpr (IsTimePoint<M>::value) {
    auto seconds = std::chrono::floor<std::chrono::seconds>(v);
    write_timestamp(out, std::chrono::sys_seconds(seconds.time_since_epoch()),
                    std::chrono::duration_cast<std::chrono::nanoseconds>(v - seconds).count());
  } else if constexpr (IsVector<M>::value) {
    out.push_back('[');
    bool first = true;
    for (const auto& e : v) {
      if (!first) out.push_back(',');
      first = false;
      write_json(out, e);
    }
    out.push_back(']');
  } else if constexpr (IsMap<M>::value) {
    out.push_back('{');
    bool first = true;
    for (const auto& [key, e] : v) {
      if (!first) out.push_back(',');
      first = false;
      write_json_string(out, key);
      out.push_back(':');
      write_json(out, e);
    }
    out.push_back('}');
  } else if constexpr (Reflected<M>) {
    write_json_object(out, v);
  } else {
    static_assert(sizeof(M) == 0, "khz: this member type cannot render as JSON");
  }
}

// Each struct renders in a function of its own, flattened inside and a boundary to the structs
// it holds (bind_nested_object in bind_codec.h says why).
template <Reflected T>
[[gnu::noinline, gnu::flatten]] void write_json_object(std::string& out, const T& v) {
  out.push_back('{');
  bool first = true;
  for_each_index<T>([&](auto i) {
    constexpr const auto& f = std::get<decltype(i)::value>(field_list<T>);
    if constexpr (IsField<std::decay_t<decltype(f)>>::value) {  // not a Check
      if constexpr (f.names.rendered) {
        if (!renders(v.*(f.member))) return;
        constexpr const auto& key = json_key_text<T, decltype(i)::value>;  // ,"name":
        out.append(key.data() + (first ? 1 : 0), key.size() - (first ? 1 : 0));
        first = false;
        write_json(out, v.*(f.member));
      }
    }
  });
  out.push_back('}');
}

}  // namespace khz::detail
