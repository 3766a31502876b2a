// SPDX-License-Identifier: Apache-2.0
// RFC 8441 on the client: an extended CONNECT stream as a transport::Connection
// (Http2ClientConnection::open_tunnel), built on the public stream API (Http2Stream) alone.
#include <khz/common/event_loop.h>
#include <khz/protocol/error.h>
#include <khz/protocol/http2_client.h>
#include <khz/transport/error.h>

#include <memory>
#include <string>
#include <utility>

namespace khz {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

namespace {

// What the tunnel's pending operations share with it, so that they may finish after it went.
struct TunnelCore {
  Response inbox;  // the stream's DATA lands in inbox.body_buffer() (declared before the stream)
  Http2Stream stream;
  transport::Connection* owner = nullptr;  // null once the tunnel is gone
};

std::error_code tunnel_error(std::error_code ec) {
  if (ec == protocol::errc::stream_reset || ec == protocol::errc::truncated_response ||
      ec == protocol::errc::malformed_response) {
    return std::make_error_code(std::errc::connection_reset);
  }
  return ec;
}

// Resumes `h` on a later turn of the loop (never inline).
void resume_later(std::coroutine_handle<> h) {
  EventLoop::current()->post([h] { h.resume(); });
}

class ClientTunnel final : public transport::Connection {
 public:
  ClientTunnel(std::shared_ptr<TunnelCore> core, std::string peer, std::string local, std::string protocol)
      : core_(std::move(core)), peer_(std::move(peer)), local_(std::move(local)), protocol_(std::move(protocol)) {
    core_->owner = this;
  }
  ~ClientTunnel() override {
    close();
    core_->owner = nullptr;
  }

  void close() noexcept override {
    if (closed_) return;
    closed_ = true;
    if (pending_ != 0) {
      core_->stream.cancel();  // the pending operations end (cancelled)
    } else {
      spawn(end_stream(core_));
    }
  }
  std::string peer_address() const override { return peer_; }
  std::string local_address() const override { return local_; }
  std::string_view negotiated_protocol() const noexcept override { return protocol_; }

 private:
  static Task<void> end_stream(std::shared_ptr<TunnelCore> core) {
    (void)co_await core->stream.write_end(Clock::time_point::max());
  }

  void start_fill(std::size_t n, std::coroutine_handle<> h) override {
    ++pending_;
    spawn(fill_some(core_, n, h));
  }
  bool start_flush(std::coroutine_handle<> h) override {
    if (closed_) {
      flush_error_ = transport::errc::cancelled;
      return false;
    }
    ++pending_;
    spawn(flush_all(core_, h));
    return true;
  }
  void on_idle_while_draining() noexcept override {}

  static Task<void> fill_some(std::shared_ptr<TunnelCore> core, std::size_t want, std::coroutine_handle<> h) {
    std::error_code ec;
    for (;;) {
      auto* self = static_cast<ClientTunnel*>(core->owner);
      if (self == nullptr) co_return;  // gone: nobody waits
      std::string& got = core->inbox.body_buffer();
      if (!got.empty()) {
        self->input_.append(got);
        got.clear();
      }
      if (self->input_.size() >= want) break;
      if (self->closed_) {
        ec = transport::errc::cancelled;
        break;
      }
      if (core->stream.body_done()) {
        ec = transport::errc::eof;
        break;
      }
      const auto timeout = self->read_timeout_;
      ec = co_await core->stream.read_body(timeout > Duration::zero() ? Clock::now() + timeout : Clock::time_point::max());
      if (ec) {
        ec = tunnel_error(ec);
        break;
      }
    }
    auto* self = static_cast<ClientTunnel*>(core->owner);
    if (self == nullptr) co_return;
    --self->pending_;
    self->fill_error_ = self->closed_ && ec ? std::error_code(transport::errc::cancelled) : ec;
    resume_later(h);
  }

  static Task<void> flush_all(std::shared_ptr<TunnelCore> core, std::coroutine_handle<> h) {
    std::error_code ec;
    for (;;) {
      auto* self = static_cast<ClientTunnel*>(core->owner);
      if (self == nullptr) co_return;
      if (self->output_.empty()) break;
      std::string_view piece = self->output_.segment(0);
      const auto timeout = self->write_timeout_;
      ec = co_await core->stream.write(piece, timeout > Duration::zero() ? Clock::now() + timeout : Clock::time_point::max());
      if (ec) {
        ec = tunnel_error(ec);
        break;
      }
      if (core->owner == nullptr) co_return;
      self->output_.skip(piece.size());
    }
    auto* self = static_cast<ClientTunnel*>(core->owner);
    if (self == nullptr) co_return;
    self->output_.release();
    --self->pending_;
    self->flush_error_ = self->closed_ && ec ? std::error_code(transport::errc::cancelled) : ec;
    resume_later(h);
  }

  std::shared_ptr<TunnelCore> core_;
  std::string peer_;
  std::string local_;
  std::string protocol_;
  int pending_ = 0;  // fills and flushes not completed
  bool closed_ = false;
};

}  // namespace

Task<Result<std::unique_ptr<transport::Connection>>> Http2ClientConnection::open_tunnel(Request request, Response& response,
                                                                                     Http2RequestInfo info,
                                                                                     Clock::time_point deadline) {
  if (auto ec = co_await wait_for_settings(deadline)) co_return ec;
  if (auto ec = co_await wait_for_slot(deadline)) co_return ec;
  info.streamed_body = true;
  info.content_length = -1;
  if (info.connect_protocol.empty()) info.connect_protocol = request.connect_protocol();
  std::string protocol(info.connect_protocol);
  auto core = std::make_shared<TunnelCore>();
  Result<Http2Stream> opened = open(request, core->inbox, info);
  if (!opened) co_return opened.error();
  core->stream = std::move(*opened);
  std::error_code ec = co_await core->stream.read_head(deadline);
  response.clear();
  if (ec) co_return ec;
  response.set_status(core->inbox.status());
  for (const auto& f : core->inbox.headers()) response.headers().add_parsed(f.name, f.value);
  if (core->inbox.status() < 200 || core->inbox.status() > 299) {
    if (auto ec2 = co_await core->stream.read_all(deadline)) co_return ec2;
    response.set_body(core->inbox.body());
    co_return std::unique_ptr<transport::Connection>{};
  }
  co_return std::unique_ptr<transport::Connection>(
      new ClientTunnel(std::move(core), peer_address(), local_address(), std::move(protocol)));
}

}  // namespace khz
