// SPDX-License-Identifier: Apache-2.0
// beast-bench-server: the Boost.Beast peer for benchmark/run.sh. The same routes as
// khz-bench-server, on one thread (one io_context, run() on main):
//   GET /plaintext   -> "Hello, World!" (text/plain)
//   GET /json        -> {"message":"Hello, World!"}, serialised per request with RapidJSON
//   GET|POST /echo   -> the request body
//   anything else    -> 404
//
//   beast-bench-server [--port N]
//
// Keep-alive and pipelining: each connection keeps one flat_buffer for its whole life and
// parses the next request from whatever is left in it, so requests that arrived in one segment
// are answered one after the other without another read. Written the way Beast's own
// http_server_fast example is: an 8 KiB read buffer, a fresh parser per request (a parser is
// one-shot), a raw tcp::socket (no per-operation timers), and a Date header formatted once per
// second, as nginx, Go and khz also send one.
#include <utility>  // before Asio/Beast: GCC 12 needs std::exchange declared first

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// The Date header value, formatted again only when the second changes. One thread: no lock.
beast::string_view http_date() {
  static std::time_t cached_second = 0;
  static char text[64];
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    cached_second = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  }
  return text;
}

std::string json_message() {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> writer(out);
  writer.StartObject();
  writer.Key("message");
  writer.String("Hello, World!");
  writer.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

// One client connection; owned by the shared_ptr its pending operation holds. Used from the
// io_context's one thread only.
class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : socket_(std::move(socket)) {
    // Beast reads max(512, free capacity) bytes per read_some, and a body parsed straight out of
    // the buffer never makes it grow: left at its default, a 16 KiB body costs 32 reads. 8 KiB is
    // what Beast's http_server_fast example gives each connection (a flat_static_buffer<8192>).
    buffer_.reserve(8192);
  }

  void start() { read_request(); }

 private:
  void read_request() {
    parser_.emplace();
    parser_->body_limit(16 * 1024 * 1024);
    // Reads from buffer_ first: a pipelined request already buffered costs no syscall.
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();  // end_of_stream, reset or a bad request: drop the connection
    http::request<http::string_body>& request = parser_->get();
    response_.emplace();
    http::response<http::string_body>& response = *response_;
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::server, "beast");
    response.set(http::field::date, http_date());

    std::string_view target(request.target().data(), request.target().size());
    http::verb method = request.method();
    if (target == "/plaintext" && method == http::verb::get) {
      response.result(http::status::ok);
      response.set(http::field::content_type, "text/plain");
      response.body() = "Hello, World!";
    } else if (target == "/json" && method == http::verb::get) {
      response.result(http::status::ok);
      response.set(http::field::content_type, "application/json");
      response.body() = json_message();
    } else if (target == "/echo" && (method == http::verb::get || method == http::verb::post)) {
      response.result(http::status::ok);
      response.set(http::field::content_type, "application/octet-stream");
      response.body() = std::move(request.body());
    } else {
      response.result(http::status::not_found);
      response.set(http::field::content_type, "text/plain");
      response.body() = "404 page not found";
    }
    response.prepare_payload();

    http::async_write(socket_, response,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->on_write(ec);
                      });
  }

  void on_write(beast::error_code ec) {
    if (ec) return close();
    bool keep_alive = response_->keep_alive();
    response_.reset();
    if (!keep_alive) return close();
    read_request();
  }

  void close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  tcp::socket socket_;
  beast::flat_buffer buffer_;  // lives as long as the connection: holds pipelined requests
  std::optional<http::request_parser<http::string_body>> parser_;
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
        std::make_shared<Session>(std::move(socket))->start();
      }
      // EMFILE and friends: keep accepting; the connection attempt is simply refused.
      accept();
    });
  }

 private:
  tcp::acceptor acceptor_;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "beast-bench-server: %s\nusage: beast-bench-server [--port N]\n", why);
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
