// SPDX-License-Identifier: Apache-2.0
#include "upgrade.h"

#include "forwarding.h"

#include <khz/app/client/stream.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/protocol/http1_client.h>
#include <khz/protocol/request.h>
#include <khz/protocol/response.h>
#include <khz/transport/error.h>

#include <coroutine>
#include <memory>

namespace khz::proxy::detail {
namespace {

bool has_token(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view t = list.substr(0, comma);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (iequals(t, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// Both halves of a tunnel; lives in the frame of tunnel() until both copies ended.
struct Tunnel {
  transport::Connection* down = nullptr;
  transport::Connection* up = nullptr;
  bool upstream_half_done = false;
  std::coroutine_handle<> waiter{};
};

// Waits until the upstream-to-client copy has ended.
struct HalfDone {
  Tunnel& t;
  bool await_ready() const noexcept { return t.upstream_half_done; }
  void await_suspend(std::coroutine_handle<> h) noexcept { t.waiter = h; }
  void await_resume() const noexcept {}
};

// Copies bytes from one connection to the other until either fails (EOF, reset, closed).
Task<void> copy(transport::Connection& from, transport::Connection& to) {
  for (;;) {
    if (from.input().empty()) {
      if (auto ec = co_await from.fill(1)) co_return;
    }
    from.input().for_each_segment([&](std::string_view s) { to.output().append(s); });
    from.input().skip(from.input().size());
    from.input().release();
    if (auto ec = co_await to.flush()) co_return;
  }
}

Task<void> upstream_to_client(Tunnel* t) {
  co_await copy(*t->up, *t->down);
  t->down->close();  // ends the other copy's wait on the client
  t->upstream_half_done = true;
  if (t->waiter) t->waiter.resume();  // last: the tunnel's frame may end here
}

// The hijack handler: client-to-upstream here, upstream-to-client spawned; when either ends,
// both connections close and the handler returns once both copies have.
Task<void> tunnel(std::shared_ptr<transport::Connection> up, transport::Connection& down) {
  up->set_read_timeout({});
  down.set_read_timeout({});
  Tunnel t{.down = &down, .up = up.get()};
  spawn(upstream_to_client(&t));
  co_await copy(down, *up);
  up->close();  // ends the other copy's wait on the upstream
  co_await HalfDone{t};
}

}  // namespace

bool is_upgrade_request(const Request& request) {
  if (request.version() != Version::http11 || !request.headers().contains("Upgrade")) return false;
  for (const auto& f : request.headers()) {
    if (iequals(f.name, "Connection") && has_token(f.value, "upgrade")) return true;
  }
  return false;
}

Task<int> forward_upgrade(RequestContext& ctx, UpgradeCall call) {
  const std::string_view method = ctx.request().method();
  auto fail = [&](std::error_code ec) {
    const bool timeout = ec == transport::errc::timed_out;
    KHZ_LOG(warn, "proxy: " << method << " " << call.url << " (upgrade): " << ec.message() << "; "
                            << (timeout ? 504 : 502));
    ctx.string(timeout ? 504 : 502, timeout ? "upstream timed out\n" : "bad gateway\n");
  };
  auto dialled = co_await client::open_stream(call.host, call.port, {.connect_timeout = call.connect_timeout});
  if (!dialled) {
    fail(dialled.error());
    co_return 0;
  }
  Http1ClientConnection http(std::move(*dialled), Http1ClientOptions{.max_body_bytes = 1 << 20});
  Request req;
  req.set_method(method);
  req.set_target(call.target);
  for (const auto& f : call.fields) req.headers().add(f.name, f.value);
  req.headers().set("Connection", "Upgrade");
  req.headers().set("Upgrade", ctx.request().headers().get("Upgrade"));
  http.queue_request(req, RequestFraming{.content_length = 0});
  const auto deadline = std::chrono::steady_clock::now() + call.response_timeout;
  Response resp;
  std::error_code ec = co_await http.flush(deadline);
  if (!ec) ec = co_await http.read_head(resp, /*head_request=*/false, deadline);
  if (!ec && resp.status() != 101) ec = co_await http.read_all(resp, deadline);
  if (ec) {
    http.close();
    fail(ec);
    co_return 0;
  }
  const std::vector<std::string> named = connection_tokens(resp.headers());
  if (resp.status() != 101) {  // refused: its answer goes back as it came
    ctx.set_status(resp.status());
    for (const auto& f : resp.headers()) {
      if (is_hop_by_hop(f.name) || names_one_of(f.name, named) || iequals(f.name, "Content-Length") ||
          iequals(f.name, "Date") || iequals(f.name, "Server")) {
        continue;
      }
      ctx.response().headers().add(f.name, f.value);
    }
    ctx.response().set_body(resp.body());
    http.close();
    co_return resp.status();
  }
  std::string protocol(resp.headers().get("Upgrade"));
  if (protocol.empty()) {
    http.close();
    KHZ_LOG(warn, "proxy: " << method << " " << call.url << " (upgrade): 101 without Upgrade; 502");
    ctx.string(502, "bad gateway\n");
    co_return 0;
  }
  for (const auto& f : resp.headers()) {
    if (is_hop_by_hop(f.name) || names_one_of(f.name, named) || iequals(f.name, "Date") || iequals(f.name, "Server")) {
      continue;
    }
    ctx.response().headers().add(f.name, f.value);
  }
  std::shared_ptr<transport::Connection> up(http.take_transport());
  ctx.upgrade(protocol, [up](transport::Connection& down) { return tunnel(up, down); });
  co_return 101;
}

}  // namespace khz::proxy::detail
