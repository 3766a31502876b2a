// SPDX-License-Identifier: Apache-2.0
// The Asio backend's ClientLoop: a loop for clients outside a server (BlockingClient, tools).
#include <khz/transport/asio.h>

#include "asio/asio_loop.h"

#include <future>

namespace khz::transport {
namespace {

class AsioClientLoop final : public ClientLoop {
 public:
  explicit AsioClientLoop(bool on_caller) {
    if (on_caller) {
      drive_on_caller();
    } else {
      loop_.run();
    }
  }
  ~AsioClientLoop() override {
    // Sleepers (sleep_for, backoffs) end now rather than leak with the loop; the second post
    // runs after their aborted handlers.
    for (int round = 0; round < 2; ++round) {
      if (on_caller()) {
        run_here([this, round] {
          if (round == 0) loop_.wake_sleepers();
        });
        continue;
      }
      std::promise<void> woken;
      loop_.post([&] {
        if (round == 0) loop_.wake_sleepers();
        woken.set_value();
      });
      woken.get_future().wait();
    }
    loop_.stop_and_join();
  }
  EventLoop& loop() noexcept override { return loop_; }
  std::string_view name() const noexcept override { return "asio"; }

 private:
  void run_here_until_readable(int fd) override { loop_.run_here_until_readable(fd); }
  AsioLoop loop_;
};

}  // namespace

std::unique_ptr<ClientLoop> make_asio_client_loop(bool on_caller) { return std::make_unique<AsioClientLoop>(on_caller); }

}  // namespace khz::transport
