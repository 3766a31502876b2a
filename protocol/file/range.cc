// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/range.h>
#include <khz/protocol/header_map.h>

#include "../common/ows.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace khz::protocol {
namespace {

// 1*DIGIT, at most 2^63 - 1 (larger is a syntax error: no file is that big).
std::optional<std::uint64_t> digits(std::string_view s) noexcept {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > (std::uint64_t{1} << 63) - 1) return std::nullopt;
  return v;
}

}  // namespace

RangeSet parse_range(std::string_view value, std::uint64_t size, std::size_t max_ranges) {
  RangeSet out;
  value = trim_ows(value);
  const std::size_t eq = value.find('=');
  if (eq == std::string_view::npos || !iequals(trim_ows(value.substr(0, eq)), "bytes")) return out;
  std::string_view specs = value.substr(eq + 1);
  bool any = false;             // a range-spec was read
  std::size_t listed = 0;       // range-specs read (a bound on the work before merging)
  std::vector<ByteRange> ranges;
  while (true) {
    const std::size_t comma = specs.find(',');
    std::string_view spec = trim_ows(specs.substr(0, comma));
    if (!spec.empty()) {
      any = true;
      // Far more specs than the limit could ever merge into: ignore the field at once.
      if (++listed > std::max<std::size_t>(max_ranges, 1) * 8 + 64) return RangeSet{};
      const std::size_t dash = spec.find('-');
      if (dash == std::string_view::npos) return RangeSet{};
      std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
      if (a.empty()) {  // suffix-range: the last b bytes
        auto n = digits(b);
        if (!n) return RangeSet{};
        if (*n != 0 && size != 0) ranges.push_back({size - std::min(*n, size), size - 1});
      } else {
        auto first = digits(a);
        if (!first) return RangeSet{};
        std::optional<std::uint64_t> last;
        if (!b.empty()) {
          last = digits(b);
          if (!last || *last < *first) return RangeSet{};
        }
        if (*first < size) ranges.push_back({*first, std::min(last.value_or(size - 1), size - 1)});
      }
    }
    if (comma == std::string_view::npos) break;
    specs.remove_prefix(comma + 1);
  }
  if (!any) return out;  // "bytes=" alone, or only commas: not a range-set
  if (ranges.empty()) {
    out.status = RangeStatus::unsatisfiable;
    return out;
  }
  // Overlapping or touching ranges: sort and merge them all (§14.2).
  bool overlap = false;
  if (ranges.size() > 1) {
    std::vector<ByteRange> sorted = ranges;
    std::sort(sorted.begin(), sorted.end(), [](const ByteRange& x, const ByteRange& y) { return x.first < y.first; });
    for (std::size_t i = 1; i < sorted.size() && !overlap; ++i) overlap = sorted[i].first <= sorted[i - 1].last + 1;
    if (overlap) {
      ranges.clear();
      for (const ByteRange& r : sorted) {
        if (!ranges.empty() && r.first <= ranges.back().last + 1) {
          ranges.back().last = std::max(ranges.back().last, r.last);
        } else {
          ranges.push_back(r);
        }
      }
    }
  }
  if (ranges.size() > max_ranges) return RangeSet{};
  out.status = RangeStatus::satisfiable;
  out.ranges = std::move(ranges);
  return out;
}

std::string content_range(ByteRange range, std::uint64_t size) {
  std::string s = "bytes ";
  s += std::to_string(range.first);
  s += '-';
  s += std::to_string(range.last);
  s += '/';
  s += std::to_string(size);
  return s;
}

std::string unsatisfied_content_range(std::uint64_t size) { return "bytes */" + std::to_string(size); }

ByteRangesFraming byteranges_framing(const std::vector<ByteRange>& ranges, std::uint64_t size,
                                     std::string_view content_type, std::string_view boundary) {
  ByteRangesFraming f;
  f.part_heads.reserve(ranges.size());
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    std::string h;
    if (i != 0) h += "\r\n";
    h += "--";
    h += boundary;
    h += "\r\n";
    if (!content_type.empty()) {
      h += "Content-Type: ";
      h += content_type;
      h += "\r\n";
    }
    h += "Content-Range: ";
    h += content_range(ranges[i], size);
    h += "\r\n\r\n";
    f.part_heads.push_back(std::move(h));
  }
  f.closing = "\r\n--";
  f.closing += boundary;
  f.closing += "--\r\n";
  return f;
}

}  // namespace khz::protocol
