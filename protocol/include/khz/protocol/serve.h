// SPDX-License-Identifier: Apache-2.0
// The protocol front door: one server's HTTP side, as a transporter's connection handler. It
// admits a connection once (the `refuse` check, e.g. a connection limit), chooses its protocol
// once (ALPN "h2" over TLS; on a plain connection the HTTP/2 preface, h2c by prior knowledge;
// else HTTP/1.1, which may switch to h2c by Upgrade), and from then on that protocol owns the
// connection: an idle keep-alive connection parks on the HTTP/1.1 server and comes straight
// back to it (transporter.h's lifecycle table), never through admission or the preface sniff.
//
//   auto h2 = std::make_shared<const khz::Http2Options>();
//   khz::protocol::FrontDoor door(engine, {
//       .http1 = std::make_shared<const khz::Http1Options>(khz::Http1Options{.h2c = h2}),
//       .http2 = h2, .h2c_prior_knowledge = true});
//   transporter->start(door.handler());   // `door` outlives the transporter's connections
//
// serve_http is the same choice as a plain function for a handler that is its own protocol:
// an idle connection re-runs the handler (Connection::resumed() then skips the choice).
// Threading: a FrontDoor is immutable after construction; its handler runs on every loop.
#pragma once

#include <khz/common/task.h>
#include <khz/protocol/http1.h>
#include <khz/protocol/http2.h>
#include <khz/protocol/server_core.h>
#include <khz/transport/connection.h>
#include <khz/transport/transporter.h>

#include <functional>
#include <memory>

namespace khz::protocol {

struct FrontDoorOptions {
  std::shared_ptr<const Http1Options> http1{};  // null: the defaults
  // Null: HTTP/1.1 only. Set: ALPN "h2" connections speak HTTP/2, and so do plain ones that
  // start with the preface when h2c_prior_knowledge is on. h2c by Upgrade: Http1Options::h2c.
  std::shared_ptr<const Http2Options> http2{};
  bool h2c_prior_knowledge = false;
  // Asked once per connection, before its first request: true refuses it (503 and close over
  // HTTP/1.1; over HTTP/2 the server preface and GOAWAY with last stream 0, so the client may
  // retry elsewhere). Null: every connection is served.
  std::function<bool(transport::Connection&)> refuse{};
};

class FrontDoor final : public transport::Resumable {
 public:
  // `core` outlives the FrontDoor, and the FrontDoor the connections it serves.
  FrontDoor(ServerCore& core, FrontDoorOptions options);
  ~FrontDoor();
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;

  // Admits and serves one connection (the "first bytes" to "closed" rows of the table).
  Task<void> serve(transport::Connection& conn);
  // serve() as a transporter's ConnectionHandler.
  transport::ConnectionHandler handler();

 private:
  // A plain connection that parked before its first byte: the preface decides now.
  Task<void> resume(transport::Connection& conn) override;
  Task<void> choose_by_preface(transport::Connection& conn);
  Task<void> refuse(transport::Connection& conn);

  struct Versions;
  ServerCore& core_;
  FrontDoorOptions options_;
  std::unique_ptr<Versions> versions_;
};

}  // namespace khz::protocol

namespace khz {

// A plain-text port for both protocols, as one handler: reads the first bytes. A connection
// that starts with "PRI * HTTP/2.0\r\n", the first line of the HTTP/2 client preface (h2c with
// prior knowledge), goes to serve_http2, which checks the rest; anything else to serve_http1
// as soon as a byte differs from that line. `h2` null: HTTP/1.1 only. h2c by Upgrade is
// enabled separately, by Http1Options::h2c. Only a connection's first bytes are looked at: an
// idle keep-alive connection runs the handler again with Connection::resumed() set and goes
// back to HTTP/1.1.
Task<void> serve_http(transport::Connection& conn, ServerCore& core, std::shared_ptr<const Http1Options> h1,
                      std::shared_ptr<const Http2Options> h2);

}  // namespace khz
