// SPDX-License-Identifier: Apache-2.0
// The server side: the opening handshake (RFC 6455 §4.2; checked, negotiated, answered),
// ctx.websocket() and RouteGroup::websocket(), and the session that runs the handler.
//
// Over HTTP/1.1 the answer is 101 with Sec-WebSocket-Accept; over HTTP/2 (RFC 8441 extended
// CONNECT, :protocol = websocket) it is 200 and no key is exchanged. Everything else (version,
// Origin, subprotocol, permessage-deflate, the session over the Connection the stream or the
// socket gives) is the same: only `check_transport` and `answer` know the difference.
#include <khz/app/engine.h>
#include <khz/app/request_context.h>
#include <khz/app/websocket.h>
#include <khz/common/log.h>
#include <khz/protocol/websocket_handshake.h>

#include "session.h"

#include <exception>

namespace khz {

namespace ws = protocol::websocket;

namespace {

struct WebSocketRoute {
  WebSocketHandler handler;
  std::shared_ptr<const WebSocketOptions> options;
};

// What the takeover needs once the answer is out (the RequestContext is gone by then).
struct Accepted {
  std::shared_ptr<const WebSocketRoute> route;
  WebSocket::Session::Agreed agreed;
  std::unique_ptr<RequestSnapshot> request;
};

// Every field line of `name`, joined with ", " (lists may come split over several lines).
std::string joined(const Request& req, std::string_view name) {
  std::string out;
  for (const auto& f : req.headers()) {
    if (!iequals(f.name, name)) continue;
    if (!out.empty()) out += ", ";
    out.append(f.value);
  }
  return out;
}

bool refuse(RequestContext& ctx, int status, std::string_view why) {
  KHZ_LOG(debug, "websocket " << ctx.peer_address() << " " << ctx.path() << ": handshake refused (" << status << "): " << why);
  ctx.string(status, std::string(why) + "\n");
  ctx.abort();
  return false;
}

bool origin_allowed(const WebSocketOptions& o, std::string_view origin) {
  if (o.check_origin) return o.check_origin(origin);
  if (o.allowed_origins.empty()) return true;
  for (const auto& allowed : o.allowed_origins) {
    if (iequals(allowed, origin)) return true;
  }
  return false;
}

Task<void> run_session(transport::Connection& conn, std::shared_ptr<Accepted> accepted) {
  auto session = std::make_shared<WebSocket::Session>(ws::Role::server, conn, accepted->route->options,
                                                      std::move(accepted->agreed));
  session->request = std::move(accepted->request);
  session->start_keepalive();
  bool threw = false;
  {
    WebSocket socket(session);
    try {
      co_await accepted->route->handler(socket);
    } catch (const std::exception& e) {
      KHZ_LOG(error, "websocket " << conn.peer_address() << ": handler threw: " << e.what());
      threw = true;
    } catch (...) {
      KHZ_LOG(error, "websocket " << conn.peer_address() << ": handler threw");
      threw = true;
    }
  }
  // The handler is done: close (1000, or 1011 after an exception) unless it did.
  if (!session->close_sent && !session->broken) {
    (void)co_await session->close(threw ? ws::close_code::internal_error : ws::close_code::normal,
                                  threw ? "internal error" : "");
  }
  co_await session->shut_down();
}

// The takeover handler: not a coroutine itself (it may be copied and destroyed freely);
// run_session owns what it needs.
struct Takeover {
  std::shared_ptr<Accepted> accepted;
  Task<void> operator()(transport::Connection& conn) const { return run_session(conn, accepted); }
};

bool accept_websocket(RequestContext& ctx, std::shared_ptr<const WebSocketRoute> route) {
  const Request& req = ctx.request();
  const WebSocketOptions& o = *route->options;
  // ---- what differs by transport
  // HTTP/2 (RFC 8441 §4): CONNECT with :protocol = websocket; no Upgrade, no key.
  const bool extended_connect = req.version() == Version::http2;
  std::string key;
  if (extended_connect) {
    if (ctx.method() != "CONNECT" || ctx.connect_protocol() != "websocket") {
      return refuse(ctx, 400, "a WebSocket over HTTP/2 is opened with an extended CONNECT (:protocol websocket)");
    }
  } else {
    // HTTP/1.1 (RFC 6455 §4.2.1): GET, Upgrade: websocket, Connection: Upgrade, a key.
    if (!ws::has_token(joined(req, "Upgrade"), "websocket")) {
      ctx.set_header("Upgrade", "websocket");
      ctx.set_header("Connection", "Upgrade");
      return refuse(ctx, 426, "this resource speaks WebSocket: send Upgrade: websocket");
    }
    if (req.version() != Version::http11) return refuse(ctx, 400, "a WebSocket upgrade needs HTTP/1.1");
    if (!ws::has_token(joined(req, "Connection"), "upgrade")) return refuse(ctx, 400, "Connection: Upgrade is missing");
    if (req.headers().count("Sec-WebSocket-Key") != 1 || !ws::is_valid_key(req.header("Sec-WebSocket-Key"))) {
      return refuse(ctx, 400, "Sec-WebSocket-Key is missing or not base64 of 16 bytes");
    }
    key.assign(req.header("Sec-WebSocket-Key"));
  }
  // ---- the same over both
  if (req.header("Sec-WebSocket-Version") != ws::kVersion) {
    ctx.set_header("Sec-WebSocket-Version", ws::kVersion);
    return refuse(ctx, 426, "unsupported Sec-WebSocket-Version (13 is spoken)");
  }
  if (!origin_allowed(o, req.header("Origin"))) return refuse(ctx, 403, "Origin not allowed");

  auto accepted = std::make_shared<Accepted>();
  accepted->route = route;
  WebSocket::Session::Agreed& agreed = accepted->agreed;
  if (!o.subprotocols.empty()) {
    const std::string offered = joined(req, "Sec-WebSocket-Protocol");
    const auto tokens = ws::split_tokens(offered);
    for (const auto& mine : o.subprotocols) {
      bool found = false;
      for (auto t : tokens) found = found || t == mine;
      if (found) {
        agreed.subprotocol = mine;
        break;
      }
    }
  }
  if (o.permessage_deflate) {
    ws::DeflateParams params;
    if (ws::negotiate_deflate(joined(req, "Sec-WebSocket-Extensions"), o.deflate, params, agreed.extensions)) {
      agreed.deflate = params;
    }
  }
  accepted->request = std::make_unique<RequestSnapshot>(ctx.snapshot());

  // ---- the answer
  if (!agreed.subprotocol.empty()) ctx.set_header("Sec-WebSocket-Protocol", agreed.subprotocol);
  if (!agreed.extensions.empty()) ctx.set_header("Sec-WebSocket-Extensions", agreed.extensions);
  if (extended_connect) {
    ctx.set_status(200);  // RFC 8441 §5: 200, the stream then carries the frames
    ctx.hijack(Takeover{std::move(accepted)});
  } else {
    ctx.set_header("Sec-WebSocket-Accept", ws::accept_key(key));
    ctx.upgrade("websocket", Takeover{std::move(accepted)});
  }
  return true;
}

// The route's handler: the endpoint's state is made once, at registration.
struct Endpoint {
  std::shared_ptr<const WebSocketRoute> route;
  void operator()(RequestContext& ctx) const { accept_websocket(ctx, route); }
};

}  // namespace

bool RequestContext::websocket(WebSocketHandler handler, WebSocketOptions options) {
  check_live("websocket");
  auto route = std::make_shared<WebSocketRoute>();
  route->handler = std::move(handler);
  route->options = std::make_shared<const WebSocketOptions>(std::move(options));
  return accept_websocket(*this, std::move(route));
}

RouteHandle RouteGroup::websocket(std::string_view p, WebSocketHandler handler, WebSocketOptions options) {
  if (!handler) throw std::invalid_argument("websocket " + std::string(p) + ": the handler is empty");
  auto route = std::make_shared<WebSocketRoute>();
  route->handler = std::move(handler);
  route->options = std::make_shared<const WebSocketOptions>(std::move(options));
  // HTTP/2 opens with an extended CONNECT to the same path (RFC 8441 §4), HTTP/1.1 with a GET.
  handle("CONNECT", p, Endpoint{route});
  return get(p, Endpoint{std::move(route)});
}

}  // namespace khz
