// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/request_id.h>

#include <khz/common/log.h>

#include <cstdint>
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
  static constexpr char hex[] = "0123456789abcdef";
  int pos = 0;
  auto put = [&](std::uint64_t v, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) out[pos++] = hex[(v >> (i * 4)) & 0xF];
  };
  put(hi >> 32, 8);
  out[pos++] = '-';
  put((hi >> 16) & 0xFFFF, 4);
  out[pos++] = '-';
  put(hi & 0xFFFF, 4);
  out[pos++] = '-';
  put(lo >> 48, 4);
  out[pos++] = '-';
  put(lo & 0xFFFFFFFFFFFFull, 12);
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
