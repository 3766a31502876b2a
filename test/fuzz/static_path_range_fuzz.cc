// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: what static files read from a request. The first byte picks the part and
// limits; the rest is a Range field value or a path under a static prefix.
//   Range: every satisfiable range lies within the size and is first <= last; there are at
//   most max_ranges; merged ranges are disjoint and not touching; the multipart framing
//   carries each range's Content-Range.
//   Path: a path accepted has no "..", "." or empty segment, no backslash, NUL or control
//   byte, no escape of a dot, slash or backslash, and cleaning it again gives it back; joined
//   to a root it stays within the root (path_within).
#include <khz/protocol/file_path.h>
#include <khz/protocol/range.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void fuzz_range(std::uint8_t mode, std::string_view value) {
  static constexpr std::uint64_t kSizes[] = {0, 1, 10, 1000, 1u << 20, std::uint64_t{1} << 40};
  const std::uint64_t size = kSizes[mode % 6];
  const std::size_t max_ranges = (mode >> 3) % 20;
  auto set = khz::protocol::parse_range(value, size, max_ranges);
  switch (set.status) {
    case khz::protocol::RangeStatus::none:
    case khz::protocol::RangeStatus::unsatisfiable:
      check(set.ranges.empty());
      return;
    case khz::protocol::RangeStatus::satisfiable:
      break;
  }
  check(!set.ranges.empty());
  check(set.ranges.size() <= max_ranges);
  for (const auto& r : set.ranges) {
    check(r.first <= r.last);
    check(r.last < size);
  }
  auto sorted = set.ranges;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  bool disjoint = true;
  for (std::size_t i = 1; i < sorted.size(); ++i) disjoint = disjoint && sorted[i].first > sorted[i - 1].last;
  check(disjoint);
  auto framing = khz::protocol::byteranges_framing(set.ranges, size, "text/plain", "B");
  check(framing.part_heads.size() == set.ranges.size());
  for (std::size_t i = 0; i < set.ranges.size(); ++i) {
    check(framing.part_heads[i].find(khz::protocol::content_range(set.ranges[i], size)) != std::string::npos);
  }
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

void fuzz_path(std::string_view path) {
  auto rel = khz::protocol::relative_file_path(path);
  if (!rel) return;
  const std::string& r = *rel;
  check(r.size() <= path.size());
  check(r.empty() || (r.front() != '/' && r.back() != '/'));
  check(r.find("//") == std::string::npos);
  std::size_t start = 0;
  while (start <= r.size() && !r.empty()) {
    std::size_t end = r.find('/', start);
    if (end == std::string::npos) end = r.size();
    std::string_view seg(r.data() + start, end - start);
    check(!seg.empty() && seg != "." && seg != "..");
    start = end + 1;
  }
  for (std::size_t i = 0; i < r.size(); ++i) {
    const auto c = static_cast<unsigned char>(r[i]);
    check(c != '\\' && c >= 0x20 && c != 0x7f);
    if (c == '%' && i + 2 < r.size() && is_hex(r[i + 1]) && is_hex(r[i + 2])) {
      const std::string hex(r.substr(i + 1, 2));
      const long d = std::strtol(hex.c_str(), nullptr, 16);
      check(d != '.' && d != '/' && d != '\\' && d >= 0x20 && d != 0x7f);
    }
  }
  auto again = khz::protocol::relative_file_path(r);
  check(again.has_value() && *again == r);
  const std::string root = "/srv/www";
  check(khz::protocol::path_within(r.empty() ? root : root + "/" + r, root));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode & 0x80) {
    fuzz_path(rest);
  } else {
    fuzz_range(mode, rest);
  }
  return 0;
}
