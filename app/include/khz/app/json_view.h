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

class JsonView;

// Iterates the elements of an array or the members of an object (key, value).
class JsonIterator {
 public:
  JsonIterator() noexcept = default;
  JsonView value() const noexcept;
  std::string_view key() const noexcept;  // objects only
  JsonIterator& operator++() noexcept;
  bool operator==(const JsonIterator& other) const noexcept {
    return doc_ == other.doc_ && index_ == other.index_;
  }

 private:
  friend class JsonView;
  JsonIterator(const void* doc, std::size_t index, bool object) noexcept
      : doc_(doc), index_(index), object_(object) {}
  const void* doc_ = nullptr;  // the parser's document (third-party type, kept opaque)
  std::size_t index_ = 0;      // its tape position
  bool object_ = false;
};

class JsonView {
 public:
  JsonView() noexcept = default;
  JsonKind kind() const noexcept;
  bool is_null() const noexcept { return kind() == JsonKind::null; }
  bool is_number() const noexcept {
    JsonKind k = kind();
    return k == JsonKind::int64 || k == JsonKind::uint64 || k == JsonKind::number;
  }
  // Each reads the value of its kind; called on another kind it returns false / 0 / "".
  bool boolean() const noexcept;
  std::int64_t int64() const noexcept;
  std::uint64_t uint64() const noexcept;
  double number() const noexcept;  // any numeric kind, as a double
  std::string_view string() const noexcept;
  // Arrays and objects: the number of elements or members.
  std::size_t size() const noexcept;
  // An object's member by key (the first when keys repeat); a null view (kind() == null with
  // found() false) when absent or not an object.
  JsonView find(std::string_view key) const noexcept;
  bool found() const noexcept { return doc_ != nullptr; }

  struct Range {
    JsonIterator first, last;
    JsonIterator begin() const noexcept { return first; }
    JsonIterator end() const noexcept { return last; }
  };
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
  ElementRange elements() const noexcept;
  MemberRange members() const noexcept;

 private:
  friend class JsonDocument;
  friend class JsonIterator;
  JsonView(const void* doc, std::size_t index) noexcept : doc_(doc), index_(index) {}
  const void* doc_ = nullptr;
  std::size_t index_ = 0;
};

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
