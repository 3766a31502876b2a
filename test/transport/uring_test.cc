// SPDX-License-Identifier: Apache-2.0
// What is particular to the uring backend (the contract and integration tests run on it like
// on every backend): the fallback when io_uring is refused, a provided-buffer ring smaller than
// the receiving connections, sends cut short (by the socket and by the iovec limit), peers
// resetting in the middle of a batch, closes racing operations in flight, an overflowing
// completion queue, receives sharing buffers, files by sendfile with a poll waiting for room,
// and a quiet loop after each.
#include <khz/transport/dial.h>
#include <khz/transport/error.h>
#include <khz/transport/transporter.h>

#include "uring/uring_transporter.h"

#include "support/idle_listener.h"
#include "support/raw_client.h"
#include "support/tls_support.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using khz::test::RawClient;
using khz::transport::Connection;

namespace {

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The loops sit still once the work is over: no completion, timer or retry keeps them turning.
void require_quiet() {
  std::this_thread::sleep_for(50ms);
  double cpu0 = cpu_seconds();
  std::this_thread::sleep_for(250ms);
  REQUIRE(cpu_seconds() - cpu0 < 0.1);
}

std::string pattern(std::size_t n, int seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + static_cast<std::size_t>(seed)) % 26);
  return s;
}

// Echoes until the peer closes. The first byte 'B' blocks the loop's thread for a while (so
// completions pile up in the kernel meanwhile).
khz::Task<> echo(Connection& conn) {
  for (;;) {
    if (co_await conn.fill(1)) co_return;
    if (conn.input().segment(0).front() == 'B') {
      std::this_thread::sleep_for(300ms);
      conn.input().skip(1);
    }
    conn.input().for_each_segment([&](std::string_view s) { conn.output().append(s); });
    conn.input().skip(conn.input().size());
    conn.input().release();
    if (conn.output().empty()) continue;
    if (co_await conn.flush()) co_return;
  }
}

// How many descriptors the process has open.
std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Reads `fd` until the peer closes (or an error).
std::string read_to_close(int fd) {
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// A client with a small receive window (the server's sends fill its socket), having sent "go".
int connect_small_window(std::uint16_t port, int rcvbuf) {
  int fd = khz::test::connect_loopback(port, rcvbuf);
  REQUIRE(::write(fd, "go", 2) == 2);
  return fd;
}

// Every connection gone, the loops quiet, then shut down.
void settle_and_stop(khz::transport::Transporter& t) {
  REQUIRE(khz::test::eventually([&] { return t.active_connections() == 0; }));
  require_quiet();
  t.shutdown(1s);
}

std::unique_ptr<khz::transport::Transporter> make(const khz::transport::UringTuning& tuning, int loops = 1) {
  auto t = khz::transport::make_uring_transporter({.address = "127.0.0.1:0", .loops = loops}, tuning);
  REQUIRE(t->name() == "uring");
  return t;
}

}  // namespace

TEST_CASE("uring: a refused io_uring falls back to netpoll with one log line") {
  ::setenv("KHZ_URING_FORCE_FAIL", "1", 1);
  std::unique_ptr<khz::transport::Transporter> t;
  std::string log;
  {
    khz::test::StderrCapture capture;
    t = khz::transport::make_transporter("uring", {.address = "127.0.0.1:0", .loops = 1});
    log = capture.text();
  }
  auto loop = khz::transport::ClientLoop::make_on_caller("uring");
  ::unsetenv("KHZ_URING_FORCE_FAIL");
  REQUIRE(t->name() == "netpoll");
  REQUIRE(log.find("uring: io_uring unavailable (KHZ_URING_FORCE_FAIL is set); using netpoll") != std::string::npos);
  REQUIRE(loop->name() == "netpoll");
  auto port = t->start(&echo);
  REQUIRE(port.ok());
  RawClient c(*port);
  c.send("still served");
  c.shutdown_write();
  REQUIRE(c.read_until_close() == "still served");
  t->shutdown(1s);
  // Unset, the same call gives the real thing.
  REQUIRE(khz::transport::make_transporter("uring", {.address = "127.0.0.1:0", .loops = 1})->name() == "uring");
}

TEST_CASE("uring: more receiving connections than provided buffers") {
  // 4 buffers of 1 KiB for 48 connections sending 16 KiB each at once: receives run dry
  // (ENOBUFS) and go again as buffers come back; every byte arrives, in order.
  auto t = make({.sq_entries = 64, .cq_entries = 256, .buffers = 4, .buffer_size = 1024});
  auto port = t->start(&echo);
  REQUIRE(port.ok());
  constexpr int kClients = 48;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<RawClient>(*port));
  for (int i = 0; i < kClients; ++i) {
    clients[i]->send(pattern(16384, i));
    clients[i]->shutdown_write();
  }
  for (int i = 0; i < kClients; ++i) REQUIRE(clients[i]->read_until_close() == pattern(16384, i));
  clients.clear();
  settle_and_stop(*t);
  // The bytes need 768 receives of at most 1 KiB. Receives that ran dry go again a few at a
  // time, as many as the ring has buffers: arming every one of them after each batch ended
  // nearly all in ENOBUFS again (about 10 times the receives needed).
  const auto starved = khz::transport::uring_stats(*t).starved_receives;
  INFO("starved receives: " << starved);
  REQUIRE(starved > 0);
  REQUIRE(starved < 2 * kClients * 16);
}

namespace {
std::string file_path;
std::atomic<int> file_flush_error{-1};

// The file send_file_twice sends: `body`, in `dir`.
void use_file(const khz::test::TempDir& dir, const std::string& body) {
  file_path = dir.path + "/file.bin";
  std::ofstream(file_path, std::ios::binary) << body;
  file_flush_error = -1;
}

// "<h>", then the file (by sendfile, waiting on the ring for room), then the file again alone.
khz::Task<> send_file_twice(Connection& conn) {
  if (co_await conn.fill(1)) co_return;
  int fd = ::open(file_path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  ::fstat(fd, &st);
  conn.output().append("<h>");
  conn.send_file(fd, 0, static_cast<std::uint64_t>(st.st_size));
  auto ec = co_await conn.flush();
  if (!ec) {
    conn.send_file(fd, 0, static_cast<std::uint64_t>(st.st_size));
    ec = co_await conn.flush();
  }
  ::close(fd);
  file_flush_error = ec.value();
}
}  // namespace

TEST_CASE("uring: a file goes out by sendfile, a poll on the ring waiting for room") {
  khz::test::TempDir dir;
  const std::string body = pattern(4 << 20, 21);
  use_file(dir, body);
  auto t = make({});
  auto port = t->start(&send_file_twice);
  REQUIRE(port.ok());
  int fd = connect_small_window(*port, 16384);
  std::this_thread::sleep_for(100ms);  // the socket fills: the flush waits for room
  std::string got = read_to_close(fd);
  ::close(fd);
  REQUIRE(got.size() == 3 + 2 * body.size());
  REQUIRE(got == "<h>" + body + body);
  REQUIRE(file_flush_error == 0);
  settle_and_stop(*t);
  REQUIRE(khz::transport::uring_stats(*t).room_waits > 0);
}

TEST_CASE("uring: small receives share provided buffers (incremental consumption)") {
  // 4 buffers of 4 KiB; the loop's thread is blocked while 64 connections send 100 bytes each:
  // the kernel completes all 64 receives meanwhile. Taken incrementally they fit in the ring
  // (6400 bytes), so none runs dry; a receive that meets a buffer's end goes on in the next.
  auto t = make({.sq_entries = 64, .cq_entries = 256, .buffers = 4, .buffer_size = 4096});
  auto port = t->start(&echo);
  REQUIRE(port.ok());
  RawClient blocker(*port);
  constexpr int kClients = 64;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<RawClient>(*port));
  REQUIRE(khz::test::eventually([&] { return t->active_connections() == kClients + 1; }));
  for (int round = 0; round < 3; ++round) {
    blocker.send("B");
    std::this_thread::sleep_for(50ms);
    for (int i = 0; i < kClients; ++i) clients[i]->send(pattern(100, i + round));
    for (int i = 0; i < kClients; ++i) REQUIRE(clients[i]->read_exactly(100) == pattern(100, i + round));
  }
  for (auto& c : clients) c->shutdown_write();
  for (auto& c : clients) REQUIRE(c->read_until_close().empty());
  blocker.shutdown_write();
  REQUIRE(blocker.read_until_close().empty());
  clients.clear();
  settle_and_stop(*t);
  const auto stats = khz::transport::uring_stats(*t);
  REQUIRE(stats.incremental_loops == 1);  // the kernel (6.12 or later) consumes them incrementally
  REQUIRE(stats.shared_buffer_receives > 0);
  REQUIRE(stats.starved_receives == 0);
}

namespace {

// Fills once at a time and answers each fill with how many bytes it brought in.
khz::Task<> fill_sizes(Connection& conn) {
  for (;;) {
    if (co_await conn.fill(1)) co_return;
    const std::string size = std::to_string(conn.input().size()) + "\n";  // a named local: GCC 12
    conn.output().append(size);
    conn.input().skip(conn.input().size());
    conn.input().release();
    if (co_await conn.flush()) co_return;
  }
}

}  // namespace

TEST_CASE("uring: a message longer than the free buffers still comes in one fill") {
  // 4 buffers of 4 KiB and a fill already waiting for a 48 KiB message: the receive runs the
  // ring dry after 16 KiB and goes on once the batch gave the buffers back. Each completion
  // says more bytes wait in the socket, so the fill waits for them (as a netpoll fill reads
  // until the socket is drained) rather than ending with the first 16 KiB.
  auto t = make({.sq_entries = 64, .cq_entries = 256, .buffers = 4, .buffer_size = 4096});
  auto port = t->start(&fill_sizes);
  REQUIRE(port.ok());
  {
    RawClient c(*port);
    for (int round = 0; round < 3; ++round) {
      std::this_thread::sleep_for(50ms);  // the fill waits first
      c.send(pattern(48 * 1024, round));
      CHECK(c.read_exactly(6) == "49152\n");
    }
    c.shutdown_write();
    REQUIRE(c.read_until_close().empty());
  }
  settle_and_stop(*t);
  REQUIRE(khz::transport::uring_stats(*t).starved_receives > 0);  // the ring did run dry
}

TEST_CASE("uring: connections ending give their buffers back") {
  // 2 buffers; 40 connections in turn send a little and end: every buffer must come back
  // (whole or, incrementally, once the kernel is done with it; one an end of stream takes too,
  // on kernels that take one), or the ring runs dry and the last connection is never read.
  for (const bool incremental : {true, false}) {
    CAPTURE(incremental);
    auto t = make({.sq_entries = 64, .cq_entries = 256, .buffers = 2, .buffer_size = 1024, .incremental = incremental});
    auto port = t->start(&echo);
    REQUIRE(port.ok());
    for (int i = 0; i < 40; ++i) {
      RawClient c(*port);
      c.send(pattern(700, i));
      c.shutdown_write();
      REQUIRE(c.read_until_close() == pattern(700, i));
    }
    RawClient last(*port, 2s);
    last.send(pattern(3000, 99));
    last.shutdown_write();
    REQUIRE(last.read_until_close() == pattern(3000, 99));
    settle_and_stop(*t);
    REQUIRE(khz::transport::uring_stats(*t).incremental_loops == (incremental ? 1u : 0u));
  }
}

namespace {
const std::string& piece() {
  static const std::string p = pattern(4096, 3);
  return p;
}
constexpr int kPieces = 300;  // more segments than one sendmsg takes (64)
std::atomic<int> many_flush_error{-1};

khz::Task<> many_segments(Connection& conn) {
  if (co_await conn.fill(1)) co_return;
  for (int i = 0; i < kPieces; ++i) conn.output().append_ref(piece());
  auto ec = co_await conn.flush();
  many_flush_error = ec.value();
}
}  // namespace

TEST_CASE("uring: short sends go on with the rest, across the iovec limit and a full socket") {
  many_flush_error = -1;
  auto t = make({});
  auto port = t->start(&many_segments);
  REQUIRE(port.ok());
  // A small receive window: the kernel takes the 1.2 MB in many short sends.
  int fd = connect_small_window(*port, 4096);
  std::string got;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
    if (got.size() < 200000) std::this_thread::sleep_for(1ms);  // slow at first: the socket fills
  }
  ::close(fd);
  REQUIRE(got.size() == piece().size() * kPieces);
  std::string want;
  for (int i = 0; i < kPieces; ++i) want += piece();
  REQUIRE(got == want);
  REQUIRE(many_flush_error == 0);
  require_quiet();
  t->shutdown(1s);
}

TEST_CASE("uring: a full socket whose peer half-closed waits for room without spinning") {
  // The client sends its request and its FIN while the reply (a file, by sendfile) fills the
  // socket. A poll on the ring always reports POLLRDHUP, so once the FIN is in, every poll for
  // room completes at once, room or not: the connection looks again after a pause instead of
  // spinning on it until the client reads.
  khz::test::TempDir dir;
  const std::string body = pattern(4 << 20, 31);
  use_file(dir, body);
  auto t = make({});
  auto port = t->start(&send_file_twice);
  REQUIRE(port.ok());
  int fd = connect_small_window(*port, 16384);
  std::this_thread::sleep_for(150ms);  // the reply fills the socket; the flush polls for room
  ::shutdown(fd, SHUT_WR);
  std::this_thread::sleep_for(50ms);
  const auto polls_before = khz::transport::uring_stats(*t).room_waits;
  std::this_thread::sleep_for(300ms);
  const auto polls = khz::transport::uring_stats(*t).room_waits - polls_before;
  std::string got = read_to_close(fd);
  ::close(fd);
  REQUIRE(got.size() == 3 + 2 * body.size());
  REQUIRE(got == "<h>" + body + body);
  REQUIRE(file_flush_error == 0);
  INFO("polls for room in 300 ms while the client did not read: " << polls);
  REQUIRE(polls < 150);  // about 40 with pauses up to 8 ms; tens of thousands when it spun
  settle_and_stop(*t);
}

TEST_CASE("uring: a send the kernel gives back with EAGAIN waits for room and goes on") {
  // The socket is non-blocking (for sendfile). An echo whose client pauses before reading
  // while it sends and then half-closes: the kernel's wait for room in a send wakes for
  // nothing often enough that it gives up and answers EAGAIN (most runs here), which is no
  // error: the flush waits for room and goes on. It had ended the flush: the echo came back
  // short (5 runs in 6 without the fix).
  auto t = make({});
  auto port = t->start(&echo);
  REQUIRE(port.ok());
  const std::string body = pattern(4 << 20, 23);
  int fd = khz::test::connect_loopback(*port, 16384);
  std::thread writer([&] {
    for (std::size_t at = 0; at < body.size();) {
      ssize_t n = ::write(fd, body.data() + at, std::min<std::size_t>(65536, body.size() - at));
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
  });
  std::this_thread::sleep_for(100ms);  // both directions fill while nobody reads
  std::string got = read_to_close(fd);
  writer.join();
  ::close(fd);
  INFO("sends answered EAGAIN: " << khz::transport::uring_stats(*t).send_retries);
  REQUIRE(got.size() == body.size());
  REQUIRE(got == body);
  settle_and_stop(*t);
}

namespace {
std::atomic<int> big_done{0};
std::atomic<int> big_failed{0};

khz::Task<> big_reply(Connection& conn) {
  if (co_await conn.fill(1)) co_return;
  static const std::string body = pattern(1 << 20, 5);
  for (int i = 0; i < 8; ++i) conn.output().append_ref(body);
  auto ec = co_await conn.flush();
  if (ec == std::errc::connection_reset || ec == std::errc::broken_pipe) ++big_failed;
  ++big_done;
}
}  // namespace

TEST_CASE("uring: peers resetting in the middle of a batch of sends") {
  big_done = 0;
  big_failed = 0;
  auto t = make({}, 2);
  auto port = t->start(&big_reply);
  REQUIRE(port.ok());
  constexpr int kClients = 24;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<RawClient>(*port));
  for (auto& c : clients) c->send("go");
  std::this_thread::sleep_for(50ms);  // every server send is in flight against a full socket
  for (auto& c : clients) {
    linger hard{1, 0};  // close with RST
    REQUIRE(::setsockopt(c->fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
  }
  clients.clear();
  REQUIRE(khz::test::eventually([&] { return big_done == kClients; }));
  REQUIRE(big_failed == kClients);
  settle_and_stop(*t);
}

namespace {
std::atomic<int> race_timeouts{0};
std::atomic<int> race_cancelled{0};

// A write deadline ends a flush to a peer that never reads while its send is in flight; a
// second flush starts while that send's cancellation is on its way; then the handler returns
// and the connection closes.
khz::Task<> flush_timeout_then_again(Connection& conn) {
  if (co_await conn.fill(1)) co_return;
  conn.set_write_timeout(30ms);
  static const std::string body = pattern(1 << 20, 9);
  for (int i = 0; i < 16; ++i) conn.output().append_ref(body);
  if (co_await conn.flush() == khz::transport::errc::timed_out) ++race_timeouts;
  conn.output().clear();
  conn.output().append("more");
  auto ec = co_await conn.flush();
  if (ec == khz::transport::errc::timed_out) ++race_timeouts;
}

// Blocked in a flush (no deadline) until the transporter closes the connection.
khz::Task<> flush_forever(Connection& conn) {
  if (co_await conn.fill(1)) co_return;
  static const std::string body = pattern(1 << 20, 11);
  for (int i = 0; i < 16; ++i) conn.output().append_ref(body);
  if (co_await conn.flush() == khz::transport::errc::cancelled) ++race_cancelled;
}
}  // namespace

TEST_CASE("uring: closes racing sends and receives in flight") {
  SECTION("a write deadline cancels the send; the connection closes behind it") {
    race_timeouts = 0;
    auto t = make({});
    auto port = t->start(&flush_timeout_then_again);
    REQUIRE(port.ok());
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < 16; ++i) clients.push_back(std::make_unique<RawClient>(*port));
    for (auto& c : clients) c->send("go");
    REQUIRE(khz::test::eventually([&] { return t->active_connections() == 0 && race_timeouts >= 16; }));
    clients.clear();
    require_quiet();
    t->shutdown(1s);
  }
  SECTION("shutdown closes connections with sends in flight") {
    race_cancelled = 0;
    auto t = make({}, 2);
    auto port = t->start(&flush_forever);
    REQUIRE(port.ok());
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < 16; ++i) clients.push_back(std::make_unique<RawClient>(*port));
    for (auto& c : clients) c->send("go");
    std::this_thread::sleep_for(50ms);
    auto start = std::chrono::steady_clock::now();
    t->shutdown(20ms);
    REQUIRE(std::chrono::steady_clock::now() - start < 1s);
    REQUIRE(race_cancelled == 16);
  }
  SECTION("a dialled connection destroyed with its receive armed and a send in flight") {
    // A listener that never accepts: the kernel completes the handshake, nobody reads.
    khz::test::IdleListener idle;
    const auto port = idle.port();
    auto loop = khz::transport::ClientLoop::make("uring");
    REQUIRE(loop->name() == "uring");
    int timed_out = 0;
    loop->run([&]() -> khz::Task<> {
      static const std::string body = pattern(1 << 20, 13);
      for (int i = 0; i < 8; ++i) {
        auto conn = co_await khz::transport::dial("127.0.0.1", port, 1s);
        if (!conn) continue;
        (*conn)->set_write_timeout(20ms);
        for (int j = 0; j < 16; ++j) (*conn)->output().append_ref(body);
        if (co_await (*conn)->flush() == khz::transport::errc::timed_out) ++timed_out;
        // Destroyed here: the send's cancellation and the receive's are still on their way.
      }
    });
    loop.reset();
    REQUIRE(timed_out == 8);
  }
  SECTION("a dial whose coroutine is destroyed while its connect is in flight") {
    // A listener whose backlog is full: the kernel drops further SYNs, so a connect waits.
    // The dial's Task is destroyed there; then the listener closes, so the SYN sent again is
    // refused and a connect nobody cancelled would complete into the destroyed frame.
    std::optional<khz::test::IdleListener> idle(std::in_place, /*fill_backlog=*/true);
    const auto port = idle->port();
    const auto open_before = open_descriptors();
    auto loop = khz::transport::ClientLoop::make("uring");
    REQUIRE(loop->name() == "uring");
    bool was_pending = false;
    loop->run([&]() -> khz::Task<> {
      {
        auto pending = khz::transport::dial("127.0.0.1", port, 10s);
        pending.handle().resume();  // runs to the connect's wait
        was_pending = !pending.done();
      }  // destroyed, suspended at the connect
      idle->close_listener();
      co_await khz::sleep_for(1500ms);  // past the SYN's first retransmission (1 s)
    });
    loop.reset();
    idle.reset();
    REQUIRE(was_pending);
    // the listener and its fillers are closed; the dial's socket must be too
    REQUIRE(open_descriptors() <= open_before - 4);
  }
}

TEST_CASE("uring: an overflowing completion queue loses nothing") {
  // A completion queue of 8 entries; the loop's thread is blocked while 40 connections arrive
  // and send: their accepts and receives overflow the queue, the kernel keeps them (NODROP),
  // multishot operations it ended are armed again, and every byte comes back.
  auto t = make({.sq_entries = 4, .cq_entries = 8, .buffers = 64, .buffer_size = 4096});
  auto port = t->start(&echo);
  REQUIRE(port.ok());
  RawClient blocker(*port);
  blocker.send("B");
  std::this_thread::sleep_for(50ms);
  constexpr int kClients = 40;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(*port));
    clients.back()->send(pattern(100, i));
    clients.back()->shutdown_write();
  }
  for (int i = 0; i < kClients; ++i) REQUIRE(clients[i]->read_until_close() == pattern(100, i));
  blocker.shutdown_write();
  REQUIRE(blocker.read_until_close().empty());
  clients.clear();
  settle_and_stop(*t);
  REQUIRE(khz::transport::uring_stats(*t).cq_overflows > 0);
}

TEST_CASE("uring: a large stream echoed while it arrives keeps every byte in order") {
  // The receive runs ahead of a handler that is busy flushing: bytes wait aside (and the
  // receive pauses past its budget) until the next fill takes them.
  auto t = make({.sq_entries = 64, .cq_entries = 256, .buffers = 16, .buffer_size = 4096});
  auto port = t->start(&echo);
  REQUIRE(port.ok());
  const std::string body = pattern(8 << 20, 17);
  RawClient c(*port, 10s);
  std::thread writer([&] {
    for (std::size_t at = 0; at < body.size(); at += 65536) c.send(std::string_view(body).substr(at, 65536));
    c.shutdown_write();
  });
  std::string got = c.read_until_close();
  writer.join();
  REQUIRE(got.size() == body.size());
  REQUIRE(got == body);
  t->shutdown(1s);
}

TEST_CASE("uring: sockets use registered descriptors, and their descriptors once the table is full") {
  // A table of 2 slots for 6 connections open at once: 2 are registered, 4 go by descriptor,
  // all are served; slots come back as connections close.
  auto t = make({.sq_entries = 64, .cq_entries = 256, .buffers = 16, .buffer_size = 4096, .fixed_files = 2});
  auto port = t->start(&echo);
  REQUIRE(port.ok());
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(std::make_unique<RawClient>(*port));
  REQUIRE(khz::test::eventually([&] { return t->active_connections() == 6; }));
  for (int i = 0; i < 6; ++i) {
    clients[i]->send(pattern(3000, i));
    clients[i]->shutdown_write();
  }
  for (int i = 0; i < 6; ++i) REQUIRE(clients[i]->read_until_close() == pattern(3000, i));
  clients.clear();
  REQUIRE(khz::test::eventually([&] { return t->active_connections() == 0; }));
  RawClient again(*port);  // a slot freed by a close is taken again
  again.send("again");
  again.shutdown_write();
  REQUIRE(again.read_until_close() == "again");
  require_quiet();
  t->shutdown(1s);
  const auto stats = khz::transport::uring_stats(*t);
  REQUIRE(stats.registered_sockets == 3);
  REQUIRE(stats.unregistered_sockets == 4);
}
