// SPDX-License-Identifier: Apache-2.0
// Response compression: a ResponseFilter per request that picks a coding at the head and then
// encodes the body (flushing at every streamed write).
#include <khz/middleware/compression.h>

#include <khz/app/body_filter.h>
#include <khz/app/request_context.h>
#include <khz/common/small_pool.h>
#include <khz/protocol/accept_encoding.h>
#include <khz/protocol/content_coding.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "media_types.h"

namespace khz::middleware {
namespace {

using compression_detail::media_type_matches;
using compression_detail::media_type_of;

std::uint64_t next_state_id() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

struct State {
  std::uint64_t id = next_state_id();  // never reused (unlike an address), for per-thread caches
  std::vector<protocol::ContentCoding> codings;
  std::vector<std::string_view> names;  // coding_name() of each, for choose_coding
  std::vector<std::string> types;       // lower-case patterns
  std::size_t min_bytes = 0;
  int levels[4] = {};                   // by ContentCoding
};

// Whether a comma-separated field value lists `token` (lower-case), case-insensitively.
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    item = item.substr(0, item.find_first_of(" \t=;"));
    if (item.size() == token.size()) {
      bool same = true;
      for (std::size_t i = 0; i < item.size() && same; ++i) {
        char c = item[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        same = c == token[i];
      }
      if (same) return true;
    }
  }
  return false;
}

// The fields start() reads, found in one pass over the response's head (the first of each).
struct HeadFields {
  std::string_view content_range, content_encoding, cache_control, content_type, vary;
};

HeadFields head_fields(const HeaderMap& headers) noexcept {
  HeadFields out;
  // The first letter before the whole name: most fields of a length share none with ours.
  auto first = [](std::string_view& slot, const HeaderMap::Field& f, std::string_view name) {
    if (slot.data() == nullptr && (f.name[0] | 0x20) == (name[0] | 0x20) && iequals(f.name, name)) {
      slot = f.value.data() != nullptr ? f.value : std::string_view("");
    }
  };
  for (const HeaderMap::Field& f : headers) {
    switch (f.name.size()) {
      case 4: first(out.vary, f, "Vary"); break;
      case 12: first(out.content_type, f, "Content-Type"); break;
      case 13:
        first(out.cache_control, f, "Cache-Control");
        first(out.content_range, f, "Content-Range");
        break;
      case 16: first(out.content_encoding, f, "Content-Encoding"); break;
      default: break;
    }
  }
  return out;
}

void add_vary(Response& r, std::string_view vary) {
  if (vary.empty()) {
    r.headers().set_ref("Vary", "Accept-Encoding");
  } else if (!has_token(vary, "accept-encoding") && !has_token(vary, "*")) {
    r.headers().set("Vary", std::string(vary) + ", Accept-Encoding");
  }
}

// From the thread's small-block pool: one is made for every request the middleware sees.
class CompressFilter final : public ResponseFilter, public khz::detail::Pooled {
 public:
  explicit CompressFilter(const State& state) noexcept : state_(state) {}

  bool start(RequestContext& ctx, Response& r, bool streamed) override {
    // What rules compression out whatever the client accepts (no Vary either).
    if (!status_allows_body(r.status()) || r.status() == 206) return false;
    const HeadFields head = head_fields(r.headers());
    if (!head.content_range.empty()) return false;
    if (!head.content_encoding.empty() && !has_token(head.content_encoding, "identity")) return false;
    if (has_token(head.cache_control, "no-transform")) return false;
    if (!listed(head.content_type)) return false;
    // From here the answer depends on Accept-Encoding.
    add_vary(r, head.vary);
    if (ctx.method() == "HEAD") return false;
    if (!streamed && r.body().size() < state_.min_bytes) return false;
    const std::size_t pick = protocol::choose_coding(ctx.header("Accept-Encoding"), state_.names);
    if (pick >= state_.codings.size()) return false;
    const protocol::ContentCoding chosen = state_.codings[pick];
    encoder_ = protocol::ContentEncoder::create(chosen, state_.levels[static_cast<int>(chosen)]);
    r.headers().set("Content-Encoding", protocol::coding_name(chosen));
    r.headers().remove("Content-Length");
    r.headers().remove("Accept-Ranges");
    const std::string_view etag = r.header("ETag");
    if (!etag.empty() && !etag.starts_with("W/")) r.headers().set("ETag", "W/" + std::string(etag));
    return true;
  }

  // Whether the content type is one to compress. The answer for the last type seen is kept
  // per thread and middleware: a service answers with a few types, mostly the same one.
  bool listed(std::string_view content_type) const {
    struct Last {
      std::uint64_t state = 0;
      std::string content_type;
      bool listed = false;
      std::string type;  // media_type_of's output (capacity kept)
    };
    thread_local Last last;
    if (last.state == state_.id && last.content_type == content_type) return last.listed;
    media_type_of(content_type, last.type);
    bool found = false;
    for (const std::string& pattern : state_.types) {
      if (media_type_matches(last.type, pattern)) {
        found = true;
        break;
      }
    }
    last.state = state_.id;
    last.content_type.assign(content_type);
    last.listed = found;
    return found;
  }

  void filter(std::string_view piece, bool last, std::string& out) override {
    encoder_->feed(piece, out);
    if (last) {
      encoder_->finish(out);
    } else {
      encoder_->flush(out);  // a streamed write reaches the client whole, at once
    }
  }

 private:
  const State& state_;
  std::unique_ptr<protocol::ContentEncoder> encoder_;
};

struct Compress {
  std::shared_ptr<const State> state;
  void operator()(RequestContext& ctx) const { ctx.filter_response(std::make_unique<CompressFilter>(*state)); }
};

}  // namespace

Handler compression(CompressionOptions o) {
  if (o.codings.empty()) throw std::invalid_argument("CompressionOptions::codings: empty");
  auto s = std::make_shared<State>();
  for (const std::string& name : o.codings) {
    const auto coding = protocol::parse_coding(name);
    if (!coding) throw std::invalid_argument("CompressionOptions::codings: unknown coding \"" + name + "\"");
    for (protocol::ContentCoding c : s->codings) {
      if (c == *coding) throw std::invalid_argument("CompressionOptions::codings: \"" + name + "\" twice");
    }
    s->codings.push_back(*coding);
    s->names.push_back(protocol::coding_name(*coding));
  }
  for (const std::string& t : o.types) {
    if (t.find('/') == std::string::npos) throw std::invalid_argument("CompressionOptions::types: \"" + t + "\" has no '/'");
    std::string type;
    media_type_of(t, type);
    s->types.push_back(std::move(type));
  }
  s->min_bytes = o.min_bytes;
  s->levels[static_cast<int>(protocol::ContentCoding::gzip)] = o.gzip_level;
  s->levels[static_cast<int>(protocol::ContentCoding::deflate)] = o.deflate_level;
  s->levels[static_cast<int>(protocol::ContentCoding::br)] = o.br_level;
  s->levels[static_cast<int>(protocol::ContentCoding::zstd)] = o.zstd_level;
  return Compress{std::move(s)};
}

}  // namespace khz::middleware
