// SPDX-License-Identifier: Apache-2.0
// khz::JsonDocument and khz::JsonView: the JSON reader. One strict RFC 8259 parser for binding
// (<khz/app/bind.h>) and for users; khz::Json::parse (<khz/app/json.h>) builds an owned tree on
// top of it.
//
//   khz::JsonDocument doc;
//   if (auto err = doc.parse(ctx.body()); err) { ctx.string(400, err.message); return; }
//   khz::JsonView root = doc.root();
//   for (auto [key, value] : root.members()) {
//     if (key == "name" && value.kind() == khz::JsonKind::string) name = value.string();
//   }
//
// What "strict" means here (each is a parse error with an offset-free message):
//   - RFC 8259 grammar only: no comments, trailing commas, single quotes, NaN or leading zeros;
//   - the text is valid UTF-8 (escapes included: a lone surrogate \ud800 is an error);
//   - a number must fit: an integer outside [-2^63, 2^64) or a float outside double's range is
//     an error, never a silent rounding to infinity;
//   - nesting deeper than JsonOptions::max_depth is an error (the parser does not recurse, so
//     no input can exhaust the stack);
//   - duplicate keys in one object are an error by default (JsonOptions::duplicate_keys).
//
// Lifetimes: a JsonView, and every string_view it returns, is valid until the document is
// parsed again or destroyed. Threading: a JsonDocument is used by one thread at a time; the
// parser's buffers are per thread and reused, so a warm parse allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace khz {

enum class JsonKind : std::uint8_t { null, boolean, int64, uint64, number, string, array, object };

// The name of a kind as a message would say it: "null", "a boolean", "an integer", "a number",
// "a string", "an array", "an object".
std::string_view describe(JsonKind kind) noexcept;

struct JsonOptions {
  std::size_t max_depth = 64;  // arrays and objects nested deeper are an error
  enum class DuplicateKeys : std::uint8_t { reject, keep } duplicate_keys = DuplicateKeys::reject;
};

struct JsonError {
  std::string message;  // "" when there is no error
  explicit operator bool() const noexcept { return !message.empty(); }
};

// The parsed document is a tape (simdjson's, doc/tape.md): one 64-bit word per value, its type
// in the top byte; numbers take a second word; a string's word holds an offset into the string
// buffer (a 32-bit length, then the bytes); '[' and '{' hold the index just past their matching
// close in the low 32 bits and their element count in bits 32..55. Views read it inline.
namespace detail {
struct JsonTape {
  const std::uint64_t* words = nullptr;
  const std::uint8_t* strings = nullptr;

  char type(std::size_t i) const noexcept { return static_cast<char>(words[i] >> 56); }
  // The index just past the value at i.
  std::size_t after(std::size_t i) const noexcept {
    switch (type(i)) {
      case '[':
      case '{': return static_cast<std::uint32_t>(words[i]);
      case 'l':
      case 'u':
      case 'd': return i + 2;
      default: return i + 1;
    }
  }
  std::string_view string(std::size_t i) const noexcept {
    std::uint64_t offset = words[i] & 0x00FFFFFFFFFFFFFFull;
    std::uint32_t length;
    std::memcpy(&length, strings + offset, sizeof length);
    return {reinterpret_cast<const char*>(strings + offset + sizeof length), length};
  }
  bool operator==(const JsonTape& o) const noexcept { return words == o.words; }
};
}  // namespace detail

class JsonView;

// Iterates the elements of an array or the members of an object (key, value).
class JsonIterator {
 public:
  JsonIterator() noexcept = default;
  inline JsonView value() const noexcept;
  std::string_view key() const noexcept { return object_ ? tape_.string(index_) : std::string_view{}; }
  JsonIterator& operator++() noexcept {
    index_ = tape_.after(object_ ? index_ + 1 : index_);
    return *this;
  }
  bool operator==(const JsonIterator& other) const noexcept { return tape_ == other.tape_ && index_ == other.index_; }

 private:
  friend class JsonView;
  JsonIterator(detail::JsonTape tape, std::size_t index, bool object) noexcept
      : tape_(tape), index_(index), object_(object) {}
  detail::JsonTape tape_{};
  std::size_t index_ = 0;
  bool object_ = false;
};

class JsonView {
 public:
  JsonView() noexcept = default;
  JsonKind kind() const noexcept {
    if (tape_.words == nullptr) return JsonKind::null;
    switch (tape_.type(index_)) {
      case 't':
      case 'f': return JsonKind::boolean;
      case 'l': return JsonKind::int64;
      case 'u': return JsonKind::uint64;
      case 'd': return JsonKind::number;
      case '"': return JsonKind::string;
      case '[': return JsonKind::array;
      case '{': return JsonKind::object;
      default: return JsonKind::null;
    }
  }
  bool is_null() const noexcept { return kind() == JsonKind::null; }
  bool is_number() const noexcept {
    JsonKind k = kind();
    return k == JsonKind::int64 || k == JsonKind::uint64 || k == JsonKind::number;
  }
  // Each reads the value of its kind; called on another kind it returns false / 0 / "".
  bool boolean() const noexcept { return tape_.words != nullptr && tape_.type(index_) == 't'; }
  std::int64_t int64() const noexcept {
    return kind() == JsonKind::int64 ? static_cast<std::int64_t>(tape_.words[index_ + 1]) : 0;
  }
  std::uint64_t uint64() const noexcept {
    JsonKind k = kind();
    if (k == JsonKind::uint64) return tape_.words[index_ + 1];
    if (k == JsonKind::int64 && static_cast<std::int64_t>(tape_.words[index_ + 1]) >= 0) return tape_.words[index_ + 1];
    return 0;
  }
  double number() const noexcept;  // any numeric kind, as a double
  std::string_view string() const noexcept {
    return kind() == JsonKind::string ? tape_.string(index_) : std::string_view{};
  }
  // Arrays and objects: the number of elements or members.
  std::size_t size() const noexcept;
  // An object's member by key (the first when keys repeat); a view with found() false when
  // absent or not an object.
  JsonView find(std::string_view key) const noexcept;
  bool found() const noexcept { return tape_.words != nullptr; }
  // Whether an object in this value (itself or nested) has a key twice (for documents parsed
  // with DuplicateKeys::keep).
  bool has_duplicate_keys() const;

  struct MemberRange {
    JsonIterator first, last;
    struct Iterator {
      JsonIterator at;
      std::pair<std::string_view, JsonView> operator*() const noexcept;
      Iterator& operator++() noexcept { return ++at, *this; }
      bool operator==(const Iterator& o) const noexcept { return at == o.at; }
    };
    Iterator begin() const noexcept { return {first}; }
    Iterator end() const noexcept { return {last}; }
  };
  struct ElementRange {
    JsonIterator first, last;
    struct Iterator {
      JsonIterator at;
      JsonView operator*() const noexcept { return at.value(); }
      Iterator& operator++() noexcept { return ++at, *this; }
      bool operator==(const Iterator& o) const noexcept { return at == o.at; }
    };
    Iterator begin() const noexcept { return {first}; }
    Iterator end() const noexcept { return {last}; }
  };
  // Empty ranges on a value of another kind.
  ElementRange elements() const noexcept {
    if (kind() != JsonKind::array) return {};
    std::size_t end = tape_.after(index_) - 1;
    return {JsonIterator(tape_, index_ + 1, false), JsonIterator(tape_, end, false)};
  }
  MemberRange members() const noexcept {
    if (kind() != JsonKind::object) return {};
    std::size_t end = tape_.after(index_) - 1;
    return {JsonIterator(tape_, index_ + 1, true), JsonIterator(tape_, end, true)};
  }

 private:
  friend class JsonDocument;
  friend class JsonIterator;
  JsonView(detail::JsonTape tape, std::size_t index) noexcept : tape_(tape), index_(index) {}
  detail::JsonTape tape_{};
  std::size_t index_ = 0;
};

inline JsonView JsonIterator::value() const noexcept { return JsonView(tape_, object_ ? index_ + 1 : index_); }
inline std::pair<std::string_view, JsonView> JsonView::MemberRange::Iterator::operator*() const noexcept {
  return {at.key(), at.value()};
}

class JsonDocument {
 public:
  JsonDocument() noexcept;
  ~JsonDocument();
  JsonDocument(JsonDocument&&) noexcept;
  JsonDocument& operator=(JsonDocument&&) noexcept;

  // Parses `text` (copied into the parser's padded buffer; `text` need not outlive the call).
  JsonError parse(std::string_view text, const JsonOptions& options = {});
  // The top-level value; a null view before a successful parse.
  JsonView root() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace khz
