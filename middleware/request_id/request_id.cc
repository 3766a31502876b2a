// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/request_id.h>

#include <khz/common/log.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <utility>

namespace khz::middleware {
namespace {

bool is_id_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '_': case '.': case ':': case '+': case '/': case '=': case '@':
      return true;
    default:
      return false;
  }
}

// The 8 lower-case hex digits of `v`, most significant first, a word at a time: each nibble
// spread to a byte, the bytes put in text order, then '0' or 'a' - 10 added to each.
void hex8(char* out, std::uint32_t v) noexcept {
  std::uint64_t x = v;
  x = ((x & 0xFFFF0000ULL) << 16) | (x & 0xFFFFULL);
  x = ((x & 0x0000FF000000FF00ULL) << 8) | (x & 0x000000FF000000FFULL);
  x = ((x & 0x00F000F000F000F0ULL) << 4) | (x & 0x000F000F000F000FULL);
  x = __builtin_bswap64(x);  // byte 0 holds the most significant nibble
  const std::uint64_t letters = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;  // nibbles >= 10
  x += 0x3030303030303030ULL + letters * ('a' - '0' - 10);
  std::memcpy(out, &x, sizeof x);
}

// A version 4 UUID (RFC 9562 §5.4) in its 36-character text form.
void random_uuid(char (&out)[36]) {
  thread_local std::mt19937_64 engine([] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }());
  std::uint64_t hi = engine(), lo = engine();
  hi = (hi & ~0xF000ull) | 0x4000ull;                        // version 4
  lo = (lo & ~(0xC0ull << 56)) | (0x80ull << 56);            // variant 10
  char hex[32];
  hex8(hex, static_cast<std::uint32_t>(hi >> 32));
  hex8(hex + 8, static_cast<std::uint32_t>(hi));
  hex8(hex + 16, static_cast<std::uint32_t>(lo >> 32));
  hex8(hex + 24, static_cast<std::uint32_t>(lo));
  // 8-4-4-4-12
  std::memcpy(out, hex, 8);
  out[8] = '-';
  std::memcpy(out + 9, hex + 8, 4);
  out[13] = '-';
  std::memcpy(out + 14, hex + 12, 4);
  out[18] = '-';
  std::memcpy(out + 19, hex + 16, 4);
  out[23] = '-';
  std::memcpy(out + 24, hex + 20, 12);
}

struct RequestId {
  std::shared_ptr<const RequestIdOptions> options;

  void operator()(RequestContext& ctx) const {
    const RequestIdOptions& o = *options;
    std::string_view id;
    if (o.accept_incoming) {
      const HeaderMap& headers = ctx.request().headers();
      const std::size_t n = headers.count(o.header);
      if (n == 1) {
        id = headers.get(o.header);
        if (!is_valid_request_id(id, o.max_length)) {
          KHZ_LOG(debug, "request_id: incoming " << o.header << " is not a valid id (" << id.size()
                                                 << " bytes); a new one is made");
          id = {};
        }
      } else if (n > 1) {
        KHZ_LOG(debug, "request_id: " << o.header << " sent " << n << " times; a new id is made");
      }
    }
    char uuid[36];
    std::string made;
    if (id.empty()) {
      if (o.generate) {
        made = o.generate();
        id = made;
      } else {
        random_uuid(uuid);
        id = std::string_view(uuid, sizeof uuid);
      }
    }
    ctx.set_header(o.header, id);
    if (o.propagate) ctx.set_outbound_header(o.header, id);
  }
};

}  // namespace

bool is_valid_request_id(std::string_view id, std::size_t max_length) noexcept {
  if (id.empty() || id.size() > max_length) return false;
  for (char c : id) {
    if (!is_id_char(c)) return false;
  }
  return true;
}

Handler request_id(RequestIdOptions options) {
  if (options.header.empty()) throw std::invalid_argument("RequestIdOptions::header: empty");
  if (options.max_length == 0) throw std::invalid_argument("RequestIdOptions::max_length: 0");
  return Handler("khz::middleware::request_id",
                 RequestId{std::make_shared<const RequestIdOptions>(std::move(options))});
}

std::string_view request_id_of(const RequestContext& ctx) noexcept {
  return ctx.response().header("X-Request-ID");
}

}  // namespace khz::middleware
