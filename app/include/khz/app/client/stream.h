// SPDX-License-Identifier: Apache-2.0
// khz/app/client/stream.h: open_stream, a raw byte stream to a TCP (or Unix domain socket)
// peer, for protocols that are not HTTP (Redis, memcached, a line protocol of your own),
// awaited from a handler or any coroutine on a khz loop; the loop never blocks.
//
//   khz::Task<> handler(khz::RequestContext& ctx) {
//     auto conn = co_await khz::client::open_stream("127.0.0.1", 6379, {.read_timeout = std::chrono::seconds(1)});
//     if (!conn) { ctx.string(502, conn.error().message()); co_return; }
//     (*conn)->output().append("PING\r\n");
//     if (auto ec = co_await (*conn)->flush()) co_return;
//     if (auto ec = co_await (*conn)->fill(7)) co_return;         // "+PONG\r\n"
//     (*conn)->input().skip(7);
//     (*conn)->input().release();
//   }
//
// The connection is a khz::transport::Connection (<khz/transport/connection.h>): input() and
// output() buffers, fill(n) and flush() to await bytes in and out; read_timeout bounds each
// fill and write_timeout each flush (zero: none), failing them with transport::errc::timed_out.
// Errors of open_stream: transport::errc::timed_out (connect_timeout, resolution included),
// the OS error (ECONNREFUSED ...), std::errc::address_not_available (no such name),
// std::errc::operation_not_supported when the caller runs on no khz loop.
// Lifetime and threading: the connection belongs to the caller and is used and destroyed on the
// loop that opened it (a server loop: keep one per loop, as a connection pool would).
#pragma once

#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/transport/connection.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace khz::client {

struct StreamOptions {
  std::chrono::milliseconds connect_timeout{5000};  // name resolution and connecting; 0: none
  std::chrono::milliseconds read_timeout{0};        // each fill(); 0: none
  std::chrono::milliseconds write_timeout{0};       // each flush(); 0: none
};

// host: a name, an IPv4 or IPv6 address ("::1" or "[::1]"), or "unix:/path" (port ignored).
Task<Result<std::unique_ptr<transport::Connection>>> open_stream(std::string host, std::uint16_t port,
                                                                  StreamOptions options = {});

}  // namespace khz::client
