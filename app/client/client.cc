// SPDX-License-Identifier: Apache-2.0
// Client, the facade: send / send_into / get / stream, the middleware onion
// (ClientContext::next), close_idle and open_connections. A call goes on in call.cc.
#include <khz/app/client/client.h>

#include <khz/common/cancel.h>

#include "access.h"
#include "call.h"
#include "deadline.h"
#include "impl.h"
#include "stream_state.h"

namespace khz {

namespace {

// The call's deadline: ClientRequest::timeout, else the Client's total_timeout (0: none).
client::Clock::time_point call_deadline(const ClientRequest& request, const ClientOptions& options) {
  return client::after(request.timeout.count() > 0 ? request.timeout : options.total_timeout);
}

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {
  if (options_.metrics) impl_->instruments = std::make_unique<ClientInstruments>(*options_.metrics);
}
Client::~Client() = default;

void Client::use(ClientMiddleware middleware) { impl_->middleware.push_back(std::move(middleware)); }

Task<void> ClientContext::next() {
  auto& mw = client_.impl_->middleware;
  if (index_ < mw.size()) {
    co_await mw[index_++](*this);
    co_return;
  }
  client::CallState call{*client_.impl_, client_.options_, call_deadline(request_, client_.options_),
                         static_cast<client::StreamState*>(stream_out_)};
  ClientInstruments* const instruments = client_.impl_->instruments.get();
  std::uint64_t started = 0;
  if (instruments != nullptr) started = instruments->begin();
  error_ = co_await client::run_call(call, request_, response_);
  if (instruments != nullptr) instruments->end(started, request_.url, response_.status(), error_);
}

Task<std::error_code> Client::send_into(const ClientRequest& request, Response& response) {
  if (impl_->middleware.empty()) {
    client::CallState call{*impl_, options_, call_deadline(request, options_), nullptr};
    ClientInstruments* const instruments = impl_->instruments.get();
    std::uint64_t started = 0;
    if (instruments != nullptr) started = instruments->begin();
    const auto error = co_await client::run_call(call, request, response);
    if (instruments != nullptr) instruments->end(started, request.url, response.status(), error);
    co_return error;
  }
  ClientRequest copy = request;
  ClientContext ctx(*this, copy, response);
  co_await ctx.next();
  co_return ctx.error();
}

Task<Result<Response>> Client::send(ClientRequest request) {
  Response response;
  ClientContext ctx(*this, request, response);
  co_await ctx.next();
  if (ctx.error()) co_return ctx.error();
  co_return response;
}

Task<Result<Response>> Client::get(std::string url) {
  ClientRequest r;
  r.url = std::move(url);
  co_return co_await send(std::move(r));
}

Task<Result<ResponseStream>> Client::stream(ClientRequest request) {
  auto state = std::make_unique<ResponseStream::State>();
  ClientContext ctx(*this, request, state->response);
  ctx.stream_out_ = state.get();
  co_await ctx.next();
  if (ctx.error()) co_return ctx.error();
  if (!state->conn) state->pools = &impl_->pools;  // answered whole (a middleware, or a 3xx kept)
  if (state->conn) {
    state->downstream.attach(co_await current_cancel_signal(), &client::cancel_on_signal, &state->cancel);
  }
  co_return ResponseStream(std::move(state));
}

void Client::close_idle() { impl_->pools.close_idle(); }

std::size_t Client::open_connections(std::string_view host_port) const {
  return impl_->pools.open_connections(host_port);
}

}  // namespace khz
