// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http1: the line rules the request and response parsers add on top of
// llhttp, checked over a head's bytes as they are fed (the state carries across feeds).
//
//   LineScanner scan(LineScanner::Kind::request);
//   if (auto fault = scan.scan(bytes); fault != LineScanner::Fault::none) reject(describe(fault));
//
// - A line ending in a bare LF is a fault: peers that disagree on LF alone are a request
//   smuggling (or response splitting) vector. So is a CR not followed by LF (RFC 9112 §2.2),
//   anywhere: llhttp 8.1 lets one through in the first line (after the version it reports a
//   bad version), at the start of a line (it takes any byte after the CR that ends the header
//   section as the LF), and where a field value starts (it takes "X:\rE" for an empty value's
//   line end and drops the "E"; the CVE-2023-30589 kind). Every line is checked, not only
//   where llhttp was seen to slip.
// - Requests: obs-fold, a field line that starts with SP or HTAB, is a fault (RFC 9112 §5.2: a
//   server rejects it). Responses: it is allowed; the recipient replaces it with SP (llhttp
//   hands the value on without the line break).
// - Requests only: empty lines before the request line are ignored (RFC 9112 §2.2), and the
//   request line is separated by single spaces (§3).
// Inside a line only CRs, its end and (in a request line) spaces matter, so the scan jumps from
// LF to LF with memchr.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>

namespace khz::protocol::http1 {

class LineScanner {
 public:
  enum class Kind { request, response };
  enum class Fault { none, bare_lf, bare_cr, obs_fold, spacing };

  explicit LineScanner(Kind kind) noexcept : request_(kind == Kind::request) {}

  void reset() noexcept {
    line_started_ = previous_cr_ = false;
    in_first_line_ = at_line_start_ = true;
    previous_ = '\0';
  }

  // Scans the next bytes of the head; the first fault found, or none.
  Fault scan(std::string_view bytes) noexcept {
    std::size_t i = 0;
    while (i < bytes.size()) {
      if (line_started_ && !at_line_start_) {
        if (previous_cr_ && bytes[i] != '\n') return Fault::bare_cr;
        const void* lf = std::memchr(bytes.data() + i, '\n', bytes.size() - i);
        std::size_t end = lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - bytes.data())
                                        : bytes.size();
        // A CR may stand only right before the LF (or last, with the LF still to come); a CR at
        // the start of a line is step()'s.
        if (end > i + 1 && std::memchr(bytes.data() + i, '\r', end - 1 - i) != nullptr) return Fault::bare_cr;
        if (request_ && in_first_line_) {
          for (std::size_t p = i; p < end;) {
            const void* sp = std::memchr(bytes.data() + p, ' ', end - p);
            if (sp == nullptr) break;
            std::size_t q = static_cast<std::size_t>(static_cast<const char*>(sp) - bytes.data());
            if ((q > i ? bytes[q - 1] : previous_) == ' ') return Fault::spacing;
            p = q + 1;
          }
        }
        if (end > i) {
          previous_cr_ = bytes[end - 1] == '\r';
          previous_ = bytes[end - 1];
        }
        i = end;
        if (i == bytes.size()) return Fault::none;
      }
      if (Fault f = step(bytes[i++]); f != Fault::none) return f;
    }
    return Fault::none;
  }

  static std::string_view describe(Fault f) noexcept {
    switch (f) {
      case Fault::bare_lf: return "bare LF line ending";
      case Fault::bare_cr: return "CR not followed by LF";
      case Fault::obs_fold: return "obs-fold (a field line continued on the next line)";
      case Fault::spacing: return "request line not separated by single spaces";
      case Fault::none: break;
    }
    return "";
  }

 private:
  Fault step(char c) noexcept {
    if (previous_cr_ && c != '\n') return Fault::bare_cr;
    if (c == '\n') {
      // Before a request line, empty lines (even LF alone) are skipped.
      if (!previous_cr_ && (line_started_ || !request_)) return Fault::bare_lf;
      if (line_started_) in_first_line_ = false;
      at_line_start_ = true;
    } else if (c != '\r') {
      if (request_ && at_line_start_ && line_started_ && !in_first_line_ && (c == ' ' || c == '\t')) {
        return Fault::obs_fold;
      }
      if (request_ && in_first_line_ && c == ' ' && (previous_ == ' ' || !line_started_)) return Fault::spacing;
      line_started_ = true;
      at_line_start_ = false;
    }
    previous_cr_ = c == '\r';
    previous_ = c;
    return Fault::none;
  }

  bool request_;
  bool line_started_ = false;  // a byte other than CR/LF was seen (leading empty lines excluded)
  bool previous_cr_ = false;
  bool in_first_line_ = true;
  bool at_line_start_ = true;
  char previous_ = '\0';
};

}  // namespace khz::protocol::http1
