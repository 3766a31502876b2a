// SPDX-License-Identifier: Apache-2.0
// Body filters (<khz/app/body_filter.h>): the writer that stands in for the protocol server's
// while response filters are registered, the end of a filtered response, and the decoded
// request body.
#include <khz/app/request_context.h>
#include <khz/common/log.h>

#include "body_filter_state.h"

namespace khz {
namespace detail {

bool FilterState::start(bool streamed) {
  started = true;
  accepted.assign(response.size(), 0);
  bool any = false;
  for (std::size_t i = response.size(); i-- > 0;) {
    accepted[i] = response[i]->start(*ctx, exchange->response, streamed) ? 1 : 0;
    any = any || accepted[i] != 0;
  }
  if (!any) accepted.clear();
  return any;
}

void FilterState::run(std::string_view piece, bool last, std::string& out) {
  // Innermost (last registered) first; each output is the next one's input.
  std::string in;
  bool first = true;
  for (std::size_t i = response.size(); i-- > 0;) {
    if (!accepted[i]) continue;
    if (!first) {
      in.swap(out);
      piece = in;
    }
    out.clear();
    response[i]->filter(piece, last, out);
    first = false;
  }
  if (first) out.assign(piece);  // nobody accepted
}

void FilterState::clear() noexcept {
  if (exchange != nullptr && inner != nullptr && exchange->body_writer == &writer) exchange->body_writer = inner;
  inner = nullptr;
  exchange = nullptr;
  response.clear();
  accepted.clear();
  started = false;
  request.reset();
  decoded.clear();
  request_error = {};
  request_done = false;
}

Task<std::error_code> FilteringBodyWriter::write(std::string_view chunk) {
  FilterState& s = state_;
  if (!s.started && !s.start(/*streamed=*/true)) co_return co_await s.inner->write(chunk);
  if (s.accepted.empty()) co_return co_await s.inner->write(chunk);
  std::string out;
  s.run(chunk, false, out);
  // Nothing to send: no write, except the first (it sends the head).
  if (out.empty() && s.inner->started()) co_return std::error_code{};
  co_return co_await s.inner->write(out);
}

bool FilteringBodyWriter::started() const noexcept { return state_.inner->started(); }

}  // namespace detail

detail::FilterState& RequestContext::filter_state() {
  if (!filters_) filters_ = std::make_unique<detail::FilterState>();
  detail::FilterState& s = *filters_;
  if (s.exchange == nullptr) {
    s.ctx = this;
    s.exchange = exchange_;
  }
  return s;
}

void RequestContext::filter_response(std::unique_ptr<ResponseFilter> filter) {
  check_live("filter_response");
  detail::FilterState& s = filter_state();
  // Too late once the head is out (or asked): the filter would see half a body.
  if (s.started || is_streaming()) {
    KHZ_LOG(warn, "filter_response after the response began, for " << method() << " " << path() << ": ignored");
    return;
  }
  s.response.push_back(std::move(filter));
  if (exchange_->body_writer != nullptr && exchange_->body_writer != &s.writer) {
    s.inner = exchange_->body_writer;
    exchange_->body_writer = &s.writer;
  }
}

std::error_code RequestContext::filter_request_body(std::unique_ptr<RequestBodyFilter> filter) {
  check_live("filter_request_body");
  if (exchange_->body_reader == nullptr) {
    // Buffered: the whole body at once, replaced by what the filter makes of it.
    std::string out;
    if (auto ec = filter->filter(exchange_->request.body(), true, out)) return ec;
    exchange_->request.body_buffer().swap(out);
    return {};
  }
  detail::FilterState& s = filter_state();
  s.request = std::move(filter);
  return {};
}

Task<Result<std::string_view>> RequestContext::read_filtered_body_chunk() {
  detail::FilterState& s = *filters_;
  for (;;) {
    if (s.request_error) co_return s.request_error;
    if (s.request_done) co_return std::string_view{};
    Result<std::string_view> piece = co_await exchange_->body_reader->read();
    if (!piece) co_return piece.error();
    const bool last = piece->empty();
    s.decoded.clear();
    if (auto ec = s.request->filter(*piece, last, s.decoded)) {
      s.request_error = ec;
      co_return ec;
    }
    if (last) s.request_done = true;  // what came with the end, then "" from the next call
    if (last || !s.decoded.empty()) co_return std::string_view(s.decoded);
  }
}

bool RequestContext::has_response_filters() const noexcept { return filters_ && !filters_->response.empty(); }

void RequestContext::end_filters() noexcept {
  if (filters_) filters_->clear();
}

Task<void> RequestContext::end_response_filters() {
  detail::FilterState& s = *filters_;
  if (s.inner != nullptr && s.inner->started()) {
    // A stream: the filters' last bytes, unless it broke off.
    if (s.accepted.empty() || exchange_->failed) co_return;
    std::string out;
    s.run({}, true, out);
    if (!out.empty()) {
      std::error_code ec = co_await s.inner->write(out);
      if (ec) exchange_->failed = true;
    }
    co_return;
  }
  if (s.started) co_return;
  Response& r = exchange_->response;
  if (r.file_body() != nullptr || exchange_->hijack || r.status() == 101) co_return;
  if (!s.start(/*streamed=*/false)) co_return;
  std::string out;
  s.run(r.body(), true, out);
  r.body_buffer().swap(out);
}

}  // namespace khz
