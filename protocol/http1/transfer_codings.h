// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http1: what a message's Transfer-Encoding fields say (RFC 9112 §6.1),
// read the same way by the request and the response parser.
//
//   TransferCodings te = TransferCodings::of(request.headers());
//   if (te.present && !te.chunked_once_and_last()) refuse;
//
// The codings of every Transfer-Encoding field, in order, each trimmed of OWS (SP and HTAB)
// and of its parameters. khz decodes chunked only: gzip and its kin are known but not done.
#pragma once

#include <khz/protocol/header_map.h>

#include <string_view>

namespace khz::protocol::http1 {

struct TransferCodings {
  bool present = false;        // a Transfer-Encoding field at all
  int chunked = 0;             // how many times "chunked" is listed
  bool chunked_last = false;   // the final coding is "chunked"
  bool compression = false;    // gzip, x-gzip, deflate, compress, x-compress
  bool unknown = false;        // any other coding

  bool chunked_once_and_last() const noexcept { return chunked == 1 && chunked_last; }

  static TransferCodings of(const HeaderMap& headers) noexcept {
    TransferCodings te;
    for (const auto& f : headers) {
      if (!iequals(f.name, "Transfer-Encoding")) continue;
      te.present = true;
      std::string_view list = f.value;
      while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view coding = list.substr(0, comma);
        if (std::size_t semi = coding.find(';'); semi != std::string_view::npos) coding = coding.substr(0, semi);
        while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) coding.remove_prefix(1);
        while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) coding.remove_suffix(1);
        if (!coding.empty()) te.add(coding);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
    return te;
  }

 private:
  void add(std::string_view coding) noexcept {
    chunked_last = iequals(coding, "chunked");
    if (chunked_last) {
      ++chunked;
    } else if (iequals(coding, "gzip") || iequals(coding, "x-gzip") || iequals(coding, "deflate") ||
               iequals(coding, "compress") || iequals(coding, "x-compress")) {
      compression = true;
    } else {
      unknown = true;
    }
  }
};

}  // namespace khz::protocol::http1
