// SPDX-License-Identifier: Apache-2.0
// khz::HeaderMap: an ordered list of header fields with ASCII case-insensitive lookup.
// A value type shared by server and client, HTTP/1.1 and HTTP/2.
//
//   headers.set("Content-Type", "text/plain");    // replaces every existing field of that name
//   headers.add("Set-Cookie", "a=1");              // appends
//   std::string_view ct = headers.get("content-type");    // "" when absent
//   for (const auto& f : headers) { f.name; f.value; }
//
// Storage: add/set copy into the map's own arena. add_ref links caller memory without copying
// (the HTTP/1.1 codec points into the connection buffer; such views are valid until the
// exchange completes). Copying a HeaderMap copies every byte, so a copy never dangles.
// Not thread-safe.
#pragma once

#include <khz/common/arena.h>
#include <khz/common/small_pool.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace khz {

// ASCII case-insensitive equality (header names, methods, tokens).
bool iequals_same_size(const char* a, const char* b, std::size_t n) noexcept;
// Inline size check first: most comparisons of field names differ in length.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && iequals_same_size(a.data(), b.data(), a.size());
}

// True when the comma-separated `list` contains `token` (case-insensitive), as in
// "Connection: keep-alive, Upgrade".
bool has_token(std::string_view list, std::string_view token) noexcept;

// True when `s` is a token (RFC 9110 §5.6.2: one or more tchar), as a method or a field name is.
bool is_token(std::string_view s) noexcept;

class HeaderMap {
 public:
  struct Field {
    std::string_view name;
    std::string_view value;
  };

  HeaderMap() = default;
  HeaderMap(const HeaderMap& other);
  HeaderMap& operator=(const HeaderMap& other);
  HeaderMap(HeaderMap&&) noexcept = default;
  HeaderMap& operator=(HeaderMap&&) noexcept = default;

  // The name check of set, remove and the lookups is inline (one bit test, below), the scan
  // out of line: most names a middleware sets or asks for are absent, and then nothing is called.
  //
  // add() and set() copy the field and check it: a name with a control byte, SP, ':' or a byte
  // past ASCII, or a value with a control byte (CR, LF, NUL, ...; RFC 9110 §5.5), marks the map
  // (may_hold_unsendable), and the writers leave such a field out with a log line, so text from
  // a request copied into a field cannot split a message. The _ref calls and add_parsed take
  // the caller's word for it: literals, configuration, or fields a parser has already checked.
  void add(std::string_view name, std::string_view value);
  void add_ref(std::string_view name, std::string_view value) { push(name, value); }
  // add() without the check, for a parser's fields (it has refused control bytes itself).
  void add_parsed(std::string_view name, std::string_view value);
  void set(std::string_view name, std::string_view value) {
    if (may_hold(name)) remove_held(name);
    add(name, value);
  }
  // set() without the copy: name and value must outlive the map's use of them (constants, or
  // a middleware's configuration, which lives as long as the server).
  void set_ref(std::string_view name, std::string_view value) {
    if (may_hold(name)) remove_held(name);
    push(name, value);
  }
  // add() or set() was given a field that may not be sent (it may have been removed since):
  // a writer then checks each field.
  bool may_hold_unsendable() const noexcept { return unsendable_; }
  // Removes every field of that name; returns how many.
  std::size_t remove(std::string_view name) noexcept { return may_hold(name) ? remove_held(name) : 0; }

  // First value of `name`, or "" when absent.
  std::string_view get(std::string_view name) const noexcept {
    return may_hold(name) ? get_held(name) : std::string_view{};
  }
  bool contains(std::string_view name) const noexcept { return may_hold(name) && contains_held(name); }
  std::size_t count(std::string_view name) const noexcept { return may_hold(name) ? count_held(name) : 0; }

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  auto begin() const noexcept { return fields_.begin(); }
  auto end() const noexcept { return fields_.end(); }

  // Copies every field's bytes into the map's own arena, so none refers to caller memory.
  void own();

  // Forgets every field; keeps capacity (no allocation once warm).
  void clear() noexcept {
    fields_.clear();
    names_ = 0;
    unsendable_ = false;
    arena_.reset();
  }

 private:
  static constexpr std::size_t kInitialFields = 8;
  // Name and value apart, not a Field: a Field passed by value goes through the stack, and
  // reading it back as one 16-byte load stalls on the two 8-byte stores that wrote it.
  // Inline, with the growth out of line: the codec pushes every request field through here.
  void push(std::string_view name, std::string_view value) {
    if (fields_.size() == fields_.capacity()) [[unlikely]] grow();
    fields_.push_back(Field{name, value});
    names_ |= name_bit(name);
  }
  void grow();
  // The scans behind remove(), get(), contains() and count(), once may_hold() said yes.
  std::size_t remove_held(std::string_view name) noexcept;
  std::string_view get_held(std::string_view name) const noexcept;
  bool contains_held(std::string_view name) const noexcept;
  std::size_t count_held(std::string_view name) const noexcept;

  // One bit per name class (its length and its first and last letters, case folded): a lookup
  // or set() of a name whose bit is clear answers without a scan. A response that middleware
  // fill with a dozen fields sets each one after checking it is absent, so most scans go.
  static std::uint64_t name_bit(std::string_view name) noexcept {
    if (name.empty()) return 1;
    const auto first = static_cast<unsigned>(static_cast<unsigned char>(name.front()) | 0x20);
    const auto last = static_cast<unsigned>(static_cast<unsigned char>(name.back()) | 0x20);
    return std::uint64_t{1} << ((name.size() * 7 + first * 3 + last) & 63);
  }
  bool may_hold(std::string_view name) const noexcept { return (names_ & name_bit(name)) != 0; }

  // From the thread's small-block pool: a map made per request mallocs nothing once warm.
  std::vector<Field, detail::PoolAllocator<Field>> fields_;
  std::uint64_t names_ = 0;  // name_bit() of every field (and maybe of removed ones)
  bool unsendable_ = false;  // add() or set() took a field that may not be sent
  Arena arena_;
};

}  // namespace khz
