// SPDX-License-Identifier: Apache-2.0
// redis_store: server-side sessions in Redis. Commands are encoded by hiredis's
// redisFormatCommand and replies parsed by its redisReader, over khz::client::open_stream on
// the calling loop (see the header's manual for why). One connection per loop; one command at a
// time on it, the others waiting their turn in order (a FIFO of suspended coroutines).
#include <khz/app/client/stream.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/middleware/session.h>

#include <hiredis/hiredis.h>

#include "record_codec.h"

#include <atomic>
#include <coroutine>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace khz::middleware {
namespace {

struct ReaderFree {
  void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
};
struct ReplyFree {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using ReaderPtr = std::unique_ptr<redisReader, ReaderFree>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

// One command, encoded.
struct Command {
  std::string bytes;
  static Command of(std::vector<std::string_view> args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (std::string_view a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* out = nullptr;
    const int n = redisFormatCommandArgv(&out, static_cast<int>(argv.size()), argv.data(), lens.data());
    if (n < 0 || out == nullptr) throw std::bad_alloc();
    Command c{std::string(out, static_cast<std::size_t>(n))};
    redisFreeCommand(out);
    return c;
  }
};

// The connection of one loop and the queue of coroutines waiting to use it. Shared by the store
// and the loop's keeper (below), so the connection is always destroyed on its own loop.
struct LoopLink {
  std::unique_ptr<transport::Connection> conn;
  ReaderPtr reader;
  bool busy = false;
  bool keeper = false;  // a keeper runs on this loop
  std::deque<std::coroutine_handle<>> waiting;
};

// Sleeps on the loop until the loop shuts down (sleep_for returns early then), and closes the
// connection there: a connection must die on its loop, before the loop does. A command still
// using it sees the close as an error and drops it itself.
Task<void> keep_until_loop_stops(std::shared_ptr<LoopLink> link) {
  constexpr auto kNap = std::chrono::minutes(10);
  for (;;) {
    const auto until = EventLoop::Clock::now() + kNap;
    co_await sleep_for(kNap);
    if (EventLoop::Clock::now() < until) break;
  }
  link->keeper = false;
  if (!link->conn) co_return;
  if (link->busy) {
    link->conn->close();
  } else {
    link->conn.reset();
    link->reader.reset();
  }
}

// Takes the loop's link for one command (FIFO); the destructor hands it to the next waiter.
class LinkTurn {
 public:
  explicit LinkTurn(LoopLink& link) noexcept : link_(link) {}
  bool await_ready() noexcept {
    if (link_.busy) return false;
    link_.busy = true;
    return true;
  }
  void await_suspend(std::coroutine_handle<> h) { link_.waiting.push_back(h); }
  void await_resume() const noexcept {}

 private:
  LoopLink& link_;
};

struct TurnRelease {
  LoopLink& link;
  ~TurnRelease() {
    if (link.waiting.empty()) {
      link.busy = false;
      return;
    }
    // busy stays true: the turn passes straight to the next waiter, resumed from the loop (not
    // inline, so a long queue never deepens the stack).
    std::coroutine_handle<> next = link.waiting.front();
    link.waiting.pop_front();
    EventLoop::current()->post([next] { next.resume(); });
  }
};

bool is_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

class RedisStore final : public SessionStore {
 public:
  explicit RedisStore(RedisStoreOptions o) : options_(std::move(o)) {}

  // Each loop's keeper holds its link, and closes its connection on the loop when the loop
  // stops; the links outlive the store until then.
  ~RedisStore() override = default;

  Task<Result<SessionRecord>> load(std::string value) override {
    if (!is_id(value)) co_return make_error_code(session_errc::malformed);
    // GCC 12 cannot take a braced list of literals inside co_await: name it first.
    std::vector<std::string> args{std::string("GET"), options_.key_prefix + value};
    auto reply = co_await run(std::move(args));
    if (!reply) co_return reply.error();
    redisReply* r = reply->get();
    if (r->type == REDIS_REPLY_NIL) co_return make_error_code(session_errc::not_found);
    if (r->type != REDIS_REPLY_STRING) co_return unexpected("GET", r);
    auto rec = detail::decode_record(std::string_view(r->str, r->len));
    if (!rec || rec->id != value) co_return make_error_code(session_errc::malformed);
    co_return std::move(*rec);
  }

  Task<Result<std::string>> save(SessionRecord record, std::chrono::seconds ttl) override {
    if (!is_id(record.id)) record.id = new_id();
    std::string payload;
    detail::encode_record(record, payload);
    std::vector<std::string> args{std::string("SET"), options_.key_prefix + record.id, std::move(payload), std::string("EX"),
                                  std::to_string(ttl.count())};
    auto reply = co_await run(std::move(args));
    if (!reply) co_return reply.error();
    if ((*reply)->type != REDIS_REPLY_STATUS) co_return unexpected("SET", reply->get());
    co_return std::move(record.id);
  }

  Task<std::error_code> erase(std::string id) override {
    if (!is_id(id)) co_return std::error_code{};
    std::vector<std::string> args{std::string("DEL"), options_.key_prefix + id};
    auto reply = co_await run(std::move(args));
    if (!reply) co_return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) co_return unexpected("DEL", reply->get());
    co_return std::error_code{};
  }

 private:
  std::error_code unexpected(const char* command, redisReply* r) const {
    if (r->type == REDIS_REPLY_ERROR) {
      KHZ_LOG(warn, "session: redis " << command << ": " << std::string_view(r->str, r->len));
    } else {
      KHZ_LOG(warn, "session: redis " << command << ": unexpected reply type " << r->type);
    }
    return make_error_code(session_errc::unavailable);
  }

  std::shared_ptr<LoopLink>& link() {
    thread_local std::pair<const RedisStore*, std::shared_ptr<LoopLink>*> cache{nullptr, nullptr};
    // The cache holds this store's link only while the same store asks from the same thread
    // (a loop is one thread); a new store at the old one's address is told apart by generation.
    thread_local std::uint64_t cached_generation = 0;
    if (cache.first == this && cached_generation == generation_) return *cache.second;
    std::lock_guard lock(mutex_);
    auto& slot = links_[EventLoop::current()];
    if (!slot) slot = std::make_shared<LoopLink>();
    cache = {this, &slot};
    cached_generation = generation_;
    return slot;
  }

  // Runs one command on this loop's connection: dials when there is none (AUTH and SELECT
  // first when set), and after a failure on a connection that had served before (Redis
  // restarted, an idle connection closed), dials once more and resends. Commands here are
  // idempotent (GET, SET, DEL), so a resend is safe.
  Task<Result<ReplyPtr>> run(std::vector<std::string> args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    const Command command = Command::of(std::move(views));
    std::shared_ptr<LoopLink> shared = link();
    LoopLink& l = *shared;
    if (!l.keeper) {
      l.keeper = true;
      spawn(keep_until_loop_stops(shared));
    }
    co_await LinkTurn(l);
    TurnRelease release{l};
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool fresh = !l.conn;
      if (fresh) {
        if (auto ec = co_await connect(l)) co_return ec;
      }
      auto reply = co_await roundtrip(l, command.bytes);
      if (reply) co_return reply;
      l.conn.reset();
      l.reader.reset();
      if (fresh) {
        KHZ_LOG(warn, "session: redis " << options_.host << ":" << options_.port << ": " << reply.error().message());
        co_return make_error_code(session_errc::unavailable);
      }
    }
    co_return make_error_code(session_errc::unavailable);
  }

  Task<std::error_code> connect(LoopLink& l) {
    auto conn = co_await client::open_stream(options_.host, options_.port,
                                             {.connect_timeout = options_.connect_timeout,
                                              .read_timeout = options_.command_timeout,
                                              .write_timeout = options_.command_timeout});
    if (!conn) {
      KHZ_LOG(warn, "session: redis " << options_.host << ":" << options_.port << ": connect: " << conn.error().message());
      co_return make_error_code(session_errc::unavailable);
    }
    l.conn = std::move(*conn);
    l.reader.reset(redisReaderCreate());
    if (!l.reader) throw std::bad_alloc();
    std::vector<std::vector<std::string>> setup;
    if (!options_.password.empty()) setup.push_back({"AUTH", options_.password});
    if (options_.db != 0) setup.push_back({"SELECT", std::to_string(options_.db)});
    for (auto& args : setup) {
      std::vector<std::string_view> views(args.begin(), args.end());
      const Command command = Command::of(std::move(views));
      auto reply = co_await roundtrip(l, command.bytes);
      if (!reply || (*reply)->type == REDIS_REPLY_ERROR) {
        KHZ_LOG(warn, "session: redis " << options_.host << ":" << options_.port << ": " << args[0] << " failed"
                                        << (reply ? ": " + std::string((*reply)->str, (*reply)->len) : ": " + reply.error().message()));
        l.conn.reset();
        l.reader.reset();
        co_return make_error_code(session_errc::unavailable);
      }
    }
    co_return std::error_code{};
  }

  // Sends `bytes` and reads one reply. Errors: the transport's (timed_out, eof, ...), or
  // malformed from a reply the reader refuses.
  static Task<Result<ReplyPtr>> roundtrip(LoopLink& l, std::string_view bytes) {
    transport::Connection& c = *l.conn;
    c.output().append(bytes);
    if (auto ec = co_await c.flush()) co_return ec;
    for (;;) {
      void* out = nullptr;
      if (redisReaderGetReply(l.reader.get(), &out) != REDIS_OK) co_return make_error_code(session_errc::malformed);
      if (out != nullptr) co_return ReplyPtr(static_cast<redisReply*>(out));
      if (auto ec = co_await c.fill(1)) co_return ec;
      bool fed = true;
      c.input().for_each_segment([&](std::string_view s) {
        if (fed && redisReaderFeed(l.reader.get(), s.data(), s.size()) != REDIS_OK) fed = false;
      });
      c.input().skip(c.input().size());
      c.input().release();
      if (!fed) co_return make_error_code(session_errc::malformed);
    }
  }

  const RedisStoreOptions options_;
  static inline std::atomic<std::uint64_t> next_generation_{1};
  const std::uint64_t generation_ = next_generation_++;
  std::mutex mutex_;
  std::unordered_map<EventLoop*, std::shared_ptr<LoopLink>> links_;
};

}  // namespace

std::shared_ptr<SessionStore> redis_store(RedisStoreOptions o) {
  if (o.host.empty()) throw std::invalid_argument("RedisStoreOptions::host: empty");
  if (o.port == 0 && o.host.rfind("unix:", 0) != 0) throw std::invalid_argument("RedisStoreOptions::port: 0");
  if (o.key_prefix.empty()) throw std::invalid_argument("RedisStoreOptions::key_prefix: empty");
  return std::make_shared<RedisStore>(std::move(o));
}

}  // namespace khz::middleware
