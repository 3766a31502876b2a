// SPDX-License-Identifier: Apache-2.0
// run_call: the URL (parsed through a per-thread cache), redirects, the caller's cancel signal.
#include "call.h"

#include <khz/app/client/cookie_jar.h>
#include <khz/app/client/errors.h>
#include <khz/app/client/url.h>
#include <khz/common/cancel.h>
#include <khz/common/outbound_fields.h>

#include "retry.h"
#include "trace.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace khz::client {
namespace {

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Url::parse with a one-entry cache per thread: load generators and gateways send to the same
// URL again and again, and a copy of the parsed form (short strings: no allocation) costs a
// tenth of parsing it.
std::error_code parse_url_cached(const std::string& text, Url& out) {
  struct LastUrl {
    std::string text;
    Url url;
    bool valid = false;
  };
  thread_local LastUrl last;
  if (!last.valid || last.text != text) {
    auto parsed = Url::parse(text);
    if (!parsed) return parsed.error();
    last.url = std::move(*parsed);
    last.text = text;
    last.valid = true;
  }
  out = last.url;
  return {};
}

}  // namespace

bool follows_redirect(const ClientOptions& options, const Response& resp) {
  return options.max_redirects > 0 && is_redirect(resp.status()) && resp.headers().contains("Location");
}

// Redirects (RFC 9110 §15.4) around retried exchanges.
Task<std::error_code> run_call(CallState& call, const ClientRequest& original, Response& resp) {
  // Inside a server handler: the downstream client going away cancels this call.
  CancelSignal::Watch downstream;
  std::optional<CancellationToken> token;
  if (CancelSignal* signal = co_await current_cancel_signal()) {
    token.emplace(original.cancel);
    downstream.attach(signal, &cancel_on_signal, &*token);
  }
  Url url;
  if (auto ec = parse_url_cached(original.url, url)) co_return ec;
  // RFC 9110 §9.1: a method is a token. Anything else would go into the request line as it is
  // (a space or CRLF there makes a second request), so it is never sent.
  if (!is_token(original.method)) co_return client::errc::bad_method;
  std::unique_ptr<ClientRequest> changed;  // made at the first redirect that changes the request
  const ClientRequest* req = &original;
  // Inside a server handler: its ambient header fields (RequestContext::set_outbound_header),
  // each one the request does not set itself. A copy of the request only when one is missing.
  if (const OutboundFields* ambient = co_await current_outbound_fields(); ambient != nullptr && !ambient->empty()) {
    for (std::size_t i = 0; i < ambient->size(); ++i) {
      if (original.headers.contains(ambient->name(i))) continue;
      if (!changed) changed = std::make_unique<ClientRequest>(original);
      changed->headers.add(ambient->name(i), ambient->value(i));
    }
    if (changed) req = changed.get();
  }
  // Deadline propagation: the time left, or less when the request already says less.
  if (!call.options.deadline_header.empty() && call.deadline != kNever) {
    const std::string& name = call.options.deadline_header;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(call.deadline - Clock::now()).count();
    left = std::max<std::int64_t>(left, 1);
    std::string_view carried = req->headers.get(name);
    std::int64_t before = 0;
    auto [end, ec] = std::from_chars(carried.data(), carried.data() + carried.size(), before);
    if (carried.empty() || ec != std::errc() || end != carried.data() + carried.size() || before <= 0 || left < before) {
      if (!changed) changed = std::make_unique<ClientRequest>(*req);
      changed->headers.set(name, std::to_string(left));
      req = changed.get();
    }
  }
  // Under a traced handler: a CLIENT span around the whole call, its context sent along.
  std::optional<tracing::Span> span;
  std::error_code result;
  ClientSpanEnd end_span{span, resp, &result};
  if (const tracing::SpanContext* parent = co_await tracing::current_span(); parent != nullptr && parent->tracer != nullptr) {
    open_client_span(span, *parent, *req, url, changed);
    req = changed.get();
  }
  CookieJar* jar = call.options.cookie_jar.get();
  std::string jar_cookies;
  for (int redirects = 0;; ++redirects) {
    if (url.scheme != "http" && url.scheme != "https") co_return client::errc::unsupported_scheme;
    if (jar != nullptr) {
      jar_cookies = jar->cookie_header(url);
      call.jar_cookies = jar_cookies;
    }
    if (auto ec = co_await with_retries(call, *req, url, resp)) {
      result = ec;
      co_return ec;
    }
    if (jar != nullptr) jar->store(url, resp.headers());  // before a redirect is followed
    if (call.options.max_redirects <= 0 || !is_redirect(resp.status())) co_return std::error_code();
    std::string_view location = resp.header("Location");
    if (location.empty()) co_return std::error_code();
    if (redirects >= call.options.max_redirects) co_return client::errc::too_many_redirects;
    auto next = url.resolve(location);
    if (!next) co_return std::error_code();  // an unusable Location: the 3xx is the answer
    const int status = resp.status();
    const bool keep_method = status == 307 || status == 308;
    if (keep_method && req->body_source) co_return std::error_code();  // cannot replay: the 3xx is the answer
    if (!changed) changed = std::make_unique<ClientRequest>(*req);
    ClientRequest& r = *changed;
    if (!keep_method && (status == 303 ? r.method != "HEAD" : r.method == "POST")) {
      r.method = "GET";
      r.body.clear();
      r.body_source = nullptr;
      r.body_file.clear();
      r.headers.remove("Content-Type");
    }
    if (next->host != url.host || next->port != url.port || next->scheme != url.scheme) {
      r.headers.remove("Authorization");  // credentials are for the origin that asked for them
      r.headers.remove("Cookie");
    }
    r.headers.remove("Host");
    url = std::move(*next);
    r.url = url.str();
    req = &r;
  }
}

}  // namespace khz::client
