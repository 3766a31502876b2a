// SPDX-License-Identifier: Apache-2.0
// khz-wsload: a closed-loop WebSocket echo load generator for benchmark/run.sh.
//
//   khz-wsload [-c CONNECTIONS] [-t THREADS] [-d SECONDS] [-s BYTES] [-m DEPTH] [--text] [-n MESSAGES]
//              ws://HOST:PORT/PATH
//
// Opens CONNECTIONS (default 50) connections, makes the opening handshake on each (checking the
// 101, Sec-WebSocket-Accept, and that no extension was chosen: none is offered), then on each
// keeps DEPTH (default 1) messages of BYTES (default 64) in flight: it sends a masked binary (or
// --text) message, waits for its echo, checks its type, length and every byte, and sends the
// next, for SECONDS (default 10) or until each connection has had MESSAGES echoed. Then it
// closes each connection with a Close handshake. Echoes may come back in any fragmentation;
// pings are answered. Each message carries its sequence number in its first 16 bytes (when it
// has that many), so with DEPTH > 1 a reordered echo is caught too.
//
// Prints messages/s over the measured window, latency percentiles, every message echoed
// (including those still in flight at the deadline), errors, and its own CPU time (getrusage),
// so run.sh can show that the generator was not the bottleneck. Exit status 1 on any error:
// a failed connect or handshake, a protocol violation, a wrong echo, a close before the end.
//
// One level-triggered epoll loop per thread (default one thread), no allocation per message
// once warm: the cheapest client this side of the kernel, so the server is what the measurement
// sees. -t spreads the connections over more loops, for a machine with cores to spare for it.
#include "ws_codec.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace khz_wsload;

[[noreturn]] void usage(const std::string& why) {
  std::FILE* out = why.empty() ? stdout : stderr;
  if (!why.empty()) std::fprintf(stderr, "khz-wsload: %s\n", why.c_str());
  std::fprintf(out,
               "usage: khz-wsload [-c CONNECTIONS] [-t THREADS] [-d SECONDS] [-s BYTES] [-m DEPTH] [--text] [-n MESSAGES] "
               "ws://HOST:PORT/PATH\n"
               "  -c N        connections (default 50)\n"
               "  -t N        threads, each an epoll loop with its share of the connections (default 1)\n"
               "  -d SECONDS  how long to run (default 10; fractions allowed)\n"
               "  -s BYTES    message size (default 64)\n"
               "  -m DEPTH    messages in flight per connection (default 1)\n"
               "  --text      text messages (default binary)\n"
               "  -n N        stop each connection after N echoes (default: no limit)\n");
  std::exit(why.empty() ? 0 : 2);
}

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Options {
  int connections = 50;
  int threads = 1;
  double seconds = 10;
  std::size_t size = 64;
  std::uint64_t depth = 1;
  bool text = false;
  std::uint64_t messages = 0;  // per connection; 0: until the deadline
  std::string host, port, path, authority;
};

std::uint64_t parse_number(const char* flag, const char* text, std::uint64_t min, std::uint64_t max) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || v < min || v > max) {
    usage(std::string("bad value for ") + flag + ": " + text);
  }
  return v;
}

void parse_url(std::string_view url, Options& o) {
  if (url.substr(0, 5) != "ws://") usage("the URL must start with ws:// (no TLS)");
  url.remove_prefix(5);
  std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  o.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  o.authority = std::string(authority);
  std::size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) usage("bad IPv6 address in the URL");
    o.host = std::string(authority.substr(1, close - 1));
    o.port = close + 1 < authority.size() && authority[close + 1] == ':' ? std::string(authority.substr(close + 2)) : "80";
  } else if (colon != std::string_view::npos) {
    o.host = std::string(authority.substr(0, colon));
    o.port = std::string(authority.substr(colon + 1));
  } else {
    o.host = std::string(authority);
    o.port = "80";
  }
  if (o.host.empty() || o.port.empty()) usage("the URL needs a host");
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage("missing value for " + std::string(a));
      return argv[++i];
    };
    if (a == "-h" || a == "--help") usage("");
    else if (a == "-c") o.connections = static_cast<int>(parse_number("-c", value(), 1, 100000));
    else if (a == "-t") o.threads = static_cast<int>(parse_number("-t", value(), 1, 256));
    else if (a == "-s") o.size = parse_number("-s", value(), 0, std::uint64_t{1} << 30);
    else if (a == "-m") o.depth = parse_number("-m", value(), 1, 1024);
    else if (a == "-n") o.messages = parse_number("-n", value(), 1, ~std::uint64_t{0});
    else if (a == "--text") o.text = true;
    else if (a == "-d") {
      const char* text = value();
      char* end = nullptr;
      o.seconds = std::strtod(text, &end);
      if (end == text || *end != '\0' || !(o.seconds > 0)) usage(std::string("bad value for -d: ") + text);
    } else if (!a.empty() && a.front() == '-') usage("unknown flag " + std::string(a));
    else if (url.empty()) url = std::string(a);
    else usage("more than one URL");
  }
  if (url.empty()) usage("no URL");
  if (o.threads > o.connections) usage("more threads than connections");
  parse_url(url, o);
  return o;
}

enum class Phase { setup, running, draining };

struct Connection {
  enum class State { connecting, handshaking, open, closing, done, failed };
  int fd = -1;
  State state = State::connecting;
  std::string expected_accept;
  bool upgraded = false;  // the handshake succeeded

  std::vector<std::uint8_t> out;  // bytes not yet written: out[out_pos..)
  std::size_t out_pos = 0;
  bool want_write = false;  // EPOLLOUT is on

  std::vector<std::uint8_t> in;  // in[0..in_len): read, not yet consumed
  std::size_t in_len = 0;

  bool in_frame = false;  // inside the payload of a data frame
  FrameHeader frame;
  std::uint64_t frame_done = 0;
  bool in_message = false;  // a message started and has not had its FIN frame
  std::uint64_t message_done = 0;

  std::uint64_t sent = 0, received = 0;  // messages; sent - received are in flight
  std::vector<std::int64_t> sent_at;      // by sequence number % depth
};

class Load {
 public:
  // The connections first .. first + count - 1 (numbers for the error messages).
  Load(const Options& options, std::size_t first, std::size_t count)
      : o_(options), first_(first), rng_(std::random_device{}()) {
    conns_.resize(count);
    base_.resize(o_.size);
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // A period of 62: an echo that moves a block by a power of two comes back different.
    for (std::size_t i = 0; i < o_.size; ++i) base_[i] = static_cast<std::uint8_t>(alphabet[i % alphabet.size()]);
    latencies_.reserve(1 << 20);
  }

  ~Load() {
    for (Connection& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    if (epoll_ >= 0) close(epoll_);
  }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  // Runs this share of the load to its end; the results are then in the getters below.
  void run(const addrinfo& address) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
      fail_all_unfinished(std::string("epoll_create1: ") + std::strerror(errno));
      return;
    }
    for (std::size_t i = 0; i < conns_.size(); ++i) start_connect(i, address);

    std::int64_t setup_deadline = now_ns() + 10'000'000'000;
    std::int64_t drain_deadline = 0;
    std::vector<epoll_event> events(256);
    for (;;) {
      std::int64_t now = now_ns();
      if (phase_ == Phase::setup) {
        if (count(Connection::State::connecting) + count(Connection::State::handshaking) == 0) {
          if (count(Connection::State::open) == 0) break;
          start_running(now);
        } else if (now >= setup_deadline) {
          fail_all_unfinished("timed out connecting or in the handshake");
          break;
        }
      }
      if (phase_ == Phase::running && (now >= deadline_ || unfinished() == 0)) {
        end_ = std::min(now, deadline_);
        phase_ = Phase::draining;
        drain_deadline = now + 5'000'000'000;
        for (std::size_t i = 0; i < conns_.size(); ++i) {
          Connection& c = conns_[i];
          if (c.state == Connection::State::open && c.sent == c.received) begin_close(i);
        }
      }
      if (phase_ == Phase::draining) {
        if (unfinished() == 0) break;
        if (now >= drain_deadline) {
          fail_all_unfinished("no echo or no Close reply within 5 s after the end");
          break;
        }
      }
      std::int64_t wake = phase_ == Phase::setup ? setup_deadline : phase_ == Phase::running ? deadline_ : drain_deadline;
      int timeout_ms = static_cast<int>(std::max<std::int64_t>(0, (wake - now + 999'999) / 1'000'000));
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_all_unfinished(std::string("epoll_wait: ") + std::strerror(errno));
        break;
      }
      for (int k = 0; k < n; ++k) on_event(events[k].data.u32, events[k].events);
    }
    if (end_ == 0) end_ = now_ns();
  }

  std::uint64_t counted() const { return counted_; }  // echoed within the measured window
  std::uint64_t total() const { return total_; }      // echoed at all
  std::uint64_t errors() const { return errors_; }
  const std::vector<std::string>& error_messages() const { return messages_; }  // the first ten
  std::vector<std::uint32_t>& latencies() { return latencies_; }
  double seconds() const { return start_ != 0 ? static_cast<double>(end_ - start_) / 1e9 : 0; }
  std::size_t upgraded() const {
    return static_cast<std::size_t>(std::count_if(conns_.begin(), conns_.end(), [](const Connection& c) { return c.upgraded; }));
  }
  std::size_t closed_cleanly() const { return count(Connection::State::done); }

 private:

  std::size_t count(Connection::State s) const {
    return static_cast<std::size_t>(std::count_if(conns_.begin(), conns_.end(), [s](const Connection& c) { return c.state == s; }));
  }
  std::size_t unfinished() const {
    return conns_.size() - count(Connection::State::done) - count(Connection::State::failed);
  }

  void start_connect(std::size_t i, const addrinfo& a) {
    Connection& c = conns_[i];
    c.in.resize(64 * 1024 + 256);
    c.sent_at.resize(o_.depth);
    c.fd = socket(a.ai_family, a.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a.ai_protocol);
    if (c.fd < 0) return fail(i, std::string("socket: ") + std::strerror(errno));
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c.fd, a.ai_addr, a.ai_addrlen) != 0 && errno != EINPROGRESS) {
      return fail(i, std::string("connect: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
    c.want_write = true;
  }

  void set_write_interest(std::size_t i, bool on) {
    Connection& c = conns_[i];
    if (c.want_write == on) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_write = on;
  }

  void fail(std::size_t i, std::string why) {
    Connection& c = conns_[i];
    if (c.state == Connection::State::failed || c.state == Connection::State::done) return;
    ++errors_;
    if (messages_.size() < 10) messages_.push_back("connection " + std::to_string(first_ + i) + ": " + why);
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    c.state = Connection::State::failed;
  }

  void fail_all_unfinished(const std::string& why) {
    for (std::size_t i = 0; i < conns_.size(); ++i) fail(i, why);
  }

  void finish(std::size_t i) {
    Connection& c = conns_[i];
    close(c.fd);
    c.fd = -1;
    c.state = Connection::State::done;
  }

  void start_running(std::int64_t now) {
    phase_ = Phase::running;
    start_ = now;
    deadline_ = now + static_cast<std::int64_t>(o_.seconds * 1e9);
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      for (std::uint64_t k = 0; k < o_.depth && conns_[i].state == Connection::State::open; ++k) {
        if (o_.messages != 0 && conns_[i].sent >= o_.messages) break;
        send_message(i, now);
      }
    }
  }

  // Appends one masked frame to the connection's output.
  void append_frame(Connection& c, Opcode op, const std::uint8_t* payload, std::size_t n) {
    MaskKey mask;
    std::uint32_t bits = static_cast<std::uint32_t>(rng_());
    std::memcpy(mask.data(), &bits, 4);
    std::size_t at = c.out.size();
    c.out.resize(at + max_client_header + n);
    std::size_t header = write_client_header(c.out.data() + at, op, true, n, mask);
    if (n != 0) std::memcpy(c.out.data() + at + header, payload, n);
    apply_mask(c.out.data() + at + header, n, mask, 0);
    c.out.resize(at + header + n);
  }

  // The sequence number as 16 hex digits: the first bytes of each message of 16 bytes or more.
  static void stamp(std::uint64_t seq, char* out) {
    static constexpr char hex[] = "0123456789abcdef";
    for (int k = 15; k >= 0; --k, seq >>= 4) out[k] = hex[seq & 0xF];
  }

  void send_message(std::size_t i, std::int64_t now) {
    Connection& c = conns_[i];
    MaskKey mask;
    std::uint32_t bits = static_cast<std::uint32_t>(rng_());
    std::memcpy(mask.data(), &bits, 4);
    std::size_t at = c.out.size();
    c.out.resize(at + max_client_header + o_.size);
    std::uint8_t* frame = c.out.data() + at;
    std::size_t header = write_client_header(frame, o_.text ? Opcode::text : Opcode::binary, true, o_.size, mask);
    std::uint8_t* payload = frame + header;
    if (o_.size != 0) std::memcpy(payload, base_.data(), o_.size);
    if (o_.size >= 16) stamp(c.sent, reinterpret_cast<char*>(payload));
    apply_mask(payload, o_.size, mask, 0);
    c.out.resize(at + header + o_.size);
    c.sent_at[c.sent % o_.depth] = now;
    ++c.sent;
    flush(i);
  }

  void begin_close(std::size_t i) {
    Connection& c = conns_[i];
    static constexpr std::uint8_t normal[2] = {0x03, 0xE8};  // 1000, normal closure
    append_frame(c, Opcode::close, normal, sizeof normal);
    c.state = Connection::State::closing;
    flush(i);
  }

  void flush(std::size_t i) {
    Connection& c = conns_[i];
    if (c.fd < 0) return;
    while (c.out_pos < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return set_write_interest(i, true);
        if (errno == EINTR) continue;
        return fail(i, std::string("write: ") + std::strerror(errno));
      }
      c.out_pos += static_cast<std::size_t>(n);
    }
    c.out.clear();
    c.out_pos = 0;
    set_write_interest(i, false);
  }

  void on_event(std::uint32_t i, std::uint32_t events) {
    Connection& c = conns_[i];
    if (c.fd < 0) return;
    if (c.state == Connection::State::connecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return fail(i, std::string("connect: ") + std::strerror(err));
      std::string key = new_key();
      c.expected_accept = accept_key(key);
      std::string request = handshake_request(o_.authority, o_.path, key);
      c.out.assign(request.begin(), request.end());
      c.state = Connection::State::handshaking;
      flush(i);
      return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(i);
    if (c.fd >= 0 && (events & EPOLLOUT)) flush(i);
  }

  void on_readable(std::size_t i) {
    Connection& c = conns_[i];
    for (;;) {
      if (c.in_len == c.in.size()) return fail(i, "read buffer full (a handshake response head over 64 KiB?)");
      ssize_t n = recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        return fail(i, std::string("read: ") + std::strerror(errno));
      }
      if (n == 0) {
        if (c.state == Connection::State::closing) return fail(i, "the server closed the TCP connection without answering Close");
        if (c.state == Connection::State::handshaking) return fail(i, "the server closed the connection during the handshake");
        return fail(i, "the server closed the TCP connection in the middle of the run");
      }
      c.in_len += static_cast<std::size_t>(n);
      if (c.state == Connection::State::handshaking && !on_handshake_bytes(i)) return;
      if (c.state == Connection::State::open || c.state == Connection::State::closing) {
        if (!on_frame_bytes(i)) return;
      }
      if (c.fd < 0) return;
      if (static_cast<std::size_t>(n) < 16 * 1024) return;  // likely drained; level-triggered epoll says if not
    }
  }

  // The handshake response head; false when the connection failed.
  bool on_handshake_bytes(std::size_t i) {
    Connection& c = conns_[i];
    std::string_view seen(reinterpret_cast<const char*>(c.in.data()), c.in_len);
    std::size_t end = seen.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (c.in_len > 16 * 1024) {
        fail(i, "handshake response head longer than 16 KiB");
        return false;
      }
      return true;
    }
    std::string why = check_handshake_response(seen.substr(0, end + 4), c.expected_accept);
    if (!why.empty()) {
      fail(i, "handshake: " + why);
      return false;
    }
    std::size_t head = end + 4;
    std::memmove(c.in.data(), c.in.data() + head, c.in_len - head);  // frames sent right after the 101
    c.in_len -= head;
    c.state = Connection::State::open;
    c.upgraded = true;
    return true;
  }

  // Where data (the next n bytes of the echo being read) first differs from what was sent, as an
  // offset in the message; npos when it does not.
  std::size_t first_difference(const Connection& c, const std::uint8_t* data, std::size_t n) const {
    std::uint64_t offset = c.message_done;
    char expected_stamp[16];
    if (o_.size >= 16 && offset < 16) stamp(c.received, expected_stamp);
    std::size_t k = 0;
    for (; k < n && o_.size >= 16 && offset + k < 16; ++k) {
      if (data[k] != static_cast<std::uint8_t>(expected_stamp[offset + k])) return offset + k;
    }
    if (std::memcmp(data + k, base_.data() + offset + k, n - k) == 0) return std::string::npos;
    while (data[k] == base_[offset + k]) ++k;
    return offset + k;
  }

  // Consumes the frames in c.in; false when the connection failed or finished.
  bool on_frame_bytes(std::size_t i) {
    Connection& c = conns_[i];
    std::size_t pos = 0;
    auto bad = [&](const std::string& why) {
      fail(i, why);
      return false;
    };
    const Opcode expected = o_.text ? Opcode::text : Opcode::binary;
    for (;;) {
      if (!c.in_frame) {
        HeaderParse h = parse_server_header({c.in.data() + pos, c.in_len - pos});
        if (h.status == HeaderParse::need_more) break;
        if (h.status == HeaderParse::error) return bad(std::string("protocol error: ") + h.why);
        const FrameHeader& f = h.header;
        if (f.masked) return bad("protocol error: a masked frame from the server (RFC 6455 5.1)");
        if (f.rsv != 0) return bad("protocol error: RSV bits set, and no extension was negotiated");
        if (is_control(f.opcode)) {
          if (c.in_len - pos < f.size + f.length) break;
          const std::uint8_t* payload = c.in.data() + pos + f.size;
          pos += f.size + f.length;
          if (f.opcode == Opcode::ping) {
            append_frame(c, Opcode::pong, payload, f.length);
            flush(i);
            if (c.fd < 0) return false;
          } else if (f.opcode == Opcode::close) {
            if (c.state == Connection::State::closing) {
              finish(i);
              return false;
            }
            std::string why = "the server sent Close";
            if (f.length >= 2) {
              why += " (code " + std::to_string(payload[0] << 8 | payload[1]);
              if (f.length > 2) why += ": " + std::string(reinterpret_cast<const char*>(payload) + 2, f.length - 2);
              why += ")";
            }
            return bad(why + " in the middle of the run");
          }
          continue;  // a pong: nothing to do
        }
        if (f.opcode == Opcode::continuation) {
          if (!c.in_message) return bad("protocol error: a continuation frame with no message started");
        } else {
          if (c.in_message) return bad("protocol error: a new message before the previous one's FIN");
          if (c.sent == c.received) return bad("a message that echoes nothing sent");
          if (f.opcode != expected) {
            return bad(std::string("the echo is ") + (f.opcode == Opcode::text ? "text" : "binary") + ", the message was " +
                       (o_.text ? "text" : "binary"));
          }
          c.in_message = true;
          c.message_done = 0;
        }
        if (c.message_done + f.length > o_.size) {
          return bad("the echo is longer than the " + std::to_string(o_.size) + "-byte message sent");
        }
        c.frame = f;
        c.frame_done = 0;
        c.in_frame = true;
        pos += f.size;
      }
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(c.frame.length - c.frame_done, c.in_len - pos));
      if (n != 0) {
        if (std::size_t at = first_difference(c, c.in.data() + pos, n); at != std::string::npos) {
          return bad("the echo of message " + std::to_string(c.received + 1) + " differs from it at byte " +
                     std::to_string(at));
        }
        pos += n;
        c.frame_done += n;
        c.message_done += n;
      }
      if (c.frame_done < c.frame.length) break;
      c.in_frame = false;
      if (c.frame.fin) {
        if (c.message_done != o_.size) {
          return bad("the echo has " + std::to_string(c.message_done) + " bytes, the message " + std::to_string(o_.size));
        }
        c.in_message = false;
        on_echo(i);
        if (c.fd < 0) return false;
      }
    }
    std::memmove(c.in.data(), c.in.data() + pos, c.in_len - pos);
    c.in_len -= pos;
    return true;
  }

  void on_echo(std::size_t i) {
    Connection& c = conns_[i];
    std::int64_t now = now_ns();
    std::int64_t latency = now - c.sent_at[c.received % o_.depth];
    ++c.received;
    ++total_;
    if (phase_ == Phase::running && now < deadline_) {
      ++counted_;
      latencies_.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(latency, UINT32_MAX)));
      if (o_.messages == 0 || c.sent < o_.messages) return send_message(i, now);
    }
    if (c.sent == c.received && c.state == Connection::State::open &&
        (phase_ == Phase::draining || (o_.messages != 0 && c.received >= o_.messages) || now >= deadline_)) {
      begin_close(i);
    }
  }

  const Options& o_;
  std::size_t first_;
  std::mt19937 rng_;
  std::vector<std::uint8_t> base_;  // every message's bytes, but for the sequence stamp
  std::vector<Connection> conns_;
  int epoll_ = -1;
  Phase phase_ = Phase::setup;
  std::int64_t start_ = 0, deadline_ = 0, end_ = 0;
  std::uint64_t counted_ = 0, total_ = 0, errors_ = 0;
  std::vector<std::string> messages_;
  std::vector<std::uint32_t> latencies_;  // ns, of the counted messages
};

double percentile_us(std::vector<std::uint32_t>& ns, double p) {
  if (ns.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(p * static_cast<double>(ns.size() - 1));
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
  return ns[k] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* address = nullptr;
  if (int rc = getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &address); rc != 0) {
    std::fprintf(stderr, "khz-wsload: %s:%s: %s\n", o.host.c_str(), o.port.c_str(), gai_strerror(rc));
    return 1;
  }

  // Thread k runs connections [first, first + count): an even share, the remainder to the first.
  std::vector<std::unique_ptr<Load>> loads;
  std::size_t total_connections = static_cast<std::size_t>(o.connections), threads = static_cast<std::size_t>(o.threads);
  for (std::size_t k = 0, first = 0; k < threads; ++k) {
    std::size_t count = total_connections / threads + (k < total_connections % threads ? 1 : 0);
    loads.push_back(std::make_unique<Load>(o, first, count));
    first += count;
  }
  if (loads.size() == 1) {
    loads[0]->run(*address);
  } else {
    std::vector<std::thread> workers;
    for (auto& load : loads) workers.emplace_back([&load, address] { load->run(*address); });
    for (std::thread& t : workers) t.join();
  }
  freeaddrinfo(address);

  // Each thread measured its own window (they start within milliseconds of each other): the
  // rate is the sum of theirs.
  std::uint64_t counted = 0, total = 0, errors = 0;
  std::size_t upgraded = 0, closed = 0;
  double rate = 0, seconds = 0;
  std::vector<std::string> messages;
  std::vector<std::uint32_t> latencies;
  for (auto& load : loads) {
    counted += load->counted();
    total += load->total();
    errors += load->errors();
    upgraded += load->upgraded();
    closed += load->closed_cleanly();
    if (load->seconds() > 0) rate += static_cast<double>(load->counted()) / load->seconds();
    seconds = std::max(seconds, load->seconds());
    for (const std::string& m : load->error_messages()) {
      if (messages.size() < 10) messages.push_back(m);
    }
    latencies.insert(latencies.end(), load->latencies().begin(), load->latencies().end());
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // every thread's
  double user = static_cast<double>(usage.ru_utime.tv_sec) + usage.ru_utime.tv_usec / 1e6;
  double sys = static_cast<double>(usage.ru_stime.tv_sec) + usage.ru_stime.tv_usec / 1e6;
  std::printf("khz-wsload: %d connections to ws://%s%s, %zu-byte %s messages, depth %llu, %d thread%s\n", o.connections,
              o.authority.c_str(), o.path.c_str(), o.size, o.text ? "text" : "binary",
              static_cast<unsigned long long>(o.depth), o.threads, o.threads == 1 ? "" : "s");
  std::printf("connections: %zu upgraded, %zu closed cleanly\n", upgraded, closed);
  std::printf("messages: %llu in %.3f s\n", static_cast<unsigned long long>(counted), seconds);
  double p50 = percentile_us(latencies, 0.50), p99 = percentile_us(latencies, 0.99);
  std::printf("latency p50: %.1f us, p99: %.1f us\n", p50, p99);
  std::printf("total messages: %llu\n", static_cast<unsigned long long>(total));
  std::printf("errors: %llu\n", static_cast<unsigned long long>(errors));
  for (const std::string& m : messages) std::printf("error: %s\n", m.c_str());
  if (errors > messages.size()) std::printf("error: ... and %llu more\n", static_cast<unsigned long long>(errors - messages.size()));
  std::printf("client CPU seconds: %.3f (user %.3f, sys %.3f)\n", user + sys, user, sys);
  std::printf("messages/s: %.1f\n", rate);
  return errors == 0 ? 0 : 1;
}
