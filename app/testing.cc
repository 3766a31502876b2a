// SPDX-License-Identifier: Apache-2.0
#include <khz/app/testing.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/transport/dial.h>

#include <unistd.h>

#include <memory>

namespace khz::testing {
namespace {

// Collects a streamed body instead of sending it.
class CollectingWriter final : public BodyWriter {
 public:
  explicit CollectingWriter(Response& response) : response_(response) {}
  Task<std::error_code> write(std::string_view chunk) override {
    if (!started_) {
      started_ = true;
      response_.body_buffer().clear();
    }
    response_.body_buffer().append(chunk);
    co_return std::error_code{};
  }
  bool started() const noexcept override { return started_; }

 private:
  Response& response_;
  bool started_ = false;
};

Task<void> serve_one(Engine* engine, Exchange* exchange) { co_await engine->serve(*exchange); }

// A file body (static files) read into body(), as the peer would receive it; none for HEAD.
void read_file_body(Response& response, bool head) {
  const FileBody* file = response.file_body();
  if (file == nullptr) return;
  std::string body;
  if (!head && status_allows_body(response.status())) {
    for (const FileBody::Piece& p : file->pieces) {
      body += p.head;
      std::string bytes(p.length, '\0');
      std::size_t done = 0;
      while (done < p.length) {
        ssize_t n = ::pread(file->fd, bytes.data() + done, p.length - done, static_cast<off_t>(p.offset + done));
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
      bytes.resize(done);
      body += bytes;
    }
    body += file->tail;
  }
  response.clear_file_body();
  response.set_body(body);
}

// This thread's loop: made on the first call, kept until the thread exits, so what handlers
// leave on it (a Client's pooled connections) stays valid between calls.
transport::ClientLoop& thread_loop() {
  thread_local std::unique_ptr<transport::ClientLoop> loop = transport::ClientLoop::make_on_caller("");
  return *loop;
}

}  // namespace

Response perform_request(Engine& engine, const Request& request) {
  KHZ_ASSERT(EventLoop::current() == nullptr);  // not from a handler or another loop
  Exchange exchange;
  exchange.request = request;
  exchange.peer_address = "in-process";
  CollectingWriter writer(exchange.response);
  exchange.body_writer = &writer;
  thread_loop().run([&engine, &exchange] { return serve_one(&engine, &exchange); });
  read_file_body(exchange.response, exchange.request.method() == "HEAD");
  return std::move(exchange.response);
}

Response perform_request(Engine& engine, std::string_view method, std::string_view target,
                         const std::vector<Header>& headers, std::string_view body) {
  Request request;
  request.set_method(method);
  request.set_target(target);
  bool has_host = false;
  for (const auto& h : headers) {
    request.headers().add(h.name, h.value);
    has_host = has_host || iequals(h.name, "Host");
  }
  if (!has_host) request.headers().add("Host", "localhost");
  request.set_body(body);
  return perform_request(engine, request);
}

}  // namespace khz::testing
