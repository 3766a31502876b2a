// SPDX-License-Identifier: Apache-2.0
// Private to app/websocket: WebSocket::Session, one WebSocket connection's state over a
// transport::Connection (borrowed on the server, owned by a client), whatever carried the
// handshake (HTTP/1.1 upgrade; HTTP/2 extended CONNECT gives the same Connection interface).
// Shared by the WebSocket handle and the short tasks it starts (a keepalive ping), so a task
// never outlives what it touches. Used on the connection's loop only.
#pragma once

#include <khz/app/request_context.h>
#include <khz/app/websocket.h>
#include <khz/protocol/websocket.h>
#include <khz/protocol/websocket_deflate.h>
#include <khz/transport/dial.h>

#include <coroutine>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace khz {

struct WebSocket::Session : std::enable_shared_from_this<WebSocket::Session> {
  using Opcode = protocol::websocket::Opcode;
  using Role = protocol::websocket::Role;

  // What the handshake agreed on.
  struct Agreed {
    std::string subprotocol;
    std::string extensions;  // the Sec-WebSocket-Extensions answer
    std::optional<protocol::websocket::DeflateParams> deflate;
  };

  Session(Role role, transport::Connection& conn, std::shared_ptr<const WebSocketOptions> options, Agreed agreed);
  ~Session();

  // ---- reading
  // The next data message into `into` (its string's capacity goes on serving this session).
  Task<Result<void>> receive(WebSocketMessage& into);
  // ---- writing: whole messages, fragments, control frames
  Task<std::error_code> send_message(Opcode op, std::string_view payload);
  Task<std::error_code> send_fragment(Opcode op, std::string_view piece, bool first, bool fin);
  Task<std::error_code> send_control(Opcode op, std::string_view payload);
  // The close handshake from our side (see WebSocket::close).
  Task<std::error_code> close(std::uint16_t code, std::string_view reason);
  // Fails the connection for `error`: a close frame with close_code_for(error) if none went
  // out yet, then the connection closes.
  Task<void> fail(std::error_code error);
  // Ends everything: stops the keepalive, closes the connection, waits for the tasks it started.
  Task<void> shut_down();
  void start_keepalive();

  // A lock for coroutines of one loop: holders in turn, first come first served.
  struct AsyncLock {
    bool held = false;
    std::deque<std::coroutine_handle<>> waiters;
    struct Awaiter {
      AsyncLock& l;
      bool await_ready() const noexcept { return !l.held; }
      void await_suspend(std::coroutine_handle<> h) { l.waiters.push_back(h); }
      void await_resume() noexcept { l.held = true; }
    };
    Awaiter lock() noexcept { return Awaiter{*this}; }
    void unlock() noexcept;
  };
  // frame_lock: one frame's bytes and their flush (control frames take only this one, so they
  // go out between the fragments of a message). message_lock: a data message's frames, from
  // the first to the last (a whole message, or a MessageWriter from its first write to finish).
  AsyncLock frame_lock;
  AsyncLock message_lock;

  // Frames into the output (masked for a client) and flushes; errors mark the session broken.
  void put_frame(Opcode op, bool fin, bool rsv1, std::string_view payload, bool stable);
  Task<std::error_code> flush();

  Role role;
  transport::Connection* conn;
  std::unique_ptr<transport::Connection> owned;  // client: the dialled connection
  std::shared_ptr<const WebSocketOptions> options;
  Agreed agreed;
  std::unique_ptr<RequestSnapshot> request;  // server: the upgrade request

  protocol::websocket::FrameParser parser;
  std::string data;     // the data message being received (as framed)
  std::string control;  // the last control frame's payload
  protocol::websocket::Utf8Validator utf8;
  std::size_t utf8_checked = 0;  // bytes of `data` validated so far (uncompressed text)
  std::unique_ptr<protocol::websocket::Deflater> deflater;
  std::unique_ptr<protocol::websocket::Inflater> inflater;
  std::string scratch;  // compressed output of the message being sent

  bool receiving = false;
  bool close_sent = false;
  bool close_received = false;
  bool broken = false;  // the connection failed or was closed: nothing more goes out
  std::uint16_t peer_close_code = protocol::websocket::close_code::abnormal;
  std::string peer_close_reason;
  std::error_code final_error;  // what receive() returns once the session is over

  // Keepalive (see <khz/app/websocket.h>).
  transport::LoopTimer keepalive_timer;
  bool awaiting_pong = false;
  bool pinging = false;  // a ping task is running
  bool keepalive_check = false;  // the timer's next firing checks for the pong
  bool keepalive_failed = false;
  static void on_keepalive(void* self) noexcept;
  static Task<void> send_keepalive_ping(std::shared_ptr<Session> self);
  int tasks = 0;  // started tasks still running
  std::coroutine_handle<> tasks_done;
};

}  // namespace khz
