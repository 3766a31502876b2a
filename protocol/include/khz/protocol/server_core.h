// SPDX-License-Identifier: Apache-2.0
// khz::ServerCore: what a protocol server (HTTP/1.1, HTTP/2) hands each exchange to.
// app::Engine implements it; protocol never sees app.
//
//   class Echo : public khz::ServerCore {
//     khz::Task<> serve(khz::Exchange& ex) override {
//       ex.response.set_body(ex.request.body());
//       co_return;
//     }
//   };
//
// The protocol server fills `request`, calls serve(), then writes `response`, unless the
// handler streamed it through `body_writer`, in which case the server finishes the stream.
// serve() must not throw (the Engine turns handler exceptions into 500 before returning).
#pragma once

#include <khz/common/task.h>
#include <khz/protocol/request.h>
#include <khz/protocol/response.h>
#include <khz/transport/connection.h>

#include <functional>
#include <memory>
#include <string_view>
#include <system_error>

namespace khz {

// Streams a response body: the first write sends the status and headers of `response` (and
// chunked framing on HTTP/1.1); each write is flushed to the peer before it completes.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  virtual Task<std::error_code> write(std::string_view chunk) = 0;
  virtual bool started() const noexcept = 0;
};

// State a ServerCore keeps with an exchange from one request to the next on the same
// connection (the Engine keeps its RequestContext there, so nothing is allocated per request).
class ExchangeState {
 public:
  virtual ~ExchangeState() = default;
};

// Takes a connection over once its response (usually 101 Switching Protocols) has been sent.
// Bytes the peer sent after the request are already in conn.input(). The connection closes when
// the Task completes.
using HijackHandler = std::function<Task<void>(transport::Connection&)>;

struct Exchange {
  Request request;
  Response response;
  BodyWriter* body_writer = nullptr;         // set by the protocol server
  std::string_view peer_address;             // valid for the exchange
  std::unique_ptr<ExchangeState> core_state;  // owned by the ServerCore; kept across requests
  // Set by the core when a streamed response broke off: the server must end the exchange so
  // the peer sees an incomplete response (HTTP/1.1: close without the last chunk).
  bool failed = false;
  // Set by the core to take the connection over after the response (HTTP/1.1 only).
  HijackHandler hijack;

  void clear() noexcept {
    request.clear();
    response.clear();
    failed = false;
    hijack = nullptr;
  }
};

class ServerCore {
 public:
  virtual ~ServerCore() = default;
  virtual Task<void> serve(Exchange& exchange) = 0;
};

}  // namespace khz
