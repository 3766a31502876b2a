// SPDX-License-Identifier: Apache-2.0
#include "generator/names.h"

#include <cctype>
#include <cstdio>
#include <set>

namespace hz::gen {

std::string snake_case(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool upper = std::isupper(static_cast<unsigned char>(c)) != 0;
    if (upper && i > 0) {
      bool prev_lower = std::islower(static_cast<unsigned char>(name[i - 1])) != 0 ||
                        std::isdigit(static_cast<unsigned char>(name[i - 1])) != 0;
      bool next_lower = i + 1 < name.size() && std::islower(static_cast<unsigned char>(name[i + 1])) != 0;
      bool prev_upper = std::isupper(static_cast<unsigned char>(name[i - 1])) != 0;
      if ((prev_lower || (prev_upper && next_lower)) && out.back() != '_') out += '_';
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return identifier(out);
}

std::string identifier(const std::string& name) {
  static const std::set<std::string> keywords = {
      "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch",
      "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept", "const", "consteval", "constexpr",
      "constinit", "const_cast", "continue", "co_await", "co_return", "co_yield", "decltype", "default", "delete",
      "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false", "float", "for",
      "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
      "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
      "requires", "return", "short", "signed", "sizeof", "static", "static_assert", "static_cast", "struct",
      "switch", "template", "this", "thread_local", "throw", "true", "try", "typedef", "typeid", "typename",
      "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
      "khz_fields", "errno", "assert", "NULL", "EOF", "stdin", "stdout", "stderr"};
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])) != 0) out = "_" + out;
  if (keywords.count(out) != 0) out += '_';
  return out;
}

std::string ns_path(const std::string& ns) {
  std::string out;
  for (std::size_t i = 0; i < ns.size(); ++i) {
    if (ns.compare(i, 2, "::") == 0) {
      out += '/';
      ++i;
    } else {
      out += ns[i];
    }
  }
  return out;
}

bool is_integer(idl::Kind k) {
  using idl::Kind;
  return k == Kind::i8 || k == Kind::i16 || k == Kind::i32 || k == Kind::i64 || k == Kind::u32 || k == Kind::u64;
}
bool is_number(idl::Kind k) { return is_integer(k) || k == idl::Kind::f32 || k == idl::Kind::f64; }

std::string cpp_type(const idl::Type& t, bool optional) {
  using idl::Kind;
  std::string s;
  switch (t.kind) {
    case Kind::boolean: s = "bool"; break;
    case Kind::i8: s = "std::int8_t"; break;
    case Kind::i16: s = "std::int16_t"; break;
    case Kind::i32: s = "std::int32_t"; break;
    case Kind::i64: s = "std::int64_t"; break;
    case Kind::u32: s = "std::uint32_t"; break;
    case Kind::u64: s = "std::uint64_t"; break;
    case Kind::f32: s = "float"; break;
    case Kind::f64: s = "double"; break;
    case Kind::string: case Kind::binary: s = "std::string"; break;
    case Kind::enumeration: case Kind::structure: s = t.name; break;
    case Kind::timestamp: s = "std::chrono::system_clock::time_point"; break;
    case Kind::list: case Kind::set: s = "std::vector<" + cpp_type(*t.element, false) + ">"; break;
    case Kind::map: s = "std::map<std::string, " + cpp_type(*t.element, false) + ">"; break;
  }
  return optional ? "std::optional<" + s + ">" : s;
}

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x\"\"", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace hz::gen
