// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/access_log.h>

#include <khz/app/request_context.h>
#include <khz/app/server.h>
#include <khz/common/coarse_clock.h>

#include "format.h"
#include "writer.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace khz::middleware {
namespace detail {

// What AccessLog's copies and its middleware share: the layout and the writer.
struct AccessLogState {
  explicit AccessLogState(AccessLogOptions options) : format(options), writer(std::move(options)) {}
  LineFormat format;
  AccessLogWriter writer;
};

}  // namespace detail

namespace {

// The after-response hook: formats the line into a per-thread scratch buffer (kept from line
// to line), then hands it to this thread's buffer in the writer.
void log_line(RequestContext& ctx, const CompletedResponse& done, void* data) {
  auto* log = static_cast<detail::AccessLogState*>(data);
  thread_local std::string buffer;
  // The line's time to the clock's tick (a few ms, as nginx's cached time); latency is exact.
  log->writer.append(log->format.line(buffer, ctx, done, coarse_system_now()));
}

struct AccessLogMiddleware {
  std::shared_ptr<detail::AccessLogState> state;
  void operator()(RequestContext& ctx) const { ctx.after_response(&log_line, state.get()); }
};

AccessLogOptions checked(AccessLogOptions o) {
  if (o.sink.kind == AccessLogSink::Kind::file && o.sink.path.empty()) {
    throw std::invalid_argument("AccessLogSink::file: empty path");
  }
  if (o.sink.kind == AccessLogSink::Kind::callback && !o.sink.write) {
    throw std::invalid_argument("AccessLogSink::callback: no function");
  }
  if (o.flush_interval <= std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("AccessLogOptions::flush_interval: must be positive");
  }
  if (o.flush_bytes == 0 || o.max_buffer_bytes < o.flush_bytes) {
    throw std::invalid_argument("AccessLogOptions: flush_bytes must be positive and at most max_buffer_bytes");
  }
  // Header names: tokens (RFC 9110 §5.1), kept in lower case for the keys of the line.
  for (auto* list : {&o.request_headers, &o.response_headers}) {
    for (std::string& name : *list) {
      if (name.empty()) throw std::invalid_argument("AccessLogOptions: an empty header name");
      if (!is_token(name)) throw std::invalid_argument("AccessLogOptions: header name \"" + name + "\" is not a token");
      for (char& c : name) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
    }
  }
  return o;
}

}  // namespace

AccessLog::AccessLog(AccessLogOptions options)
    : state_(std::make_shared<detail::AccessLogState>(checked(std::move(options)))) {}

AccessLog::AccessLog(Server& server, AccessLogOptions options) : AccessLog(std::move(options)) {
  server.on_shutdown([state = state_] { state->writer.flush(); });
}

Handler AccessLog::middleware() const { return Handler("khz::middleware::access_log", AccessLogMiddleware{state_}); }

void AccessLog::flush() { state_->writer.flush(); }
void AccessLog::reopen() { state_->writer.reopen(); }
std::uint64_t AccessLog::dropped() const { return state_->writer.dropped(); }
std::uint64_t AccessLog::written() const { return state_->writer.written(); }

}  // namespace khz::middleware
