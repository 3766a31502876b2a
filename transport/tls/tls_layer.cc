// SPDX-License-Identifier: Apache-2.0
// TLS as a transporter layer (tls_server_layer): the handshake is part of a connection's
// admission, close_notify part of its close.
#include <khz/transport/tls.h>

namespace khz::transport {
namespace {

class TlsServerLayer final : public ConnectionLayer {
 public:
  TlsServerLayer(std::shared_ptr<const TlsServerContext> context, std::shared_ptr<const TlsHandshakeCounters> counters)
      : context_(std::move(context)), counters_(std::move(counters)) {}

  Task<std::unique_ptr<Connection>> open(Connection& inner) const override {
    auto conn = std::make_unique<TlsConnection>(inner, context_);
    const auto failed = co_await conn->handshake();
    if (counters_) (failed ? counters_->failed : counters_->completed).inc();
    if (failed) co_return nullptr;  // logged by the TLS layer
    co_return std::unique_ptr<Connection>(std::move(conn));
  }

  Task<void> close(Connection& layered) const override {
    co_await static_cast<TlsConnection&>(layered).shutdown();
  }

 private:
  std::shared_ptr<const TlsServerContext> context_;
  std::shared_ptr<const TlsHandshakeCounters> counters_;  // null: not counted
};

}  // namespace

std::shared_ptr<const ConnectionLayer> tls_server_layer(std::shared_ptr<const TlsServerContext> context) {
  return std::make_shared<const TlsServerLayer>(std::move(context), nullptr);
}

std::shared_ptr<const ConnectionLayer> tls_server_layer(std::shared_ptr<const TlsServerContext> context,
                                                        std::shared_ptr<const TlsHandshakeCounters> counters) {
  return std::make_shared<const TlsServerLayer>(std::move(context), std::move(counters));
}

}  // namespace khz::transport
