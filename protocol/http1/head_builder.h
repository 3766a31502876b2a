// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http1: HeadBuilder, for the request and response writers.
#pragma once

#include <khz/common/linked_buffer.h>
#include <khz/common/short_copy.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace khz::protocol::http1 {

// Writes pieces straight into reserved room in the buffer's tail node (one reserve and one
// commit for a typical head, rather than one append per piece).
class HeadBuilder {
 public:
  explicit HeadBuilder(LinkedBuffer& out) : out_(out), room_(out.reserve(kRoom)) {}
  ~HeadBuilder() { out_.commit(used_); }
  HeadBuilder(const HeadBuilder&) = delete;
  HeadBuilder& operator=(const HeadBuilder&) = delete;

  void add(std::string_view s) {
    if (s.size() > room_.size() - used_) more(s.size());
    copy_short(room_.data() + used_, s.data(), s.size());
    used_ += s.size();
  }
  void add_number(std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    add({buf, static_cast<std::size_t>(r.ptr - buf)});
  }
  // "name: value\r\n", with one check for room.
  void field(std::string_view name, std::string_view value) {
    const std::size_t n = name.size() + value.size() + 4;
    if (n > room_.size() - used_) more(n);
    char* p = copy_short(room_.data() + used_, name.data(), name.size());
    std::memcpy(p, ": ", 2);
    p = copy_short(p + 2, value.data(), value.size());
    std::memcpy(p, "\r\n", 2);
    used_ += n;
  }

 private:
  static constexpr std::size_t kRoom = 512;
  void more(std::size_t need) {
    out_.commit(used_);
    used_ = 0;
    room_ = out_.reserve(need > kRoom ? need : kRoom);
  }

  LinkedBuffer& out_;
  std::span<char> room_;
  std::size_t used_ = 0;
};

}  // namespace khz::protocol::http1
