// SPDX-License-Identifier: Apache-2.0
// Client::websocket: dial (proxy tunnel, TLS) and the opening handshake (RFC 6455 §4.1), then
// a WebSocket session that owns the connection.
#include <khz/app/client/client.h>
#include <khz/app/client/errors.h>
#include <khz/common/cancel.h>
#include <khz/common/log.h>
#include <khz/protocol/http1_client.h>
#include <khz/protocol/websocket_handshake.h>
#include <khz/transport/error.h>

#include "../websocket/session.h"
#include "impl.h"

#include <algorithm>

namespace khz {

namespace ws = protocol::websocket;

namespace {

Result<Url> parse_websocket_url(std::string_view text) {
  std::string s(text);
  const auto colon = s.find("://");
  if (colon == std::string::npos) return std::error_code(client::errc::bad_url);
  std::string scheme = s.substr(0, colon);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "ws") s = "http" + s.substr(colon);
  else if (scheme == "wss") s = "https" + s.substr(colon);
  else if (scheme != "http" && scheme != "https") return std::error_code(client::errc::unsupported_scheme);
  return Url::parse(s);
}

std::error_code handshake_failed(const Url& url, std::string_view why) {
  KHZ_LOG(info, "websocket client: " << url.str() << ": handshake failed: " << why);
  return ws::errc::handshake_failed;
}

void close_connection(void* conn) { static_cast<transport::Connection*>(conn)->close(); }

}  // namespace

Task<Result<WebSocket>> Client::websocket(std::string url_text, WebSocketOptions options) {
  using client::Clock;
  auto url = parse_websocket_url(url_text);
  if (!url) co_return url.error();
  CancelSignal* cancel = co_await current_cancel_signal();
  if (cancel != nullptr && cancel->triggered()) co_return std::error_code(client::errc::cancelled);

  const Clock::time_point now = Clock::now();
  Clock::time_point deadline = client::after(options.handshake_timeout);
  deadline = std::min(deadline, client::after(options_.total_timeout));

  // Where to dial: the URL's host, a discovered endpoint, or the proxy, which is always asked
  // for a tunnel (the frames are no HTTP a proxy could forward).
  client::Route route = impl_->routing.route(*url);
  client::HostPool target;
  target.host = std::string(route.host);
  target.port = route.port;
  target.tls = route.tls;
  target.server_name = std::string(route.server_name);
  const bool proxied = route.via_proxy || !route.tunnel_host.empty();
  if (proxied) {
    target.tunnel = (url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host) + ":" +
                    std::to_string(url->port);
  }
  target.key = url->authority();
  auto dialled = co_await impl_->pools.dialer().open_stream(target, now, deadline);
  if (!dialled) co_return dialled.error();
  if (cancel != nullptr && cancel->triggered()) co_return std::error_code(client::errc::cancelled);

  // ---- the opening handshake
  const std::string key = ws::make_key();
  Request req;
  req.set_method_ref("GET");
  req.set_target(url->target);
  HeaderMap& h = req.headers();
  h.set("Host", url->authority());
  h.set("Upgrade", "websocket");
  h.set("Connection", "Upgrade");
  h.set("Sec-WebSocket-Key", key);
  h.set("Sec-WebSocket-Version", ws::kVersion);
  std::string protocols;
  for (const auto& p : options.subprotocols) protocols += (protocols.empty() ? "" : ", ") + p;
  if (!protocols.empty()) h.set("Sec-WebSocket-Protocol", protocols);
  if (options.permessage_deflate) h.set("Sec-WebSocket-Extensions", ws::deflate_offer(options.deflate));
  for (const auto& [name, value] : options.headers) h.add(name, value);

  Http1ClientConnection http(std::move(*dialled), impl_->pools.dialer().http1());
  // A cancel closes the connection: the handshake's read or write ends at once.
  CancelSignal::Watch watch(cancel, &close_connection, &http.transport());
  http.queue_request(req, RequestFraming{.content_length = 0});
  Response resp;
  std::error_code ec = co_await http.flush(deadline);
  if (!ec) ec = co_await http.read_head(resp, /*head_request=*/true, deadline);
  watch.detach();
  if (cancel != nullptr && cancel->triggered()) ec = client::errc::cancelled;
  if (ec) {
    http.close();
    co_return ec;
  }
  std::error_code bad;
  WebSocket::Session::Agreed agreed;
  if (resp.status() != 101) {
    bad = handshake_failed(*url, "status " + std::to_string(resp.status()));
  } else if (!ws::has_token(resp.header("Upgrade"), "websocket") || !ws::has_token(resp.header("Connection"), "upgrade")) {
    bad = handshake_failed(*url, "101 without Upgrade: websocket and Connection: Upgrade");
  } else if (resp.header("Sec-WebSocket-Accept") != ws::accept_key(key)) {
    bad = handshake_failed(*url, "wrong Sec-WebSocket-Accept");
  } else {
    agreed.subprotocol.assign(resp.header("Sec-WebSocket-Protocol"));
    if (!agreed.subprotocol.empty() &&
        std::find(options.subprotocols.begin(), options.subprotocols.end(), agreed.subprotocol) == options.subprotocols.end()) {
      bad = handshake_failed(*url, "the server picked a subprotocol not offered: " + agreed.subprotocol);
    }
    agreed.extensions.assign(resp.header("Sec-WebSocket-Extensions"));
    if (!bad && !agreed.extensions.empty()) {
      if (!options.permessage_deflate) {
        bad = handshake_failed(*url, "the server answered an extension not offered: " + agreed.extensions);
      } else if (auto d = ws::accept_deflate_response(agreed.extensions, options.deflate); !d) {
        bad = handshake_failed(*url, "unacceptable Sec-WebSocket-Extensions: " + agreed.extensions);
      } else {
        agreed.deflate = **d;
      }
    }
  }
  if (bad) {
    http.close();
    co_return bad;
  }
  std::unique_ptr<transport::Connection> conn = http.take_transport();
  auto session = std::make_shared<WebSocket::Session>(ws::Role::client, *conn,
                                                      std::make_shared<const WebSocketOptions>(std::move(options)),
                                                      std::move(agreed));
  session->owned = std::move(conn);
  session->start_keepalive();
  co_return WebSocket(std::move(session));
}

}  // namespace khz
