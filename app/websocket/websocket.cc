// SPDX-License-Identifier: Apache-2.0
// WebSocket and WebSocket::MessageWriter: the handle over a Session.
#include <khz/app/websocket.h>

#include <khz/app/request_context.h>
#include <khz/common/log.h>

#include "session.h"

namespace khz {

namespace ws = protocol::websocket;

namespace {
Result<void> as_result(std::error_code ec) { return ec ? Result<void>(ec) : Result<void>(); }
ws::Opcode opcode_of(WebSocket::Type type) { return type == WebSocket::Type::text ? ws::Opcode::text : ws::Opcode::binary; }
}  // namespace

WebSocket::WebSocket(std::shared_ptr<Session> session) noexcept : session_(std::move(session)) {}
WebSocket::WebSocket(WebSocket&&) noexcept = default;
WebSocket& WebSocket::operator=(WebSocket&& other) noexcept {
  if (this != &other) {
    end_owned();
    session_ = std::move(other.session_);
  }
  return *this;
}

WebSocket::~WebSocket() { end_owned(); }

void WebSocket::end_owned() noexcept {
  if (session_ && session_->owned) {
    // A client's connection ends with its handle; tasks still running see it closed.
    session_->keepalive_timer.cancel();
    session_->broken = true;
    session_->conn->close();
  }
}

Task<Result<WebSocketMessage>> WebSocket::receive() {
  WebSocketMessage m;
  auto got = co_await session_->receive(m);
  if (!got) co_return got.error();
  co_return m;
}

Task<Result<void>> WebSocket::receive(WebSocketMessage& into) { return session_->receive(into); }

Task<Result<void>> WebSocket::send(const WebSocketMessage& message) {
  co_return as_result(co_await session_->send_message(opcode_of(message.type), message.data));
}

Task<Result<void>> WebSocket::send_text(std::string_view text) {
  co_return as_result(co_await session_->send_message(ws::Opcode::text, text));
}

Task<Result<void>> WebSocket::send_binary(std::string_view bytes) {
  co_return as_result(co_await session_->send_message(ws::Opcode::binary, bytes));
}

Task<Result<void>> WebSocket::ping(std::string_view payload) {
  co_return as_result(co_await session_->send_control(ws::Opcode::ping, payload));
}

Task<Result<void>> WebSocket::close(std::uint16_t code, std::string_view reason) {
  co_return as_result(co_await session_->close(code, reason));
}

bool WebSocket::is_open() const noexcept { return !session_->broken && !session_->close_sent && !session_->close_received; }
std::uint16_t WebSocket::close_code() const noexcept { return session_->peer_close_code; }
std::string_view WebSocket::close_reason() const noexcept { return session_->peer_close_reason; }
std::string_view WebSocket::subprotocol() const noexcept { return session_->agreed.subprotocol; }
std::string_view WebSocket::extensions() const noexcept { return session_->agreed.extensions; }
bool WebSocket::compressed() const noexcept { return session_->agreed.deflate.has_value(); }
transport::Connection& WebSocket::connection() noexcept { return *session_->conn; }

const RequestSnapshot& WebSocket::request() const noexcept {
  static const RequestSnapshot none{};
  return session_->request ? *session_->request : none;
}

WebSocket::MessageWriter WebSocket::stream(Type type) { return MessageWriter(session_, type); }

WebSocket::MessageWriter::MessageWriter(std::shared_ptr<Session> session, Type type) noexcept
    : session_(std::move(session)), type_(type) {}

WebSocket::MessageWriter::MessageWriter(MessageWriter&& other) noexcept
    : session_(std::move(other.session_)), type_(other.type_), started_(other.started_), finished_(other.finished_) {
  other.started_ = false;
  other.finished_ = true;
}

WebSocket::MessageWriter::~MessageWriter() {
  if (!session_ || !started_ || finished_) return;
  // Half a message went out and no more will: the peer cannot tell where it ends.
  KHZ_LOG(warn, "websocket " << session_->conn->peer_address() << ": a streamed message was left unfinished; closing");
  session_->broken = true;
  session_->conn->close();
  session_->message_lock.unlock();
}

Task<Result<void>> WebSocket::MessageWriter::write(std::string_view piece) {
  if (finished_) co_return std::error_code(ws::errc::closed);
  if (!started_) co_await session_->message_lock.lock();
  const bool first = !started_;
  started_ = true;
  std::error_code ec = co_await session_->send_fragment(opcode_of(type_), piece, first, false);
  if (ec) {
    finished_ = true;
    session_->message_lock.unlock();
  }
  co_return as_result(ec);
}

Task<Result<void>> WebSocket::MessageWriter::finish(std::string_view last_piece) {
  if (finished_) co_return std::error_code(ws::errc::closed);
  if (!started_) co_await session_->message_lock.lock();
  const bool first = !started_;
  started_ = true;
  finished_ = true;
  std::error_code ec = co_await session_->send_fragment(opcode_of(type_), last_piece, first, true);
  session_->message_lock.unlock();
  co_return as_result(ec);
}

}  // namespace khz
