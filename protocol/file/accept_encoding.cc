// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/accept_encoding.h>
#include <khz/protocol/header_map.h>

#include "../common/ows.h"

namespace khz::protocol {
namespace {

// weight = OWS ";" OWS "q=" qvalue; qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
// In thousandths; no q parameter is 1000, and a malformed one counts as 1000 (lenient, as
// browsers are).
int q_thousandths(std::string_view params) noexcept {
  while (!params.empty()) {
    std::size_t semi = params.find(';');
    std::string_view p = trim_ows(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      std::string_view v = trim_ows(p.substr(2));
      if (v.empty() || v[0] != '0') return 1000;
      int q = 0, scale = 100;
      for (char c : v.size() > 2 && v[1] == '.' ? v.substr(2, 3) : std::string_view{}) {
        if (c < '0' || c > '9') return 1000;
        q += (c - '0') * scale;
        scale /= 10;
      }
      return q;
    }
  }
  return 1000;
}

}  // namespace

int coding_quality(std::string_view accept_encoding, std::string_view coding) noexcept {
  int star = -1;
  while (!accept_encoding.empty()) {
    std::size_t comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view{} : accept_encoding.substr(comma + 1);
    std::size_t semi = item.find(';');
    std::string_view name = trim_ows(item.substr(0, semi));
    std::string_view params = semi == std::string_view::npos ? std::string_view{} : item.substr(semi + 1);
    if (iequals(name, coding) || (iequals(coding, "gzip") && iequals(name, "x-gzip"))) return q_thousandths(params);
    if (name == "*") star = q_thousandths(params);
  }
  return star < 0 ? 0 : star;
}

bool accepts_coding(std::string_view accept_encoding, std::string_view coding) noexcept {
  return coding_quality(accept_encoding, coding) > 0;
}

std::size_t choose_coding(std::string_view accept_encoding, std::span<const std::string_view> preference) noexcept {
  std::size_t best = preference.size();
  int best_q = 0;
  for (std::size_t i = 0; i < preference.size(); ++i) {
    const int q = coding_quality(accept_encoding, preference[i]);
    if (q > best_q) {  // strictly higher: on a tie the server's earlier choice stays
      best = i;
      best_q = q;
    }
  }
  return best;
}

}  // namespace khz::protocol
