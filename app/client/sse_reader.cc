// SPDX-License-Identifier: Apache-2.0
// SseReader: connect, parse, wait, reconnect with Last-Event-ID (see <khz/app/client/sse.h>).
#include <khz/app/client/client.h>
#include <khz/app/client/errors.h>
#include <khz/app/client/sse.h>
#include <khz/common/log.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include <algorithm>
#include <coroutine>
#include <optional>
#include <string_view>
#include <utility>

namespace khz {
namespace {

// The media type of a Content-Type value, parameters and surrounding whitespace dropped.
std::string_view media_type(std::string_view content_type) noexcept {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && (content_type.front() == ' ' || content_type.front() == '\t')) content_type.remove_prefix(1);
  while (!content_type.empty() && (content_type.back() == ' ' || content_type.back() == '\t')) content_type.remove_suffix(1);
  return content_type;
}

}  // namespace

// Threading: the loop of the reader's next() calls.
struct SseReader::State {
  Client* client = nullptr;
  std::string url;
  SseReaderOptions options;
  protocol::EventStreamParser parser;
  std::optional<ResponseStream> stream;
  CancellationToken token;  // the connection in use; cancelled for good when the reader stops
  std::chrono::milliseconds retry{};
  int connections = 0;
  int failures = 0;       // connection attempts and streams in a row that brought no event
  bool cancelled = false;
  std::error_code over;   // set once the reader has stopped for good
  std::error_code last_error;
  transport::LoopTimer timer;
  std::coroutine_handle<> sleeper;
  CancelSignal::Watch own_watch;      // options.cancel
  CancelSignal::Watch ambient_watch;  // the signal of the coroutine in next()

  State(Client& c, std::string u, SseReaderOptions o)
      : client(&c), url(std::move(u)), options(std::move(o)), parser(options.limits), retry(options.retry) {
    if (!options.last_event_id.empty()) {
      // The parser's id persists across reconnections: start it from the caller's.
      std::string seed = "id: " + options.last_event_id + "\n\n";
      if (options.last_event_id.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos) {
        (void)parser.feed(seed);
        parser.reset();
      }
    }
    own_watch.attach(options.cancel, &on_cancel, this);
  }

  static void on_cancel(void* self) noexcept {
    auto& s = *static_cast<State*>(self);
    s.cancelled = true;
    s.token.cancel();  // closes the connection in use (or resets the HTTP/2 stream)
    // A wait is cut short from the loop, not from inside the signal's trigger(): the resumed
    // caller may end and destroy the signal while trigger() still walks its watches.
    if (s.sleeper && !s.timer.start(std::chrono::milliseconds(0), &wake, &s)) wake(&s);
  }

  static void wake(void* self) noexcept {
    auto& s = *static_cast<State*>(self);
    s.timer.cancel();
    if (auto h = std::exchange(s.sleeper, {})) h.resume();
  }

  struct Sleep {  // the reconnection wait; cut short by cancellation
    State& s;
    std::chrono::milliseconds delay;
    bool await_ready() const noexcept { return s.cancelled || delay.count() <= 0; }
    bool await_suspend(std::coroutine_handle<> h) {
      s.sleeper = h;
      if (s.timer.start(delay, &wake, &s)) return true;
      s.sleeper = {};  // no transport loop here: the client could not run either
      return false;
    }
    void await_resume() const noexcept {}
  };

  std::chrono::milliseconds backoff() const noexcept {
    std::chrono::milliseconds cap = std::max(options.max_retry, retry);
    std::chrono::milliseconds d = retry;
    for (int i = 1; i < failures && d < cap; ++i) d *= 2;
    return std::min(d, cap);
  }

  Result<SseEvent> stop(std::error_code ec) {
    over = ec;
    stream.reset();
    token.cancel();
    return ec;
  }

  Task<Result<SseEvent>> next();
};

Task<Result<SseEvent>> SseReader::State::next() {
  CancelSignal* ambient = co_await current_cancel_signal();
  ambient_watch.attach(ambient, &on_cancel, this);
  struct Detach {
    CancelSignal::Watch& w;
    ~Detach() { w.detach(); }
  } detach{ambient_watch};
  for (;;) {
    if (over) co_return over;
    if (cancelled) co_return stop(client::errc::cancelled);
    SseEvent event;
    if (parser.next(event)) {
      failures = 0;
      co_return event;
    }
    if (!stream) {
      if (connections > 0) {
        if (options.max_reconnects >= 0 && failures > options.max_reconnects) {
          co_return stop(last_error ? last_error : std::error_code(transport::errc::eof));
        }
        std::chrono::milliseconds delay = backoff();
        KHZ_LOG(debug, "sse " << url << ": reconnecting in " << delay.count() << " ms ("
                              << (last_error ? last_error.message() : "the stream ended") << ")");
        co_await Sleep{*this, delay};
        if (cancelled) continue;
      }
      ++connections;
      ClientRequest request;
      request.url = url;
      for (const auto& f : options.headers) request.headers.add(f.name, f.value);
      request.headers.set("Accept", protocol::kEventStreamType);
      request.headers.set("Cache-Control", "no-cache");
      if (!parser.last_event_id().empty()) request.headers.set("Last-Event-ID", parser.last_event_id());
      request.cancel = token;
      auto opened = co_await client->stream(std::move(request));
      if (!opened) {
        if (cancelled) continue;
        last_error = opened.error();
        ++failures;
        continue;
      }
      const Response& head = opened->response();
      if (head.status() == 204) co_return stop(client::errc::no_content);
      if (head.status() != 200 || !iequals(media_type(head.header("Content-Type")), protocol::kEventStreamType)) {
        KHZ_LOG(debug, "sse " << url << ": status " << head.status() << ", Content-Type \""
                              << head.header("Content-Type") << "\": not an event stream");
        co_return stop(client::errc::not_event_stream);
      }
      stream.emplace(std::move(*opened));
      parser.reset();
      continue;
    }
    auto piece = co_await stream->read();
    if (!piece || piece->empty()) {
      if (cancelled) continue;
      last_error = piece ? std::error_code() : piece.error();
      stream.reset();
      ++failures;
      continue;
    }
    if (auto ec = parser.feed(*piece)) co_return stop(ec);
    if (auto r = parser.take_retry()) retry = *r;
  }
}

SseReader::SseReader(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
SseReader::SseReader(SseReader&&) noexcept = default;
SseReader& SseReader::operator=(SseReader&&) noexcept = default;
SseReader::~SseReader() = default;

Task<Result<SseEvent>> SseReader::next() { return state_->next(); }
const std::string& SseReader::last_event_id() const noexcept { return state_->parser.last_event_id(); }
std::chrono::milliseconds SseReader::retry() const noexcept { return state_->retry; }
int SseReader::connections() const noexcept { return state_->connections; }

SseReader Client::sse(std::string url, SseReaderOptions options) {
  return SseReader(std::make_unique<SseReader::State>(*this, std::move(url), std::move(options)));
}

}  // namespace khz
