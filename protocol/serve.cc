// SPDX-License-Identifier: Apache-2.0
// The protocol front door (<khz/protocol/serve.h>): admission and the protocol choice, once per
// connection; the one place that knows both HTTP versions (the h2c hand-over joins them here).
#include <khz/common/log.h>
#include <khz/protocol/serve.h>

#include "common/h2c.h"
#include "common/preface.h"
#include "http1/http1_server.h"
#include "http2/h2c_upgrade.h"

namespace khz::protocol {
namespace {

// h2c by Upgrade: the HTTP/1.1 server's hand-over to HTTP/2.
class H2cToHttp2 final : public H2cUpgrade {
 public:
  explicit H2cToHttp2(std::shared_ptr<const Http2Options> options) : options_(std::move(options)) {}
  Task<void> serve_upgraded(transport::Connection& conn, ServerCore& core, Request request) const override {
    return protocol::http2::serve_upgraded(conn, core, options_, std::move(request));
  }

 private:
  std::shared_ptr<const Http2Options> options_;
};

// How the choice reaches HTTP/1.1: a FrontDoor's server (parks on it), or a handler's options
// (serve_http1: parks for the handler to run again).
struct Http1Choice {
  protocol::http1::Http1Server* server;
  std::shared_ptr<const Http1Options> options;
  Task<void> serve(transport::Connection& conn, ServerCore& core) {
    return server != nullptr ? server->serve(conn) : serve_http1(conn, core, std::move(options));
  }
};

Task<void> serve_decided(FirstBytes first, transport::Connection& conn, ServerCore& core, Http1Choice& h1,
                         std::shared_ptr<const Http2Options>& h2) {
  return first == FirstBytes::http2 ? serve_http2(conn, core, std::move(h2)) : h1.serve(conn, core);
}

// Waits until the first bytes decide (a prefix of the preface's first line so far; each wait
// bounded by the connection's read timeout, then by `header_timeout`), then serves.
Task<void> wait_and_choose(transport::Connection& conn, ServerCore& core, Http1Choice h1,
                           std::shared_ptr<const Http2Options> h2, std::chrono::milliseconds header_timeout) {
  LinkedBuffer& in = conn.input();
  FirstBytes first = FirstBytes::undecided;
  while (first == FirstBytes::undecided) {
    if (auto ec = co_await conn.fill(in.size() + 1)) co_return;
    conn.set_read_timeout(header_timeout);
    first = first_bytes(in);
  }
  co_await serve_decided(first, conn, core, h1, h2);
}

// The preface choice: at once when the bytes in hand decide, else after waiting for more.
Task<void> choose_protocol(transport::Connection& conn, ServerCore& core, Http1Choice h1,
                           std::shared_ptr<const Http2Options> h2, std::chrono::milliseconds header_timeout) {
  const FirstBytes first = first_bytes(conn.input());
  if (first != FirstBytes::undecided) return serve_decided(first, conn, core, h1, h2);
  if (!conn.input().empty()) conn.set_read_timeout(header_timeout);
  return wait_and_choose(conn, core, std::move(h1), std::move(h2), header_timeout);
}

Task<void> serve_http1_with_h2c(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http1Options> options) {
  const H2cToHttp2 h2c(options->h2c);
  co_await protocol::http1::serve_connection(conn, core, std::move(options), nullptr, &h2c);
}

std::shared_ptr<const Http1Options> or_defaults(std::shared_ptr<const Http1Options> options) {
  return options ? std::move(options) : std::make_shared<const Http1Options>();
}

}  // namespace

// The protocols a FrontDoor hands connections to; built once.
struct FrontDoor::Versions {
  Versions(ServerCore& core, std::shared_ptr<const Http1Options> h1)
      : h2c(h1->h2c ? std::make_unique<const H2cToHttp2>(h1->h2c) : nullptr),
        http1(core, std::move(h1), h2c.get()) {}
  std::unique_ptr<const H2cToHttp2> h2c;  // declared first: http1 points to it
  protocol::http1::Http1Server http1;
};

FrontDoor::FrontDoor(ServerCore& core, FrontDoorOptions options)
    : core_(core), options_(std::move(options)) {
  options_.http1 = or_defaults(std::move(options_.http1));
  versions_ = std::make_unique<Versions>(core_, options_.http1);
}

FrontDoor::~FrontDoor() = default;

transport::ConnectionHandler FrontDoor::handler() {
  return [this](transport::Connection& conn) { return serve(conn); };
}

Task<void> FrontDoor::serve(transport::Connection& conn) {
  if (options_.refuse && options_.refuse(conn)) return refuse(conn);
  if (options_.http2 && conn.negotiated_protocol() == "h2") return serve_http2(conn, core_, options_.http2);
  if (!options_.http2 || !options_.h2c_prior_knowledge) return versions_->http1.serve(conn);
  if (conn.input().empty()) {
    // Nothing sent yet: wait with no coroutine (as an idle keep-alive connection does), and
    // decide in resume() when the first bytes come.
    conn.set_read_timeout(options_.http1->idle_timeout);
    conn.park(*this);
    return Task<void>{};
  }
  return choose_by_preface(conn);
}

Task<void> FrontDoor::resume(transport::Connection& conn) { return choose_by_preface(conn); }

Task<void> FrontDoor::choose_by_preface(transport::Connection& conn) {
  return choose_protocol(conn, core_, Http1Choice{&versions_->http1, nullptr}, options_.http2,
                         options_.http1->header_timeout);
}

Task<void> FrontDoor::refuse(transport::Connection& conn) {
  if (options_.http2 && conn.negotiated_protocol() == "h2") return refuse_http2(conn, options_.http2);
  return refuse_http1(conn, 503, options_.http1);
}

}  // namespace khz::protocol

namespace khz {

Task<void> serve_http1(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http1Options> options) {
  if (!options->h2c) return protocol::http1::serve_connection(conn, core, std::move(options), nullptr, nullptr);
  return protocol::serve_http1_with_h2c(conn, core, std::move(options));
}

Task<void> serve_http(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http1Options> h1,
                      std::shared_ptr<const Http2Options> h2) {
  // Only a connection's first bytes choose: a resumed one has been HTTP/1.1 all along.
  if (!h2 || conn.resumed()) return serve_http1(conn, core, std::move(h1));
  // With no byte yet this waits holding the Task's frame (a FrontDoor parks instead).
  if (conn.input().empty()) conn.set_read_timeout(h1->idle_timeout);
  const auto header_timeout = h1->header_timeout;
  return protocol::choose_protocol(conn, core, protocol::Http1Choice{nullptr, std::move(h1)}, std::move(h2),
                                   header_timeout);
}

}  // namespace khz
