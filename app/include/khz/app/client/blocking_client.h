// SPDX-License-Identifier: Apache-2.0
// khz/app/client/blocking_client.h: BlockingClient, a Client on a loop thread of its own for
// plain programs (no server, no coroutines of your own): each call blocks until it completes.
//
//   khz::BlockingClient c({.total_timeout = std::chrono::seconds(5)});
//   khz::Result<khz::Response> r = c.get("http://127.0.0.1:8080/ping");
//   if (r) std::printf("%d %s\n", r->status(), std::string(r->body()).c_str());
//   c.run([&]() -> khz::Task<> {                     // streaming: a coroutine on its loop
//     auto s = co_await c.client().stream(std::move(req));
//     ...
//   });
//
// ClientOptions::transport picks the loop's backend. Threading: thread-safe (calls are posted
// to the loop and run there one after another or concurrently); the destructor closes the
// pooled connections on the loop thread.
#pragma once

#include <khz/app/client/client.h>
#include <khz/app/client/options.h>
#include <khz/app/client/request.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/response.h>

#include <functional>
#include <memory>
#include <string>

namespace khz {

// A Client on its own loop thread, for plain programs: each call blocks until it completes.
// Thread-safe (calls are posted to the loop and run there one after another or concurrently).
class BlockingClient {
 public:
  explicit BlockingClient(ClientOptions options = {});
  ~BlockingClient();
  Result<Response> send(ClientRequest request);
  Result<Response> get(std::string url);
  Client& client() noexcept { return *client_; }
  // Runs `make_task()` on the client's loop and waits (for streaming in a plain program).
  void run(std::function<Task<void>()> make_task);

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
  std::unique_ptr<Client> client_;
};

}  // namespace khz
