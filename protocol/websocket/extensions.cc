// SPDX-License-Identifier: Apache-2.0
// Sec-WebSocket-Extensions (RFC 6455 §9.1) and the permessage-deflate parameters (RFC 7692
// §7.1): the server's pick among offers, the client's offer and its check of the answer.
#include <khz/protocol/websocket.h>
#include <khz/protocol/websocket_handshake.h>

#include <string>

namespace khz::protocol::websocket {
namespace {

constexpr std::string_view kDeflate = "permessage-deflate";

struct Param {
  std::string name;   // lower case
  std::string value;  // unquoted
  bool has_value = false;
};
struct Element {
  std::string name;
  std::vector<Param> params;
};

bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool at_end() { skip_ws(); return i_ >= s_.size(); }
  bool eat(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) { ++i_; return true; }
    return false;
  }
  bool token(std::string& out) {
    skip_ws();
    const std::size_t start = i_;
    while (i_ < s_.size() && is_tchar(s_[i_])) ++i_;
    out.assign(s_.substr(start, i_ - start));
    for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return i_ > start;
  }
  bool value(std::string& out) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '"') {
      ++i_;
      out.clear();
      while (i_ < s_.size() && s_[i_] != '"') {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
        out.push_back(s_[i_++]);
      }
      if (i_ >= s_.size()) return false;
      ++i_;
      return true;
    }
    return token(out);
  }
  // Skips to just after the next top-level comma (or the end): the rest of a malformed element.
  void recover() {
    bool quoted = false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') quoted = !quoted;
      else if (c == '\\' && quoted && i_ < s_.size()) ++i_;
      else if (c == ',' && !quoted) return;
    }
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

// Parses the elements of an extension list; a malformed element is dropped (ok = false for it)
// and parsing goes on with the next one.
struct Parsed {
  Element element;
  bool ok = false;
};
std::vector<Parsed> parse_extensions(std::string_view value) {
  std::vector<Parsed> out;
  Lexer lx(value);
  while (!lx.at_end()) {
    if (lx.eat(',')) continue;
    Parsed p;
    p.ok = lx.token(p.element.name);
    while (p.ok && lx.eat(';')) {
      Param param;
      if (!lx.token(param.name)) { p.ok = false; break; }
      if (lx.eat('=')) {
        param.has_value = true;
        if (!lx.value(param.value)) { p.ok = false; break; }
      }
      p.element.params.push_back(std::move(param));
    }
    if (p.ok && !lx.at_end() && !lx.eat(',')) p.ok = false;
    if (!p.ok) lx.recover();
    out.push_back(std::move(p));
  }
  return out;
}

// 8-15 without leading zeros or signs; -1 otherwise.
int window_bits(const std::string& v) {
  if (v.empty() || v.size() > 2 || v[0] == '0') return -1;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n >= 8 && n <= 15 ? n : -1;
}

// The parameters of one permessage-deflate element, read strictly: each known name at most once,
// values where the RFC wants them; false for anything else.
struct Offer {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 0;  // 0: absent
  int client_max_window_bits = 0;  // 0: absent; -1: present without a value
};
bool read_offer(const Element& e, Offer& o) {
  bool seen[4] = {false, false, false, false};
  for (const Param& p : e.params) {
    int which;
    if (p.name == "server_no_context_takeover") which = 0;
    else if (p.name == "client_no_context_takeover") which = 1;
    else if (p.name == "server_max_window_bits") which = 2;
    else if (p.name == "client_max_window_bits") which = 3;
    else return false;
    if (seen[which]) return false;
    seen[which] = true;
    switch (which) {
      case 0: if (p.has_value) return false; o.server_no_context_takeover = true; break;
      case 1: if (p.has_value) return false; o.client_no_context_takeover = true; break;
      case 2:
        if (!p.has_value || (o.server_max_window_bits = window_bits(p.value)) < 0) return false;
        break;
      case 3:
        if (!p.has_value) { o.client_max_window_bits = -1; break; }
        if ((o.client_max_window_bits = window_bits(p.value)) < 0) return false;
        break;
    }
  }
  return true;
}

int clamp_bits(int bits) { return bits < 9 ? 9 : bits > 15 ? 15 : bits; }

}  // namespace

bool negotiate_deflate(std::string_view offers, const DeflateOptions& options, DeflateParams& params,
                       std::string& answer) {
  for (const Parsed& p : parse_extensions(offers)) {
    if (!p.ok || p.element.name != kDeflate) continue;
    Offer o;
    if (!read_offer(p.element, o)) continue;  // RFC 7692 §5: decline an offer we cannot read
    DeflateParams r;
    r.server_no_context_takeover = o.server_no_context_takeover || options.server_no_context_takeover;
    r.client_no_context_takeover = o.client_no_context_takeover || options.client_no_context_takeover;
    r.server_max_window_bits = clamp_bits(options.server_max_window_bits);
    if (o.server_max_window_bits != 0 && o.server_max_window_bits < r.server_max_window_bits) {
      r.server_max_window_bits = o.server_max_window_bits;
    }
    if (r.server_max_window_bits < 9) continue;  // zlib cannot compress with an 8-bit window
    bool say_client_bits = false;
    r.client_max_window_bits = 15;
    if (o.client_max_window_bits != 0) {
      const int offered = o.client_max_window_bits > 0 ? o.client_max_window_bits : 15;
      const int wanted = clamp_bits(options.client_max_window_bits);
      r.client_max_window_bits = wanted < offered ? wanted : offered;
      say_client_bits = r.client_max_window_bits < 15 || o.client_max_window_bits > 0;
    }
    answer.assign(kDeflate);
    if (r.server_no_context_takeover) answer += "; server_no_context_takeover";
    if (r.client_no_context_takeover) answer += "; client_no_context_takeover";
    if (r.server_max_window_bits < 15 || o.server_max_window_bits != 0) {
      answer += "; server_max_window_bits=" + std::to_string(r.server_max_window_bits);
    }
    if (say_client_bits) answer += "; client_max_window_bits=" + std::to_string(r.client_max_window_bits);
    params = r;
    return true;
  }
  return false;
}

std::string deflate_offer(const DeflateOptions& options) {
  std::string s(kDeflate);
  if (options.server_no_context_takeover) s += "; server_no_context_takeover";
  if (options.client_no_context_takeover) s += "; client_no_context_takeover";
  const int server_bits = clamp_bits(options.server_max_window_bits);
  if (server_bits < 15) s += "; server_max_window_bits=" + std::to_string(server_bits);
  // Always: lets the server ask for a smaller window on our side (we accept any of 9-15).
  const int client_bits = clamp_bits(options.client_max_window_bits);
  s += "; client_max_window_bits";
  if (client_bits < 15) s += "=" + std::to_string(client_bits);
  return s;
}

Result<std::optional<DeflateParams>> accept_deflate_response(std::string_view answer, const DeflateOptions& options) {
  auto parsed = parse_extensions(answer);
  if (parsed.empty()) return std::optional<DeflateParams>();
  const std::error_code fail = errc::handshake_failed;
  // We offered one extension: the server may accept it once, with parameters we allow.
  if (parsed.size() != 1 || !parsed[0].ok || parsed[0].element.name != kDeflate) return fail;
  Offer o;
  if (!read_offer(parsed[0].element, o) || o.client_max_window_bits == -1) return fail;
  DeflateParams r;
  r.server_no_context_takeover = o.server_no_context_takeover;
  r.client_no_context_takeover = o.client_no_context_takeover;
  if (options.server_no_context_takeover && !r.server_no_context_takeover) return fail;
  const int server_bits = clamp_bits(options.server_max_window_bits);
  r.server_max_window_bits = o.server_max_window_bits != 0 ? o.server_max_window_bits : 15;
  if (r.server_max_window_bits > server_bits) return fail;
  const int client_bits = clamp_bits(options.client_max_window_bits);
  r.client_max_window_bits = o.client_max_window_bits != 0 ? o.client_max_window_bits : client_bits;
  // Our compressor is zlib, which has no 8-bit raw window.
  if (r.client_max_window_bits > client_bits || r.client_max_window_bits < 9) return fail;
  return std::optional<DeflateParams>(r);
}

}  // namespace khz::protocol::websocket
