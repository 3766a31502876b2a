// SPDX-License-Identifier: Apache-2.0
// TLS as a transporter layer (tls_server_layer): the handshake is part of a connection's
// admission, close_notify part of its close.
#include <khz/transport/tls.h>

namespace khz::transport {
namespace {

class TlsServerLayer final : public ConnectionLayer {
 public:
  explicit TlsServerLayer(std::shared_ptr<const TlsServerContext> context) : context_(std::move(context)) {}

  Task<std::unique_ptr<Connection>> open(Connection& inner) const override {
    auto conn = std::make_unique<TlsConnection>(inner, context_);
    if (co_await conn->handshake()) co_return nullptr;  // logged by the TLS layer
    co_return std::unique_ptr<Connection>(std::move(conn));
  }

  Task<void> close(Connection& layered) const override {
    co_await static_cast<TlsConnection&>(layered).shutdown();
  }

 private:
  std::shared_ptr<const TlsServerContext> context_;
};

}  // namespace

std::shared_ptr<const ConnectionLayer> tls_server_layer(std::shared_ptr<const TlsServerContext> context) {
  return std::make_shared<const TlsServerLayer>(std::move(context));
}

}  // namespace khz::transport
