// SPDX-License-Identifier: Apache-2.0
// BlockingClient: a Client on a ClientLoop thread of its own; each call runs there and blocks.
#include <khz/app/client/blocking_client.h>

#include <khz/common/event_loop.h>
#include <khz/transport/dial.h>

#include <chrono>
#include <optional>

namespace khz {

struct BlockingClient::Loop {
  std::unique_ptr<transport::ClientLoop> loop;
};

BlockingClient::BlockingClient(ClientOptions options) : loop_(std::make_unique<Loop>()) {
  loop_->loop = transport::ClientLoop::make(options.transport);
  client_ = std::make_unique<Client>(std::move(options));
}

BlockingClient::~BlockingClient() {
  // The pools' connections belong to the loop thread: close them there.
  loop_->loop->run([this]() -> Task<void> {
    client_.reset();
    // HTTP/2 sessions end once their reader and writer saw the close: give them a turn.
    co_await sleep_for(std::chrono::milliseconds(1));
  });
}

void BlockingClient::run(std::function<Task<void>()> make_task) { loop_->loop->run(std::move(make_task)); }

Result<Response> BlockingClient::send(ClientRequest request) {
  std::optional<Result<Response>> out;
  loop_->loop->run([&]() -> Task<void> { out.emplace(co_await client_->send(std::move(request))); });
  return std::move(*out);
}

Result<Response> BlockingClient::get(std::string url) {
  ClientRequest r;
  r.url = std::move(url);
  return send(std::move(r));
}

}  // namespace khz
