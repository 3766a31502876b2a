// SPDX-License-Identifier: Apache-2.0
// beast-ws-bench-server: the Boost.Beast WebSocket peer for benchmark/run.sh, on one thread
// (one io_context, run() on main):
//   GET /ws          -> WebSocket upgrade; each message is echoed back with its type (text or binary)
//   GET /plaintext   -> "Hello, World!" (run.sh's readiness check, as every peer answers it)
//   anything else    -> 404
//
//   beast-ws-bench-server [--port N] [--deflate]
//
// Set up as Beast's own websocket_server_fast example sets its streams: a raw tcp::socket
// underneath (no timers), auto_fragment off (an echo leaves as one frame), one flat_buffer per
// connection reused for every message, messages up to 64 MiB. permessage-deflate is off unless
// --deflate (then offered as that example does, compression level 3): the default compares the
// raw frame path.
#include <utility>  // before Asio/Beast: GCC 12 needs std::exchange declared first

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

bool deflate = false;

// One upgraded connection; owned by the shared_ptr its pending operation holds. Used from the
// io_context's one thread only.
class EchoSession : public std::enable_shared_from_this<EchoSession> {
 public:
  explicit EchoSession(tcp::socket socket) : ws_(std::move(socket)) {}

  void start(http::request<http::string_body> request) {
    if (deflate) {
      websocket::permessage_deflate pmd;
      pmd.server_enable = true;
      pmd.compLevel = 3;
      ws_.set_option(pmd);
    }
    ws_.auto_fragment(false);
    ws_.read_message_max(64 * 1024 * 1024);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& response) { response.set(http::field::server, "beast"); }));
    ws_.async_accept(request, [self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return;  // closed (a Close handshake, a reset) or a protocol error: Beast has answered it
    ws_.text(ws_.got_text());
    ws_.async_write(buffer_.data(), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
};

// A connection before its upgrade: plain HTTP/1.1 requests until one asks for /ws.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  explicit HttpSession(tcp::socket socket) : socket_(std::move(socket)) {}

  void start() { read_request(); }

 private:
  void read_request() {
    request_ = {};
    http::async_read(socket_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();
    std::string_view target(request_.target().data(), request_.target().size());
    if (target == "/ws" && websocket::is_upgrade(request_)) {
      // Whatever the client sent after the request (nothing, in practice) is left in buffer_; a
      // client does not send frames before the 101.
      std::make_shared<EchoSession>(std::move(socket_))->start(std::move(request_));
      return;
    }
    response_.emplace();
    response_->version(request_.version());
    response_->keep_alive(request_.keep_alive());
    response_->set(http::field::server, "beast");
    if (target == "/plaintext" && request_.method() == http::verb::get) {
      response_->result(http::status::ok);
      response_->set(http::field::content_type, "text/plain");
      response_->body() = "Hello, World!";
    } else {
      response_->result(http::status::not_found);
      response_->set(http::field::content_type, "text/plain");
      response_->body() = "404 page not found";
    }
    response_->prepare_payload();
    http::async_write(socket_, *response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || !self->response_->keep_alive()) return self->close();
      self->read_request();
    });
  }

  void close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  tcp::socket socket_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  std::optional<http::response<http::string_body>> response_;
};

class Listener {
 public:
  Listener(asio::io_context& io, tcp::endpoint endpoint) : acceptor_(io) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(4096);
  }

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true));
        std::make_shared<HttpSession>(std::move(socket))->start();
      }
      accept();
    });
  }

 private:
  tcp::acceptor acceptor_;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "beast-ws-bench-server: %s\nusage: beast-ws-bench-server [--port N] [--deflate]\n", why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 8080;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--port" && i + 1 < argc) {
      char* end = nullptr;
      unsigned long value = std::strtoul(argv[++i], &end, 10);
      if (*end != '\0' || value > 65535) usage("bad port");
      port = static_cast<unsigned short>(value);
    } else if (flag == "--deflate") {
      deflate = true;
    } else {
      usage(("unknown flag " + std::string(flag)).c_str());
    }
  }

  asio::io_context io(1);
  Listener listener(io, tcp::endpoint(tcp::v4(), port));
  listener.accept();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });
  io.run();
}
