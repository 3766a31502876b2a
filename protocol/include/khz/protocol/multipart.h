// SPDX-License-Identifier: Apache-2.0
// multipart/form-data (RFC 7578 over RFC 2046 §5.1): a streaming, sans-I/O parser. Bytes go in
// in pieces of any size; events come out to a MultipartHandler as soon as they are known.
//
//   struct Printer : khz::protocol::MultipartHandler {
//     std::error_code on_part_begin(const khz::protocol::MultipartPart& p) override {
//       std::cout << p.name << (p.is_file ? " file " + std::string(p.filename) : "") << "\n";
//       return {};
//     }
//     std::error_code on_part_data(std::string_view bytes) override { sink(bytes); return {}; }
//     std::error_code on_part_end() override { return {}; }
//   } printer;
//   auto boundary = khz::protocol::multipart_boundary(request.header("Content-Type"));
//   if (!boundary) return boundary.error();                     // form_errc::bad_boundary, not_a_form
//   khz::protocol::MultipartParser parser(*boundary, printer, {.max_parts = 16});
//   for (auto piece : pieces) if (auto ec = parser.feed(piece)) return ec;
//   if (auto ec = parser.finish()) return ec;                   // form_errc::truncated, ...
//
// Events, in order, for each part: on_part_begin (its header fields parsed), on_part_data zero
// or more times (the content in pieces: their concatenation is the content exactly, the CRLF
// before the next boundary excluded), on_part_end; after the last part on_body_end, once the
// close delimiter "--boundary--" is seen. A handler returning an error stops the parser with
// that error.
// Lifetimes: the views of a MultipartPart live for the on_part_begin call; a data piece lives
// until feed() returns (it points into the bytes fed, or into the parser for the few bytes
// held back while they might begin a boundary).
//
// Framing (RFC 2046 §5.1.1): the first boundary line may open the body or follow a preamble
// (ignored) after a CRLF; every delimiter is CRLF "--" boundary, then "--" for the close
// delimiter, or optional spaces/tabs and CRLF; anything else after a boundary is
// form_errc::malformed_delimiter (the boundary must not occur in the content). Bytes after the
// close delimiter are the epilogue, ignored. Lines end in CRLF (a bare LF in a part's header
// block is malformed_part_header). A body without any boundary line is missing_boundary; one
// that ends before the close delimiter is truncated.
// Parts (RFC 7578 §4): each needs "Content-Disposition: form-data" with a name parameter
// (bad_content_disposition, missing_field_name). A part with a filename or filename* parameter
// (even an empty one) is a file; filename* (RFC 5987: UTF-8 or ISO-8859-1, percent-encoded)
// wins over filename. No name or filename is percent-decoded or stripped of a path: never use
// a filename as a path as it is.
// Threading: a parser is used by one thread at a time.
#pragma once

#include <khz/common/result.h>
#include <khz/protocol/header_map.h>

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace khz::protocol {

// Each limit is inclusive: exactly at it passes, one more fails with the error named.
struct MultipartLimits {
  std::size_t max_parts = 1000;              // too_many_parts
  // A part's header block: its field lines with their CRLFs, not the blank line ending it.
  std::size_t max_header_bytes = 16 * 1024;  // part_header_too_large
  std::size_t max_headers = 16;              // header fields of one part; too_many_part_headers
  std::size_t max_field_bytes = 1 << 20;     // the content of a part that is not a file; field_too_large
  std::size_t max_body_bytes = std::numeric_limits<std::size_t>::max();  // all bytes fed; body_too_large
};

// A part, as on_part_begin sees it. Views live for that call.
struct MultipartPart {
  std::size_t index = 0;              // 0 for the first part
  std::string_view name;              // Content-Disposition name
  std::string_view filename;          // filename* decoded, else filename, else ""
  bool is_file = false;               // a filename or filename* parameter was present
  std::string_view content_type;      // the part's Content-Type, "" when absent
  std::span<const HeaderMap::Field> headers;  // every header field of the part, in order

  // The first header field `name` (case-insensitive), "" when absent.
  std::string_view header(std::string_view field_name) const noexcept;
};

class MultipartHandler {
 public:
  virtual ~MultipartHandler() = default;
  virtual std::error_code on_part_begin(const MultipartPart& part) = 0;
  virtual std::error_code on_part_data(std::string_view bytes) = 0;  // never empty
  virtual std::error_code on_part_end() = 0;
  virtual void on_body_end() {}
};

class MultipartParser {
 public:
  // `boundary`: as multipart_boundary() returns it (valid_boundary() must hold; it is copied).
  MultipartParser(std::string_view boundary, MultipartHandler& handler, MultipartLimits limits = {});
  MultipartParser(const MultipartParser&) = delete;
  MultipartParser& operator=(const MultipartParser&) = delete;

  // Parses the next piece of the body (all of it, or up to the error). After an error, feed()
  // and finish() return it again and call the handler no more.
  std::error_code feed(std::string_view bytes);
  // The body ended: an error unless the close delimiter was seen (truncated, missing_boundary).
  std::error_code finish();

  bool done() const noexcept { return state_ == State::epilogue; }  // close delimiter seen
  std::error_code error() const noexcept { return error_; }
  std::size_t part_count() const noexcept { return parts_; }
  std::size_t body_bytes() const noexcept { return body_bytes_; }

 private:
  enum class State {
    preamble,      // looking for the first boundary
    after_boundary,  // a boundary was matched: "--", or padding and CRLF, follows
    close_dash,    // saw the first '-' of "--"
    padding,       // spaces/tabs after a boundary, before its CRLF
    boundary_lf,   // saw the CR of the boundary line's CRLF
    headers,       // a part's header block
    content,       // a part's content
    epilogue,      // after the close delimiter
    failed,
  };

  std::error_code fail(std::error_code ec) noexcept;
  std::error_code parse(std::string_view in);  // feed() within the body limit
  // Scans `in` from `pos` for the delimiter in preamble or content; returns the new position.
  // Sets found_ when a whole delimiter was matched.
  std::size_t scan(std::string_view in, std::size_t pos);
  std::error_code emit(std::string_view bytes);  // content bytes (or preamble, dropped)
  std::size_t take_headers(std::string_view in, std::size_t pos);  // returns the new position
  std::error_code begin_part(std::string_view block);

  std::string delimiter_;  // CRLF "--" boundary
  MultipartHandler& handler_;
  MultipartLimits limits_;
  State state_ = State::preamble;
  std::error_code error_;
  std::size_t matched_ = 2;  // bytes of delimiter_ matched at the end of the input so far
  bool found_ = false;
  bool saw_boundary_ = false;
  bool in_part_ = false;
  bool part_is_file_ = false;
  std::size_t parts_ = 0;
  std::size_t part_bytes_ = 0;
  std::size_t body_bytes_ = 0;
  std::string header_block_;  // CRLF + the header block so far (see take_headers)
  std::string filename_;      // a decoded filename*
  std::vector<HeaderMap::Field> fields_;
};

// RFC 2046 §5.1.1: 1 to 70 characters from DIGIT ALPHA '()+_,-./:=? and space, not ending
// in a space.
bool valid_boundary(std::string_view boundary) noexcept;

// The boundary parameter of a multipart/form-data Content-Type (quoted or not; the type and
// parameter names are case-insensitive): form_errc::not_a_form when the media type is another,
// form_errc::bad_boundary when the parameter is missing, duplicated or not valid_boundary().
Result<std::string> multipart_boundary(std::string_view content_type);

}  // namespace khz::protocol
