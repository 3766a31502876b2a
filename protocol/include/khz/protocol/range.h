// SPDX-License-Identifier: Apache-2.0
// Range requests (RFC 9110 §14), sans-I/O: the Range header read into byte ranges of a
// representation of known size, and the multipart/byteranges framing that carries several.
//
//   khz::protocol::RangeSet set = khz::protocol::parse_range(req.header("Range"), file_size, 16);
//   switch (set.status) {
//     case RangeStatus::none: /* 200, whole file */ break;
//     case RangeStatus::unsatisfiable: /* 416, Content-Range: bytes * /size */ break;
//     case RangeStatus::satisfiable: /* 206: set.ranges, one or a multipart/byteranges */ break;
//   }
//
// Pure functions: no allocation beyond the returned values; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace khz::protocol {

// first..last, both inclusive (as Content-Range writes them).
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const noexcept { return last - first + 1; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

enum class RangeStatus {
  none,           // no Range, another unit, a syntax error or too many ranges: send it all (200)
  satisfiable,    // ranges holds one or more ranges within the representation (206)
  unsatisfiable,  // bytes ranges, none of which overlaps the representation (416)
};

struct RangeSet {
  RangeStatus status = RangeStatus::none;
  std::vector<ByteRange> ranges;  // satisfiable: clipped to the size, in the order asked
};

// Reads a Range field value ("bytes=0-99, 200-, -50") against a representation of `size` bytes.
// RFC 9110 §14.1.1: int-range and suffix-range, OWS around commas, empty list elements; the
// unit is case-insensitive. A range past the end is clipped; one starting past the end (or a
// suffix of 0) is unsatisfiable and dropped. What does not parse (last < first, junk, a
// number over 2^63) makes the whole field ignored, as §14.2 allows. Against many-range abuse
// (§14.2: a server may coalesce or ignore them): when ranges overlap or touch, all are sorted
// and merged; more than `max_ranges` left (after merging) ignores the field. An empty header
// value is `none`.
RangeSet parse_range(std::string_view value, std::uint64_t size, std::size_t max_ranges);

// "bytes 0-99/1234" (Content-Range of a 206 or of a multipart part).
std::string content_range(ByteRange range, std::uint64_t size);
// "bytes */1234" (Content-Range of a 416).
std::string unsatisfied_content_range(std::uint64_t size);

// multipart/byteranges (RFC 9110 §14.6): the head of each part and the closing delimiter, to
// frame the file's bytes between them.
//   part_head(i) = "\r\n--" boundary "\r\nContent-Type: " type "\r\nContent-Range: bytes a-b/size\r\n\r\n"
//   (the first part has no leading CRLF), closing = "\r\n--" boundary "--\r\n".
// Content-Type of the response: "multipart/byteranges; boundary=" + boundary.
struct ByteRangesFraming {
  std::vector<std::string> part_heads;  // one per range, in order
  std::string closing;
};
ByteRangesFraming byteranges_framing(const std::vector<ByteRange>& ranges, std::uint64_t size,
                                     std::string_view content_type, std::string_view boundary);

}  // namespace khz::protocol
