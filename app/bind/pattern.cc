// SPDX-License-Identifier: Apache-2.0
// Field patterns (pattern("regex"): the whole value matches, RE2 syntax). Most patterns in field
// lists are a row of character classes with counts ("[0-9]{5}", "[a-z][a-z0-9_-]{2,15}",
// "[A-Z]{2}-\\d+"); those match here in one pass over the value, without RE2's per-match setup
// (about 20 ns of a 100 ns bind). Everything else goes to RE2.
//
// The simple subset: a sequence of atoms, each an ASCII literal, an escaped punctuation mark,
// \d \w \s, or a positive bracket class of those (ranges included), each with an optional
// quantifier ? * + {n} {n,} {n,m}; an optional ^ first and $ last. Only atoms that match ASCII
// alone: '.', negated classes and \D \W \S match whole UTF-8 characters in RE2, which a byte loop
// would count differently.
//
// Why one greedy pass gives RE2's answer: an atom with a fixed count takes exactly that many
// bytes in any match. An atom with a range of counts is accepted only if its class shares no byte
// with the atoms after it up to and including the next one that must match at least once (all of
// them when none must). Then in any match the atom ends where the run of its class ends (or at
// its maximum, where the next byte can only fail), which is what the greedy pass takes.
#include <khz/app/bind.h>

#include <khz/common/log.h>

#include <re2/re2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace khz::detail {
namespace {

// A set of ASCII bytes.
struct ByteClass {
  std::uint64_t low = 0, high = 0;  // bytes 0..63, 64..127
  void add(unsigned char c) noexcept { (c < 64 ? low : high) |= std::uint64_t{1} << (c & 63); }
  void add_range(unsigned char a, unsigned char b) noexcept {
    for (unsigned c = a; c <= b; ++c) add(static_cast<unsigned char>(c));
  }
  bool has(unsigned char c) const noexcept {
    if (c >= 128) return false;
    return (((c < 64 ? low : high) >> (c & 63)) & 1) != 0;
  }
  bool overlaps(const ByteClass& o) const noexcept { return (low & o.low) != 0 || (high & o.high) != 0; }
};

struct Atom {
  ByteClass bytes;
  std::uint32_t min = 1, max = 1;
};

constexpr std::uint32_t kUnbounded = UINT32_MAX;
constexpr std::size_t kMaxAtoms = 32;
constexpr std::uint32_t kMaxRepeat = 1000;  // RE2's own limit; past it RE2 refuses the pattern

class SimplePattern {
 public:
  // The program of `pattern`, or nothing when it is outside the subset.
  static std::optional<SimplePattern> compile(std::string_view pattern);
  bool matches(std::string_view value) const noexcept {
    std::size_t at = 0;
    for (const Atom& a : atoms_) {
      std::uint32_t n = 0;
      while (n < a.max && at < value.size() && a.bytes.has(static_cast<unsigned char>(value[at]))) ++n, ++at;
      if (n < a.min) return false;
    }
    return at == value.size();
  }

 private:
  std::vector<Atom> atoms_;
};

bool is_punct(char c) noexcept {
  return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}
bool is_meta(char c) noexcept { return std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos; }

// \d \w \s (RE2: ASCII digits, word bytes, and whitespace \t \n \f \r and space; no \v).
bool perl_class(char c, ByteClass& out) noexcept {
  switch (c) {
    case 'd': out.add_range('0', '9'); return true;
    case 'w': out.add_range('0', '9'), out.add_range('a', 'z'), out.add_range('A', 'Z'), out.add('_'); return true;
    case 's': out.add('\t'), out.add('\n'), out.add('\f'), out.add('\r'), out.add(' '); return true;
    default: return false;
  }
}

// A decimal count of a {n,m} quantifier; false past kMaxRepeat, without digits, or with a
// leading zero (RE2 reads "a{01}" as the literal text).
bool read_count(std::string_view p, std::size_t& i, std::uint32_t& out) noexcept {
  std::size_t start = i;
  if (i + 1 < p.size() && p[i] == '0' && p[i + 1] >= '0' && p[i + 1] <= '9') return false;
  out = 0;
  while (i < p.size() && p[i] >= '0' && p[i] <= '9') {
    out = out * 10 + static_cast<std::uint32_t>(p[i] - '0');
    if (out > kMaxRepeat) return false;
    ++i;
  }
  return i != start;
}

// One bracket class from p[i] (just past '['); i ends just past ']'.
bool read_class(std::string_view p, std::size_t& i, ByteClass& out) noexcept {
  if (i < p.size() && p[i] == '^') return false;  // negated: matches non-ASCII characters
  bool first = true;
  while (i < p.size() && (p[i] != ']' || first)) {
    first = false;
    unsigned char lo;
    if (p[i] == '\\') {
      if (i + 1 >= p.size()) return false;
      char e = p[i + 1];
      i += 2;
      if (perl_class(e, out)) continue;
      if (!is_punct(e)) return false;
      lo = static_cast<unsigned char>(e);
    } else if (p[i] == '[') {
      return false;  // [:alpha:] and friends
    } else {
      lo = static_cast<unsigned char>(p[i++]);
    }
    if (lo >= 128) return false;
    if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
      unsigned char hi = static_cast<unsigned char>(p[i + 1]);
      if (hi == '\\' || hi == '[' || hi >= 128 || hi < lo) return false;
      i += 2;
      out.add_range(lo, hi);
    } else {
      out.add(lo);
    }
  }
  if (i >= p.size()) return false;
  ++i;  // ']'
  return out.low != 0 || out.high != 0;
}

std::optional<SimplePattern> SimplePattern::compile(std::string_view p) {
  SimplePattern out;
  std::size_t i = 0;
  std::uint32_t size = 0;  // the counts summed
  if (i < p.size() && p[i] == '^') ++i;
  while (i < p.size()) {
    if (p[i] == '$' && i + 1 == p.size()) break;
    Atom a;
    char c = p[i];
    if (c == '[') {
      ++i;
      if (!read_class(p, i, a.bytes)) return std::nullopt;
    } else if (c == '\\') {
      if (i + 1 >= p.size()) return std::nullopt;
      char e = p[i + 1];
      i += 2;
      if (!perl_class(e, a.bytes)) {
        if (!is_punct(e)) return std::nullopt;  // \b, \pL, \x41, \Q...: RE2's
        a.bytes.add(static_cast<unsigned char>(e));
      }
    } else if (is_meta(c) || static_cast<unsigned char>(c) >= 128 || static_cast<unsigned char>(c) < 0x20) {
      return std::nullopt;
    } else {
      a.bytes.add(static_cast<unsigned char>(c));
      ++i;
    }
    if (i < p.size()) {
      switch (p[i]) {
        case '?': a.min = 0, a.max = 1, ++i; break;
        case '*': a.min = 0, a.max = kUnbounded, ++i; break;
        case '+': a.min = 1, a.max = kUnbounded, ++i; break;
        case '{': {
          ++i;
          if (!read_count(p, i, a.min)) return std::nullopt;
          a.max = a.min;
          if (i < p.size() && p[i] == ',') {
            ++i;
            a.max = kUnbounded;
            if (i < p.size() && p[i] != '}' && (!read_count(p, i, a.max) || a.max < a.min)) return std::nullopt;
          }
          if (i >= p.size() || p[i] != '}') return std::nullopt;
          ++i;
          break;
        }
        default: break;
      }
      if (i < p.size() && (p[i] == '?' || p[i] == '*' || p[i] == '+' || p[i] == '{')) return std::nullopt;  // lazy, nested
    }
    out.atoms_.push_back(a);
    if (out.atoms_.size() > kMaxAtoms) return std::nullopt;
    size += a.max == kUnbounded ? a.min : a.max;
    if (size > kMaxRepeat) return std::nullopt;  // RE2 may refuse a program that large: its answer
  }
  // the greedy pass's condition (the file's comment)
  for (std::size_t a = 0; a < out.atoms_.size(); ++a) {
    if (out.atoms_[a].min == out.atoms_[a].max) continue;
    for (std::size_t b = a + 1; b < out.atoms_.size(); ++b) {
      if (out.atoms_[a].bytes.overlaps(out.atoms_[b].bytes)) return std::nullopt;
      if (out.atoms_[b].min > 0) break;
    }
  }
  return out;
}

std::unique_ptr<re2::RE2> compile_re2(std::string_view pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  return std::make_unique<re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
}

bool re2_matches(const re2::RE2& re, std::string_view value) {
  // Match with both ends anchored and no submatches is FullMatch without its argument plumbing
  return re.ok() && re.Match(re2::StringPiece(value.data(), value.size()), 0, value.size(), re2::RE2::ANCHOR_BOTH, nullptr, 0);
}

}  // namespace

bool matches_pattern(std::string_view pattern, std::string_view value) {
  // RE2, not std::regex, for what the simple pass cannot take: matching is linear in the input
  // and never recurses, so a long value sent against a field's pattern can neither take seconds
  // nor overflow the stack. Patterns come from field lists (string literals, a handful per
  // program): one compiled form per pattern and thread, found by address, no lock.
  struct Compiled {
    const char* data;
    std::size_t size;
    std::optional<SimplePattern> simple;
    std::unique_ptr<re2::RE2> re;  // when not simple
  };
  thread_local std::vector<Compiled> compiled;
  const Compiled* found = nullptr;
  for (const auto& c : compiled) {
    if (c.data == pattern.data() && c.size == pattern.size()) {
      found = &c;
      break;
    }
  }
  if (found == nullptr) {
    Compiled c{pattern.data(), pattern.size(), SimplePattern::compile(pattern), nullptr};
    if (!c.simple) {
      c.re = compile_re2(pattern);
      if (!c.re->ok()) KHZ_LOG(error, "khz: the field pattern " << pattern << " does not compile: " << c.re->error());
    }
    found = &compiled.emplace_back(std::move(c));
  }
  return found->simple ? found->simple->matches(value) : re2_matches(*found->re, value);
}

int match_simple_pattern(std::string_view pattern, std::string_view value) {
  std::optional<SimplePattern> simple = SimplePattern::compile(pattern);
  return simple ? simple->matches(value) : -1;
}

bool match_pattern_re2(std::string_view pattern, std::string_view value) { return re2_matches(*compile_re2(pattern), value); }

}  // namespace khz::detail
