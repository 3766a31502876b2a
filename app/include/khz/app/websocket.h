// SPDX-License-Identifier: Apache-2.0
// khz::WebSocket: one WebSocket connection (RFC 6455, permessage-deflate RFC 7692), the same
// object on the server (server.websocket / ctx.websocket) and on the client (client.websocket).
//
//   server.websocket("/echo", [](khz::WebSocket& ws) -> khz::Task<> {
//     for (;;) {
//       auto msg = co_await ws.receive();           // a whole message: reassembled, inflated, UTF-8 checked
//       if (!msg) co_return;                        // closed (ws.close_code()), or the connection broke
//       auto sent = co_await ws.send(*msg);         // waits until the bytes are written (backpressure)
//       if (!sent) co_return;
//     }
//   }, {.subprotocols = {"chat"}, .allowed_origins = {"https://app.example"}});
//
//   auto ws = co_await client.websocket("wss://echo.example/ws", {.subprotocols = {"chat"}});
//   if (ws) { co_await ws->send_text("hi"); auto reply = co_await ws->receive(); co_await ws->close(); }
//
// Reading: receive() reads frames until a data message is complete, answering pings and
// handling the close handshake on the way; one receive() at a time. Control frames are read
// only while a receive() waits, so a handler that only sends should still keep one pending
// (another coroutine looping on receive()).
// Writing: send*/ping/close may be called from several coroutines of the connection's loop;
// frames of one message are never interleaved with another's (a MessageWriter holds the
// sending side from its first write to finish()). Each completes once its bytes are flushed to
// the connection: a slow peer slows the sender down, and memory stays bounded.
// Closing: close(code, reason) sends a close frame and waits (close_timeout) for the peer's; a
// close from the peer is answered, and receive() returns websocket::errc::closed with the
// peer's code and reason in close_code()/close_reason(). On the server, when the handler
// returns the session closes with 1000 (1011 if it threw), and the connection ends.
// Keepalive: with ping_interval set, a ping goes out every interval; when a receive() has been
// waiting through pong_timeout with nothing from the peer, the connection is closed and
// receive() returns errc::keepalive_timeout.
// Errors: khz::protocol::websocket::errc (the peer broke a rule: the close code sent is
// close_code_for(error)), or a transport error while writing.
// Threading: used on its connection's loop only. A client WebSocket must be destroyed on the
// loop it was made on (it owns its connection).
#pragma once

#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/websocket.h>
#include <khz/protocol/websocket_handshake.h>
#include <khz/transport/connection.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz {

struct RequestSnapshot;

struct WebSocketMessage {
  enum class Type { text, binary };
  Type type = Type::text;
  std::string data;
  bool is_text() const noexcept { return type == Type::text; }
};

struct WebSocketOptions {
  // ---- limits on what the peer sends (over either: close 1009)
  std::size_t max_frame_bytes = 16 * 1024 * 1024;
  std::size_t max_message_bytes = 16 * 1024 * 1024;  // after decompression too
  // ---- negotiation
  // Server: the subprotocols spoken, in preference order (the first one the client offers is
  // picked; none offered in common: no subprotocol). Client: the ones offered; the server's
  // pick must be one of them.
  std::vector<std::string> subprotocols{};
  // Server: the Origin values accepted (ASCII case-insensitive, e.g. "https://app.example");
  // empty and no check_origin: any (with a list, a request without Origin is refused: browsers
  // always send one). check_origin, when set, decides instead (it gets "" for none). Refused: 403.
  std::vector<std::string> allowed_origins{};
  std::function<bool(std::string_view origin)> check_origin{};
  // permessage-deflate: offered (client) or accepted (server) when on.
  bool permessage_deflate = true;
  protocol::websocket::DeflateOptions deflate{};
  int compression_level = 6;           // zlib 1-9
  std::size_t compress_min_bytes = 64;  // shorter messages go uncompressed
  // ---- timers (zero: none)
  std::chrono::milliseconds ping_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds pong_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds close_timeout{std::chrono::seconds(5)};  // waiting for the peer's close frame
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};  // each flush
  // Client: the connect and opening handshake together (within the client's own dial and
  // TLS handshake timeouts).
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  // Client: more request headers (Origin, Authorization, cookies, ...).
  std::vector<std::pair<std::string, std::string>> headers{};
};

class WebSocket {
 public:
  using Type = WebSocketMessage::Type;
  struct Session;  // app/websocket/session.h

  explicit WebSocket(std::shared_ptr<Session> session) noexcept;
  WebSocket(WebSocket&&) noexcept;
  WebSocket& operator=(WebSocket&&) noexcept;
  // Client: closes the connection (without a close handshake: call close() first).
  ~WebSocket();

  // The next data message. Errors: protocol::websocket::errc::closed (the close handshake
  // happened: close_code(), close_reason()), connection_lost, keepalive_timeout, or the rule
  // the peer broke (the connection was failed with close_code_for(error)).
  Task<Result<WebSocketMessage>> receive();
  // The same into a message the caller keeps: its bytes are replaced, and the buffer it held
  // serves the next message, so a loop that passes the same message allocates nothing per
  // message (an echo: receive(m), then send(m)). On an error `into` is left as it was or
  // emptied; its contents are then not a message.
  Task<Result<void>> receive(WebSocketMessage& into);

  Task<Result<void>> send(const WebSocketMessage& message);
  Task<Result<void>> send_text(std::string_view text);  // must be UTF-8 (not checked)
  Task<Result<void>> send_binary(std::string_view bytes);
  Task<Result<void>> ping(std::string_view payload = {});  // at most 125 bytes

  // A message sent in fragments as its pieces come (a large file, a generated stream): memory
  // holds one piece at a time. Other messages wait until finish(); control frames do not.
  //   auto w = ws.stream(khz::WebSocket::Type::binary);
  //   while (auto piece = next_piece()) if (!co_await w.write(*piece)) break;
  //   co_await w.finish();
  class MessageWriter {
   public:
    MessageWriter(MessageWriter&&) noexcept;
    MessageWriter& operator=(MessageWriter&&) = delete;
    // Not finished: the connection is failed (a message cannot be abandoned halfway).
    ~MessageWriter();
    Task<Result<void>> write(std::string_view piece);
    Task<Result<void>> finish(std::string_view last_piece = {});

   private:
    friend class WebSocket;
    MessageWriter(std::shared_ptr<Session> session, Type type) noexcept;
    std::shared_ptr<Session> session_;
    Type type_;
    bool started_ = false;
    bool finished_ = false;
  };
  MessageWriter stream(Type type);

  // Sends a close frame (code: 1000-1003, 1007-1014, 3000-4999) and waits up to close_timeout
  // for the peer's (when no receive() is running: else that receive() sees it). Then the
  // connection closes. Closing again does nothing.
  Task<Result<void>> close(std::uint16_t code = protocol::websocket::close_code::normal, std::string_view reason = {});

  bool is_open() const noexcept;
  // After the close handshake (or a failure): the code and reason received from the peer
  // (close_code::no_status when its frame had none; abnormal (1006) when none came).
  std::uint16_t close_code() const noexcept;
  std::string_view close_reason() const noexcept;
  // The subprotocol agreed on ("" for none) and the Sec-WebSocket-Extensions answer ("" for none).
  std::string_view subprotocol() const noexcept;
  std::string_view extensions() const noexcept;
  bool compressed() const noexcept;  // permessage-deflate in use
  // Server: the upgrade request (path, params, query, headers), owned by the session.
  const RequestSnapshot& request() const noexcept;
  transport::Connection& connection() noexcept;

 private:
  void end_owned() noexcept;
  std::shared_ptr<Session> session_;
};

// A server handler: runs after the 101 (HTTP/1.1) once the handshake is accepted; the session
// closes when it returns.
using WebSocketHandler = std::function<Task<void>(WebSocket&)>;

}  // namespace khz
