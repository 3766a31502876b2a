// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/request_id.h>

#include <khz/common/log.h>

#include <array>
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
  // Two hex digits per byte from a table; dashes after bytes 4, 6, 8 and 10.
  static constexpr auto pairs = [] {
    std::array<char, 512> t{};
    constexpr char hex[] = "0123456789abcdef";
    for (int b = 0; b < 256; ++b) {
      t[2 * b] = hex[b >> 4];
      t[2 * b + 1] = hex[b & 15];
    }
    return t;
  }();
  char* p = out;
  for (int i = 0; i < 16; ++i) {
    const std::uint64_t word = i < 8 ? hi : lo;
    const auto byte = static_cast<unsigned>((word >> (56 - 8 * (i % 8))) & 0xFF);
    std::memcpy(p, &pairs[2 * byte], 2);
    p += 2;
    if (i == 3 || i == 5 || i == 7 || i == 9) *p++ = '-';
  }
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
