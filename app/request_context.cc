// SPDX-License-Identifier: Apache-2.0
#include <khz/app/request_context.h>
#include <khz/common/log.h>
#include <khz/common/tick_clock.h>

#include "form_state.h"
#include "body_filter_state.h"
#include "sse_state.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace khz {
namespace detail {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

void request_context_used_after_handler(const char* accessor) noexcept {
  KHZ_LOG(error, "khz: RequestContext::" << accessor
                     << "() called after its handler returned: the context and every view it gave out "
                        "are valid only until the handler's Task completes (the context is reused for "
                        "the connection's next request); copy what outlives the handler with "
                        "ctx.snapshot() or std::string(...)");
  std::abort();
}

}  // namespace detail

RequestContext::RequestContext() = default;
RequestContext::~RequestContext() = default;

void RequestContext::reset(Exchange& exchange) noexcept {
  exchange_ = &exchange;
  serving_ = true;
  chain_ = nullptr;
  index_ = -1;
  aborted_ = false;
  query_parsed_ = false;
  body_handed_out_ = false;
  streamed_bytes_ = 0;
  after_response_.clear();
  cancel_scope_ = nullptr;
  outbound_.clear();
  cookies_parsed_ = false;
  cookies_.clear();
  full_path_ = {};
  params_.clear();
  query_.clear();
  values_.clear();
  end_form();
  sse_.reset();  // normally gone already (Engine::serve)
}

std::string_view RequestSnapshot::param(std::string_view key) const noexcept {
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return {};
}

std::string_view RequestSnapshot::query(std::string_view key) const noexcept {
  for (const auto& [k, v] : query_params) {
    if (k == key) return v;
  }
  return {};
}

RequestSnapshot RequestContext::snapshot() {
  check_live("snapshot");
  parse_query();
  RequestSnapshot out{.request = exchange_->request};  // Request's copy owns every byte
  out.params.reserve(params_.size());
  for (const auto& p : params_) out.params.emplace_back(p.key, p.value);
  out.query_params.reserve(query_.size());
  for (const auto& [k, v] : query_) out.query_params.emplace_back(k, v);
  out.full_path = full_path_;
  out.peer_address = peer_address();
  return out;
}

std::string_view RequestContext::param(std::string_view key) const noexcept {
  check_live("param");
  return params_.get(key);
}

std::string_view RequestContext::peer_address() const {
  check_live("peer_address");
  if (!exchange_->peer_address.empty() || exchange_->connection == nullptr) return exchange_->peer_address;
  // Formatted once per connection: the exchange keeps the view for the connection's next
  // requests (an HTTP/1.1 session clears it when the connection lets the session go; an
  // HTTP/2 stream serves one connection only).
  peer_ = exchange_->connection->peer_address();
  exchange_->peer_address = peer_;
  return peer_;
}

Task<Result<std::string_view>> RequestContext::read_body_chunk() {
  check_live("read_body_chunk");
  if (filters_ && filters_->request && exchange_->body_reader != nullptr) co_return co_await read_filtered_body_chunk();
  if (exchange_->body_reader != nullptr) co_return co_await exchange_->body_reader->read();
  if (!body_handed_out_) {
    body_handed_out_ = true;
    co_return body();
  }
  co_return std::string_view{};
}

// The query string, decoded by the form codec's rules (<khz/protocol/urlencoded.h>: '+' is a
// space, a bad '%' escape is kept as it is) and without its limits: max_uri_bytes bounds it.
void RequestContext::parse_query() {
  if (query_parsed_) return;
  query_parsed_ = true;
  protocol::UrlencodedLimits no_limits{.max_fields = protocol::UrlencodedLimits::unlimited,
                                       .max_key_bytes = protocol::UrlencodedLimits::unlimited,
                                       .max_value_bytes = protocol::UrlencodedLimits::unlimited};
  (void)protocol::parse_urlencoded(request().query(), query_, request().arena(), no_limits);
}

std::string_view RequestContext::query(std::string_view key) {
  check_live("query");
  parse_query();
  for (const auto& [k, v] : query_) {
    if (k == key) return v;
  }
  return {};
}

bool RequestContext::has_query(std::string_view key) {
  check_live("has_query");
  parse_query();
  for (const auto& field : query_) {
    if (field.name == key) return true;
  }
  return false;
}

std::vector<std::string_view> RequestContext::query_all(std::string_view key) {
  check_live("query_all");
  parse_query();
  std::vector<std::string_view> out;
  for (const auto& [k, v] : query_) {
    if (k == key) out.push_back(v);
  }
  return out;
}

namespace {

// Fields that describe a response's body or its framing, wrong once that body is replaced:
// representation metadata and validators (RFC 9110 §8), Content-Disposition (RFC 6266),
// framing (RFC 9112 §6) and the Trailer field (RFC 9110 §6.6.2).
constexpr std::string_view kBodyFields[] = {
    "Content-Type", "Content-Length", "Content-Encoding", "Content-Language", "Content-Location",
    "Content-Range", "Content-Disposition", "Transfer-Encoding", "Trailer", "ETag", "Last-Modified",
};

}  // namespace

void RequestContext::discard_response(int status) {
  check_live("discard_response");
  Response& r = exchange_->response;
  r.set_status(status);
  r.body_buffer().clear();
  r.clear_file_body();
  r.trailers().clear();
  for (std::string_view name : kBodyFields) r.headers().remove(name);
}

void RequestContext::string(int status, std::string_view text) {
  check_live("string");
  data(status, "text/plain; charset=utf-8", text);
}

std::string& RequestContext::begin_json(int status) {
  Response& r = response();
  r.set_status(status);
  r.headers().set("Content-Type", "application/json; charset=utf-8");
  r.body_buffer().clear();
  return r.body_buffer();
}

void RequestContext::json(int status, const Json& value) {
  check_live("json");
  value.dump_to(begin_json(status));
}

void RequestContext::data(int status, std::string_view content_type, std::string_view bytes) {
  check_live("data");
  Response& r = response();
  r.set_status(status);
  r.set_body(bytes, content_type);
}

void RequestContext::redirect(int status, std::string_view location) {
  check_live("redirect");
  Response& r = response();
  r.set_status(status);
  r.headers().set("Location", location);
}

Task<bool> RequestContext::write(std::string_view chunk) {
  check_live("write");
  KHZ_ASSERT(exchange_->body_writer != nullptr);
  std::error_code ec = co_await exchange_->body_writer->write(chunk);
  if (!ec) streamed_bytes_ += chunk.size();
  co_return !ec;
}

void RequestContext::upgrade(std::string_view protocol, HijackHandler handler) {
  check_live("upgrade");
  Response& r = response();
  r.body_buffer().clear();
  if (!exchange_->request.connect_protocol().empty()) {
    // An HTTP/2 extended CONNECT (RFC 8441 §5): no 101 and no Upgrade field; a 200 opens the tunnel.
    r.set_status(200);
  } else {
    r.set_status(101);
    r.headers().set("Connection", "Upgrade");
    r.headers().set("Upgrade", protocol);
  }
  hijack(std::move(handler));
}

void RequestContext::after_response(ResponseHook hook, void* data) {
  check_live("after_response");
  after_response_.push_back(AfterResponse{hook, data, TickClock::now()});
}

void RequestContext::run_after_response(bool threw) noexcept {
  if (after_response_.empty()) return;
  const std::uint64_t now = TickClock::now();
  const Response& r = exchange_->response;
  CompletedResponse done;
  done.status = r.status();
  done.streamed = exchange_->body_writer != nullptr && exchange_->body_writer->started();
  done.body_bytes = done.streamed ? streamed_bytes_ : r.body().size();
  done.threw = threw;
  done.failed = exchange_->failed;
  for (auto it = after_response_.rbegin(); it != after_response_.rend(); ++it) {
    done.elapsed = now > it->added ? TickClock::nanoseconds(now - it->added) : std::chrono::nanoseconds(0);
    try {
      it->hook(*this, done, it->data);
    } catch (const std::exception& e) {
      KHZ_LOG(error, "after-response hook for " << r.status() << " threw: " << e.what());
    } catch (...) {
      KHZ_LOG(error, "after-response hook threw a non-standard exception");
    }
  }
}

bool RequestContext::is_streaming() const noexcept {
  check_live("is_streaming");
  return exchange_->body_writer != nullptr && exchange_->body_writer->started();
}

void RequestContext::fail_stream() noexcept {
  check_live("fail_stream");
  if (exchange_->body_writer != nullptr && exchange_->body_writer->started()) exchange_->failed = true;
}

void RequestContext::set(std::string_view key, std::any value) {
  check_live("set");
  for (auto& [k, v] : values_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  values_.emplace_back(std::string(key), std::move(value));
}

const std::any* RequestContext::get(std::string_view key) const noexcept {
  check_live("get");
  for (const auto& [k, v] : values_) {
    if (k == key) return &v;
  }
  return nullptr;
}

// Plain layers run here, at once, and a coroutine layer's Task is handed back as the chain's
// when nothing can follow it (it is the last, or an onion layer): no frame of next()'s own,
// which a request whose chain ends in a plain handler would otherwise pay at least once.
// Otherwise run_rest awaits it and goes on. (A plain layer's exception leaves from this call
// rather than from awaiting its Task; callers await at once, or call inside their try.)
Task<void> RequestContext::next() {
  check_live("next");
  while (!aborted_ && chain_ != nullptr && ++index_ < static_cast<std::ptrdiff_t>(chain_->size())) {
    const Handler& h = (*chain_)[static_cast<std::size_t>(index_)];
    if (!h.is_coroutine()) {
      h.plain_(*this);
      continue;
    }
    Task<void> layer = h.coroutine_(*this);
    if (h.is_onion() || index_ + 1 == static_cast<std::ptrdiff_t>(chain_->size())) return layer;
    return run_rest(std::move(layer));
  }
  return {};
}

Task<void> RequestContext::run_rest(Task<void> layer) {
  co_await layer;
  while (!aborted_ && chain_ != nullptr && ++index_ < static_cast<std::ptrdiff_t>(chain_->size())) {
    const Handler& h = (*chain_)[static_cast<std::size_t>(index_)];
    if (!h.is_coroutine()) {
      h.plain_(*this);
      continue;
    }
    co_await h.coroutine_(*this);
    if (h.is_onion()) break;  // what follows it ran through its next(), or not at all
  }
}

std::string_view RequestContext::handler_name() const noexcept {
  check_live("handler_name");
  if (chain_ == nullptr || index_ < 0 || index_ >= static_cast<std::ptrdiff_t>(chain_->size())) return {};
  return (*chain_)[static_cast<std::size_t>(index_)].name();
}

}  // namespace khz
