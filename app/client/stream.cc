// SPDX-License-Identifier: Apache-2.0
// open_stream: transport::dial from the calling loop, with the stream's deadlines set.
#include <khz/app/client/stream.h>
#include <khz/transport/dial.h>

#include <utility>

namespace khz::client {

Task<Result<std::unique_ptr<transport::Connection>>> open_stream(std::string host, std::uint16_t port,
                                                                  StreamOptions options) {
  auto conn = co_await transport::dial(std::move(host), port, options.connect_timeout);
  if (!conn) co_return conn.error();
  (*conn)->set_read_timeout(options.read_timeout);
  (*conn)->set_write_timeout(options.write_timeout);
  co_return std::move(*conn);
}

}  // namespace khz::client
