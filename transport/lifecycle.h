// SPDX-License-Identifier: Apache-2.0
// Private to transport/: the connection lifecycle of transporter.h, written once. Every
// backend hands each admitted connection (the accept filter said yes) to Lifecycle::serve on
// the connection's loop and gets the socket back through Host::closed when its life is over;
// the layer (TLS), the handler's one run, parking and resuming happen here, the same for all.
//
//   lifecycle_.set(handler, options.layer);             // in start(), before the first accept
//   lifecycle_.serve(std::move(conn), worker);          // on the loop, once admitted
//   void Worker::closed(std::unique_ptr<Connection> c)  // close, forget, count out
//
// Threading: set() before any serve(); serve() and everything after it on the connection's loop.
#pragma once

#include <khz/common/task.h>
#include <khz/transport/connection.h>
#include <khz/transport/transporter.h>

#include <memory>

namespace khz::transport {

class Lifecycle {
 public:
  // A backend's side of the lifecycle.
  class Host {
   public:
    // The connection's life is over (its layer already closed): close the socket, forget it,
    // count it out. On the connection's loop.
    virtual void closed(std::unique_ptr<Connection> socket) noexcept = 0;

   protected:
    ~Host() = default;
  };

  void set(ConnectionHandler handler, std::shared_ptr<const ConnectionLayer> layer) {
    handler_ = std::move(handler);
    layer_ = std::move(layer);
  }

  // Serves an admitted connection to its end: layer, handler, park/resume, close.
  void serve(std::unique_ptr<Connection> socket, Host& host);

 private:
  struct Served;

  Detached open_layer(Served* served);
  // Runs the handler (next == null) or the protocol that parked the connection, once; then
  // parks the connection or ends it.
  Detached run(Served* served, Resumable* next);
  static void on_input(void* served);
  void end(Served* served);
  Detached close_layer(Served* served);

  ConnectionHandler handler_;
  std::shared_ptr<const ConnectionLayer> layer_;
};

}  // namespace khz::transport
