// SPDX-License-Identifier: Apache-2.0
// Request decompression: a RequestBodyFilter that decodes the body with a limit; refusals
// (415, 413, 400) logged once each.
#include <khz/middleware/compression.h>

#include <khz/app/body_filter.h>
#include <khz/app/request_context.h>
#include <khz/common/log.h>
#include <khz/protocol/content_coding.h>
#include <khz/protocol/error.h>
#include <khz/protocol/header_map.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace khz::middleware {
namespace {

struct State {
  std::size_t max_bytes = 0;
  std::vector<protocol::ContentCoding> codings;
  std::string accept_encoding;  // what a 415 lists
};

std::string why(std::error_code ec, const State& s) {
  if (ec == protocol::coding_errc::too_large) return "decoded body over " + std::to_string(s.max_bytes) + " bytes";
  return ec.message();
}

class DecodeFilter final : public RequestBodyFilter {
 public:
  DecodeFilter(RequestContext& ctx, const State& state, protocol::ContentCoding coding, bool streamed)
      : ctx_(ctx), state_(state), streamed_(streamed), decoder_(protocol::ContentDecoder::create(coding, state.max_bytes)) {}

  std::error_code filter(std::string_view piece, bool last, std::string& out) override {
    std::error_code ec = decoder_->feed(piece, out);
    if (!ec && last) ec = decoder_->finish();
    if (!ec) return {};
    if (!streamed_) return ec;  // the middleware answers and logs
    // A stream: the handler gets the body reader's own errors, so it answers as it would for
    // an over-long or broken body; the reason is logged here.
    const bool too_large = ec == protocol::coding_errc::too_large;
    KHZ_LOG(info, "decompression: " << ctx_.method() << " " << ctx_.path() << ": "
                                    << protocol::coding_name(decoder_->coding()) << " body: " << why(ec, state_)
                                    << (too_large ? "; 413" : "; 400"));
    return too_large ? protocol::errc::body_too_large : protocol::errc::malformed_body;
  }

 private:
  RequestContext& ctx_;
  const State& state_;
  bool streamed_;
  std::unique_ptr<protocol::ContentDecoder> decoder_;
};

void refuse(RequestContext& ctx, int status, const std::string& reason) {
  KHZ_LOG(info, "decompression: " << ctx.method() << " " << ctx.path() << ": " << reason << "; " << status);
  ctx.string(status, std::to_string(status) + " " + reason);
  ctx.abort();
}

struct Decompress {
  std::shared_ptr<const State> state;

  void operator()(RequestContext& ctx) const {
    const State& s = *state;
    std::string_view field = ctx.header("Content-Encoding");
    if (field.empty()) return;
    while (!field.empty() && (field.front() == ' ' || field.front() == '\t')) field.remove_prefix(1);
    while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
    if (iequals(field, "identity")) return;
    const auto coding = protocol::parse_coding(field);
    bool allowed = false;
    for (protocol::ContentCoding c : s.codings) allowed = allowed || (coding && c == *coding);
    if (ctx.request().headers().count("Content-Encoding") > 1 || !allowed) {
      ctx.set_header("Accept-Encoding", s.accept_encoding);
      refuse(ctx, 415, "unsupported Content-Encoding \"" + std::string(field.substr(0, 64)) + "\"");
      return;
    }
    const bool streamed = ctx.body_streamed();
    const std::size_t coded = ctx.body().size();
    std::error_code ec = ctx.filter_request_body(std::make_unique<DecodeFilter>(ctx, s, *coding, streamed));
    if (ec) {
      const int status = ec == protocol::coding_errc::too_large ? 413 : 400;
      refuse(ctx, status, std::string(protocol::coding_name(*coding)) + " body of " + std::to_string(coded) +
                              " bytes: " + why(ec, s));
      return;
    }
    // The handler sees the body as if it had been sent plain.
    HeaderMap& headers = ctx.request().headers();
    headers.remove("Content-Encoding");
    if (streamed) {
      headers.remove("Content-Length");
    } else {
      headers.set("Content-Length", std::to_string(ctx.body().size()));
    }
  }
};

}  // namespace

Handler decompression(DecompressionOptions o) {
  if (o.max_bytes == 0) throw std::invalid_argument("DecompressionOptions::max_bytes: 0");
  if (o.codings.empty()) throw std::invalid_argument("DecompressionOptions::codings: empty");
  auto s = std::make_shared<State>();
  s->max_bytes = o.max_bytes;
  for (const std::string& name : o.codings) {
    const auto coding = protocol::parse_coding(name);
    if (!coding) throw std::invalid_argument("DecompressionOptions::codings: unknown coding \"" + name + "\"");
    s->codings.push_back(*coding);
    if (!s->accept_encoding.empty()) s->accept_encoding += ", ";
    s->accept_encoding += protocol::coding_name(*coding);
  }
  return Decompress{std::move(s)};
}

}  // namespace khz::middleware
