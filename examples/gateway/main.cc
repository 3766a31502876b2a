// SPDX-License-Identifier: Apache-2.0
// The gateway: a reverse proxy route on khz::Client. `/api/*path` goes to an upstream as
// `/<path>?<query>`, with the method, the header fields (minus hop-by-hop ones) and the body;
// the upstream's answer streams back piece by piece as it arrives (ctx.write()).
//
//   ./build/bin/gateway [listen address] [upstream host:port]    (127.0.0.1:8080 127.0.0.1:8888)
//   ./build/bin/hello &  ./build/bin/gateway &  curl localhost:8080/api/ping
//
// Both ways stream: the route reads the request body as it arrives (.stream_body(), so the
// downstream client sends only as fast as the upstream takes it) and hands it to the client as
// a body source (Content-Length kept, else chunked); the response goes back piece by piece.
// Upstream failures answer 502 (504 on a timeout). When the downstream client goes away mid-response, ctx.write() returns false and
// the upstream stream is dropped, which closes the upstream connection.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/common/version.h>
#include <khz/transport/error.h>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace {

// RFC 9110 §7.6.1: fields that belong to one connection, not to the message.
bool hop_by_hop(std::string_view name) {
  for (std::string_view h : {"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
                             "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host",
                             "Content-Length", "Expect"}) {
    if (khz::iequals(name, h)) return true;
  }
  return false;
}

// The downstream request body, piece by piece (a named coroutine: the client calls it until
// it returns "").
khz::Task<khz::Result<std::string_view>> read_downstream(khz::RequestContext* ctx) {
  co_return co_await ctx->read_body_chunk();
}

khz::Task<> proxy(khz::Client& client, const std::string& upstream, khz::RequestContext& ctx) {
  khz::ClientRequest req;
  req.method = std::string(ctx.method());
  req.url = "http://" + upstream + "/" + std::string(ctx.param("path"));
  if (!ctx.request().query().empty()) req.url += "?" + std::string(ctx.request().query());
  for (const auto& f : ctx.request().headers()) {
    if (!hop_by_hop(f.name)) req.headers.add(f.name, f.value);
  }
  std::string forwarded(ctx.header("X-Forwarded-For"));
  std::string_view peer = ctx.peer_address();
  peer = peer.substr(0, peer.rfind(':'));
  req.headers.set("X-Forwarded-For", forwarded.empty() ? std::string(peer) : forwarded + ", " + std::string(peer));
  const auto& in = ctx.request().headers();
  if (in.contains("Content-Length") || in.contains("Transfer-Encoding")) {
    req.body_source = [c = &ctx] { return read_downstream(c); };
    req.body_length = -1;  // chunked, unless the length is known:
    if (std::string_view cl = in.get("Content-Length"); !cl.empty() && !in.contains("Transfer-Encoding")) {
      req.body_length = std::stoll(std::string(cl));  // the server validated it
    }
  }

  auto stream = co_await client.stream(std::move(req));
  if (!stream) {
    bool timeout = stream.error() == khz::transport::errc::timed_out;
    ctx.string(timeout ? 504 : 502, "upstream: " + stream.error().message() + "\n");
    co_return;
  }
  const khz::Response& head = stream->response();
  ctx.set_status(head.status());
  for (const auto& f : head.headers()) {
    if (!hop_by_hop(f.name) && !khz::iequals(f.name, "Date") && !khz::iequals(f.name, "Server")) {
      ctx.response().headers().add(f.name, f.value);
    }
  }
  auto first = co_await stream->read();
  if (!first) {
    ctx.string(502, "upstream: " + first.error().message() + "\n");
    co_return;
  }
  if (stream->finished()) {
    // The whole body came at once: answer it with a Content-Length.
    ctx.response().set_body(*first);
    co_return;
  }
  if (!co_await ctx.write(*first)) co_return;  // the downstream client went away
  for (;;) {
    auto piece = co_await stream->read();
    // Too late for a 502 once the head went out: an upstream failure ends the response here.
    if (!piece || piece->empty()) co_return;
    if (!co_await ctx.write(*piece)) co_return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8080";
  std::string upstream = "127.0.0.1:8888";
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("usage: gateway [LISTEN [UPSTREAM]]\n"
                  "  proxies /api/*path on LISTEN (default 127.0.0.1:8080) to UPSTREAM host:port "
                  "(default 127.0.0.1:8888)\n");
      return 0;
    }
    if (arg == "--version") {
      std::printf("gateway (khz %s)\n", khz::version().data());
      return 0;
    }
    if (arg.starts_with("-") || positional == 2) {
      std::fprintf(stderr, "gateway: unexpected argument '%s'\nusage: gateway [LISTEN [UPSTREAM]]\n", argv[i]);
      return 2;
    }
    (positional++ == 0 ? listen : upstream) = arg;
  }
  try {
    khz::Server server({.address = listen});
    khz::ClientOptions options;
    options.response_header_timeout = std::chrono::seconds(10);
    options.max_redirects = 0;  // redirects go back to the downstream client as they are
    khz::Client client(options);
    server.any("/api/*path", [&client, &upstream](khz::RequestContext& ctx) {
      return proxy(client, upstream, ctx);
    }).stream_body();
    server.spin();
  } catch (const std::exception& e) {  // a bad address, a port in use
    std::fprintf(stderr, "gateway: %s\n", e.what());
    return 1;
  }
}
