// SPDX-License-Identifier: Apache-2.0
// Private to protocol/form: header values with parameters, as Content-Type and
// Content-Disposition carry them (RFC 9110 §5.6.6, §8.3.1; RFC 6266 §4.1):
//
//   value      = type *( OWS ";" OWS [ parameter ] )      type: a token, or token "/" token
//   parameter  = name "=" ( token / quoted-string )       names are case-insensitive
//
//   ParameterizedValue v;
//   parse_parameterized(R"(form-data; name="a"; filename="x\"y.txt")", v);
//   // v.type == "form-data", v.params == {{"name","a"}, {"filename","x\"y.txt"}}
//
// In a quoted-string a backslash escapes only '"' and '\' (any other backslash is kept, so
// "C:\dir\a.txt" from an old browser survives); values are views into the input, or into
// v.storage for an unescaped quoted-string (valid until `v` is parsed into again or destroyed).
// Bytes 0x80-0xFF are allowed in quoted strings (browsers send UTF-8 filenames raw).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace khz::protocol::form {

struct Parameter {
  std::string_view name;
  std::string_view value;
};

struct ParameterizedValue {
  std::string_view type;
  std::vector<Parameter> params;
  std::string storage;

  // The value of parameter `name` (case-insensitive), or nullptr; `count` is set to how many
  // parameters have that name.
  const std::string_view* param(std::string_view name, std::size_t* count = nullptr) const noexcept;
};

// False on a syntax error (an empty type, a parameter without '=', an unterminated quote, a
// control byte).
bool parse_parameterized(std::string_view text, ParameterizedValue& out);

// RFC 9110 §5.6.2 tchar.
bool is_token_char(char c) noexcept;

// RFC 5987 §3.2 ext-value (charset'language'pct-encoded, as in filename*=UTF-8''%E2%82%AC.txt)
// decoded to UTF-8 into `out`: charsets UTF-8 and ISO-8859-1 (case-insensitive). Returns false
// for another charset or a malformed value.
bool decode_ext_value(std::string_view text, std::string& out);

}  // namespace khz::protocol::form
