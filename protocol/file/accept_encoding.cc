// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/accept_encoding.h>
#include <khz/protocol/header_map.h>

#include "../common/ows.h"

namespace khz::protocol {
namespace {

// weight = OWS ";" OWS "q=" qvalue; qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
// Only whether it is above zero matters; a malformed one counts as 1 (lenient, as browsers are).
bool q_above_zero(std::string_view params) noexcept {
  while (!params.empty()) {
    std::size_t semi = params.find(';');
    std::string_view p = trim_ows(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      std::string_view v = trim_ows(p.substr(2));
      if (v.empty() || v[0] != '0') return true;
      for (char c : v.substr(1)) {
        if (c >= '1' && c <= '9') return true;
      }
      return false;
    }
  }
  return true;
}

}  // namespace

bool accepts_coding(std::string_view accept_encoding, std::string_view coding) noexcept {
  bool star = false;
  while (!accept_encoding.empty()) {
    std::size_t comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view{} : accept_encoding.substr(comma + 1);
    std::size_t semi = item.find(';');
    std::string_view name = trim_ows(item.substr(0, semi));
    std::string_view params = semi == std::string_view::npos ? std::string_view{} : item.substr(semi + 1);
    if (iequals(name, coding) || (iequals(coding, "gzip") && iequals(name, "x-gzip"))) return q_above_zero(params);
    if (name == "*") star = q_above_zero(params);
  }
  return star;
}

}  // namespace khz::protocol
