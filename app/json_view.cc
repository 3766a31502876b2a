// SPDX-License-Identifier: Apache-2.0
// JsonDocument on simdjson's DOM parser. Views read simdjson's tape directly (its documented
// format, doc/tape.md): one 64-bit word per value, the type in the top byte; numbers take a
// second word; a string's payload is an offset into the string buffer (a 32-bit length, then
// the bytes); '[' and '{' carry the index just past their matching close in the low 32 bits.
// Reading the tape keeps simdjson's types out of the public header and costs no copies.
#include <khz/app/json_view.h>

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace khz {
namespace {

// The document's tape, as views read it.
detail::JsonTape tape_of(const simdjson::dom::document& d) noexcept { return {d.tape.get(), d.string_buf.get()}; }

// Whether the object opening at word `open` names a key twice. Pairwise for a few members,
// sorted (in `keys`, scratch) for many, so a body with a million keys costs n log n, not n squared.
bool object_has_duplicate_keys(const detail::JsonTape& doc, std::size_t open, std::vector<std::string_view>& keys) {
  const std::size_t close = doc.after(open) - 1;
  const std::size_t count = (doc.words[open] >> 32) & 0xFFFFFF;  // saturated: many
  if (count <= 16) {
    for (std::size_t a = open + 1; a < close; a = doc.after(a + 1)) {
      const std::string_view key = doc.string(a);
      for (std::size_t b = doc.after(a + 1); b < close; b = doc.after(b + 1)) {
        if (doc.string(b) == key) return true;
      }
    }
    return false;
  }
  keys.clear();
  for (std::size_t i = open + 1; i < close; i = doc.after(i + 1)) keys.push_back(doc.string(i));
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

// Whether any object in the value at `index` has two members with one key: one pass over the
// value's words, checking each object as it is met. No recursion, however deep the nesting
// (JsonOptions::max_depth may be raised far past what a stack could hold).
bool has_duplicate_keys(const detail::JsonTape& doc, std::size_t index, std::vector<std::string_view>& keys) {
  const std::size_t end = doc.after(index);
  for (std::size_t i = index; i < end;) {
    switch (doc.type(i)) {
      case '{':
        if (object_has_duplicate_keys(doc, i, keys)) return true;
        ++i;  // into the object: its values may hold objects
        break;
      case 'l':
      case 'u':
      case 'd': i += 2; break;  // a number's second word
      default: ++i; break;      // '[' (into it), ']', '}', a key or string, a literal
    }
  }
  return false;
}

}  // namespace

std::string_view describe(JsonKind kind) noexcept {
  switch (kind) {
    case JsonKind::null: return "null";
    case JsonKind::boolean: return "a boolean";
    case JsonKind::int64:
    case JsonKind::uint64: return "an integer";
    case JsonKind::number: return "a number";
    case JsonKind::string: return "a string";
    case JsonKind::array: return "an array";
    case JsonKind::object: return "an object";
  }
  return "a value";
}

// ---- JsonView

bool JsonView::has_duplicate_keys() const {
  if (tape_.words == nullptr) return false;
  thread_local std::vector<std::string_view> keys;  // scratch, warm after the first use
  keys.clear();
  return khz::has_duplicate_keys(tape_, index_, keys);
}

double JsonView::number() const noexcept {
  switch (kind()) {
    case JsonKind::int64: return static_cast<double>(static_cast<std::int64_t>(tape_.words[index_ + 1]));
    case JsonKind::uint64: return static_cast<double>(tape_.words[index_ + 1]);
    case JsonKind::number: {
      std::uint64_t bits = tape_.words[index_ + 1];
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return d;
    }
    default: return 0;
  }
}

std::size_t JsonView::size() const noexcept {
  JsonKind k = kind();
  if (k != JsonKind::array && k != JsonKind::object) return 0;
  // bits 32..55 hold the count, saturated at 0xFFFFFF; count by walking past that
  std::size_t count = (tape_.words[index_] >> 32) & 0xFFFFFF;
  if (count < 0xFFFFFF) return count;
  count = 0;  // saturated: count by walking
  std::size_t end = tape_.after(index_) - 1;
  for (std::size_t i = index_ + 1; i < end; i = tape_.after(k == JsonKind::object ? i + 1 : i)) ++count;
  return count;
}

JsonView JsonView::find(std::string_view key) const noexcept {
  for (auto [k, v] : members()) {
    if (k == key) return v;
  }
  return {};
}

// ---- JsonDocument

struct JsonDocument::State {
  simdjson::dom::parser parser;
  std::string buffer;                   // the text plus simdjson's padding, reused
  std::size_t max_depth = 0;
  bool parsed = false;
};

JsonDocument::JsonDocument() noexcept = default;
JsonDocument::~JsonDocument() = default;
JsonDocument::JsonDocument(JsonDocument&&) noexcept = default;
JsonDocument& JsonDocument::operator=(JsonDocument&&) noexcept = default;

JsonError JsonDocument::parse(std::string_view text, const JsonOptions& options) {
  if (!state_) state_ = std::make_unique<State>();
  State& s = *state_;
  s.parsed = false;
  std::size_t depth = std::max<std::size_t>(options.max_depth, 1);
  // The capacity grows to the largest text seen; the depth is fixed per allocation.
  if (s.max_depth != depth || s.parser.capacity() < text.size()) {
    std::size_t capacity = std::max<std::size_t>({text.size(), s.parser.capacity(), 4096});
    // simdjson counts the document itself as a level: depth + 1 allows `depth` nested levels
    if (auto err = s.parser.allocate(capacity, depth + 1); err) {
      return {std::string("JSON parser: ") + simdjson::error_message(err)};
    }
    s.max_depth = depth;
  }
  if (s.buffer.size() < text.size() + simdjson::SIMDJSON_PADDING) {
    s.buffer.resize(text.size() + simdjson::SIMDJSON_PADDING);
  }
  if (!text.empty()) std::memcpy(s.buffer.data(), text.data(), text.size());
  std::memset(s.buffer.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  auto err = s.parser.parse(s.buffer.data(), text.size(), false).get(root);
  if (err) {
    switch (err) {
      case simdjson::DEPTH_ERROR:
        return {"malformed JSON: nested deeper than " + std::to_string(depth) + " levels"};
      case simdjson::NUMBER_OUT_OF_RANGE:
      case simdjson::NUMBER_ERROR:
        return {"malformed JSON: a number does not fit (integers must fit in 64 bits, others in a double)"};
      case simdjson::UTF8_ERROR:
        return {"malformed JSON: not valid UTF-8"};
      case simdjson::EMPTY:
        return {"malformed JSON: empty body"};
      default:
        return {std::string("malformed JSON: ") + simdjson::error_message(err)};
    }
  }
  s.parsed = true;
  if (options.duplicate_keys == JsonOptions::DuplicateKeys::reject) {
    thread_local std::vector<std::string_view> keys;  // scratch, warm after the first parse
    keys.clear();
    if (has_duplicate_keys(tape_of(s.parser.doc), 1, keys)) {
      s.parsed = false;
      return {"malformed JSON: an object has a duplicate key"};
    }
  }
  return {};
}

JsonView JsonDocument::root() const noexcept {
  if (!state_ || !state_->parsed) return {};
  return JsonView(tape_of(state_->parser.doc), 1);
}

}  // namespace khz
