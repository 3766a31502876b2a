// SPDX-License-Identifier: Apache-2.0
// The threshold, the sink registry and the path of one line to the sinks.
#include <khz/common/log.h>
#include <khz/common/log_context.h>
#include <khz/common/log_sink.h>
#include <khz/common/trace_ambient.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace khz::log {

namespace detail {
constinit std::atomic<int> effective_level{static_cast<int>(Level::info)};
}  // namespace detail

namespace {

Level level_from_env() noexcept {
  const char* v = std::getenv("KHZ_LOG_LEVEL");
  if (v == nullptr) return Level::info;
  std::string_view s(v);
  if (s == "trace") return Level::trace;
  if (s == "debug") return Level::debug;
  if (s == "warn") return Level::warn;
  if (s == "error") return Level::error;
  if (s == "off") return Level::off;
  return Level::info;
}

struct SinkEntry {
  SinkId id;
  Level level;
  std::shared_ptr<Sink> sink;
};
using SinkList = std::vector<SinkEntry>;

void flush_at_exit() noexcept { flush(); }

// Never destroyed: lines may be written during static destruction and from threads that
// outlive main().
struct Registry {
  Registry() {
    auto initial = std::make_shared<SinkList>();
    initial->push_back(SinkEntry{standard_error_sink, Level::trace, text_sink(STDERR_FILENO)});
    sinks.store(std::move(initial));
    threshold.store(level_from_env(), std::memory_order_relaxed);
    update_effective(*sinks.load());
    std::atexit(&flush_at_exit);
  }

  // Under `mutex`, or before the registry is shared.
  void update_effective(const SinkList& list) noexcept {
    int lowest = static_cast<int>(Level::off);
    for (const SinkEntry& e : list) lowest = std::min(lowest, static_cast<int>(e.level));
    const int gate = std::max(lowest, static_cast<int>(threshold.load(std::memory_order_relaxed)));
    detail::effective_level.store(gate, std::memory_order_relaxed);
  }

  std::mutex mutex;  // serializes changes; writers of lines only load `sinks`
  std::atomic<std::shared_ptr<const SinkList>> sinks;
  std::atomic<Level> threshold{Level::info};
  SinkId next_id = standard_error_sink + 1;
  std::atomic<ContextProvider> provider{nullptr};
};

Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

// Reads KHZ_LOG_LEVEL before main() (and before any line: enabled() sees it at once).
[[maybe_unused]] const bool registry_ready = (registry(), true);

// Per thread and nesting depth (a sink, a provider or a message's operator<< may log).
struct Scratch {
  ContextFields extra;
  std::vector<Field> all;
};
constexpr int kMaxDepth = 3;
thread_local int depth = 0;

struct DepthGuard {
  DepthGuard() noexcept { ++depth; }
  ~DepthGuard() { --depth; }
};

}  // namespace

std::string_view to_string(Level level) noexcept {
  switch (level) {
    case Level::trace: return "trace";
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    case Level::off: return "off";
  }
  return "off";
}

void set_level(Level l) noexcept {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.threshold.store(l, std::memory_order_relaxed);
  r.update_effective(*r.sinks.load());
}

Level level() noexcept { return registry().threshold.load(std::memory_order_relaxed); }

SinkId add_sink(std::shared_ptr<Sink> sink, Level level) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto list = std::make_shared<SinkList>(*r.sinks.load());
  const SinkId id = r.next_id++;
  list->push_back(SinkEntry{id, level, std::move(sink)});
  r.update_effective(*list);
  r.sinks.store(std::move(list));
  return id;
}

bool remove_sink(SinkId id) noexcept {
  Registry& r = registry();
  std::shared_ptr<const SinkList> old;  // released after the lock: a sink's destructor may log
  {
    std::lock_guard lock(r.mutex);
    old = r.sinks.load();
    auto list = std::make_shared<SinkList>();
    for (const SinkEntry& e : *old) {
      if (e.id != id) list->push_back(e);
    }
    if (list->size() == old->size()) return false;
    r.update_effective(*list);
    r.sinks.store(std::move(list));
  }
  // Lines being written hold the old list for a moment. Wait for them (bounded: a sink's own
  // write may be what called this), so the removed sink is destroyed here rather than on a
  // thread that happened to hold the list last, a file sink's own writer thread included.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (old.use_count() > 1 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  return true;
}

bool set_sink_level(SinkId id, Level level) noexcept {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto list = std::make_shared<SinkList>(*r.sinks.load());
  auto it = std::find_if(list->begin(), list->end(), [&](const SinkEntry& e) { return e.id == id; });
  if (it == list->end()) return false;
  it->level = level;
  r.update_effective(*list);
  r.sinks.store(std::move(list));
  return true;
}

void set_context_provider(ContextProvider provider) noexcept {
  registry().provider.store(provider, std::memory_order_release);
}

ContextProvider context_provider() noexcept { return registry().provider.load(std::memory_order_acquire); }

void write(Level l, std::string_view message) noexcept { write(l, {}, message, {}); }

void write(Level l, std::string_view logger, std::string_view message, std::span<const Field> fields) noexcept {
  if (!enabled(l) || l == Level::off || depth >= kMaxDepth) return;
  Registry& r = registry();
  const std::shared_ptr<const SinkList> sinks = r.sinks.load();
  const bool wanted = std::any_of(sinks->begin(), sinks->end(), [&](const SinkEntry& e) { return l >= e.level; });
  if (!wanted) return;
  DepthGuard guard;
  thread_local std::array<Scratch, kMaxDepth> scratch;
  Scratch& s = scratch[static_cast<std::size_t>(depth - 1)];
  Record record{l, std::chrono::system_clock::now(), logger, message, fields};
  try {
    s.extra.clear();
    ScopedFields::collect(s.extra);
    // Under a traced request: its trace and span ids (<khz/common/trace_ambient.h>).
    char trace_id[32], span_id[16];
    if (tracing::current_ids(trace_id, span_id)) {
      s.extra.add("trace_id", std::string_view(trace_id, sizeof trace_id));
      s.extra.add("span_id", std::string_view(span_id, sizeof span_id));
    }
    if (depth == 1) {
      if (ContextProvider provider = r.provider.load(std::memory_order_acquire)) provider(s.extra);
    }
    if (!s.extra.empty()) {
      s.all.assign(fields.begin(), fields.end());
      const std::span<const Field> extra = s.extra.fields();
      s.all.insert(s.all.end(), extra.begin(), extra.end());
      record.fields = s.all;
    }
  } catch (...) {
    record.fields = fields;  // out of memory: the line goes out with the call's own fields
  }
  for (const SinkEntry& e : *sinks) {
    if (l >= e.level) e.sink->write(record);
  }
}

void flush() noexcept {
  const std::shared_ptr<const SinkList> sinks = registry().sinks.load();
  for (const SinkEntry& e : *sinks) e.sink->flush();
}

void assertion_failed(const char* expr, const char* file, int line) noexcept {
  std::string msg = std::string("assertion failed: ") + expr + " at " + file + ":" + std::to_string(line);
  write(Level::error, msg);
  flush();
  std::abort();
}

namespace detail {

struct MessageStream::Buffer : std::streambuf {
  std::string text;
  std::ostream os{this};
  bool in_use = false;

  void reset() {
    text.clear();
    os.clear();
    os.flags(std::ios_base::skipws | std::ios_base::dec);
    os.precision(6);
    os.width(0);
    os.fill(' ');
  }

 protected:
  int_type overflow(int_type ch) override {
    if (!traits_type::eq_int_type(ch, traits_type::eof())) text.push_back(traits_type::to_char_type(ch));
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    text.append(s, static_cast<std::size_t>(n));
    return n;
  }
};

namespace {
thread_local MessageStream::Buffer thread_buffer;
}  // namespace

MessageStream::MessageStream() noexcept : buffer_(&thread_buffer), owned_(false) {
  if (buffer_->in_use) {
    buffer_ = new MessageStream::Buffer();  // a message whose operator<< logs
    owned_ = true;
  }
  buffer_->in_use = true;
}

MessageStream::~MessageStream() {
  if (owned_) {
    delete buffer_;
    return;
  }
  buffer_->reset();
  if (buffer_->text.capacity() > 64 * 1024) std::string().swap(buffer_->text);
  buffer_->in_use = false;
}

std::ostream& MessageStream::stream() noexcept { return buffer_->os; }
std::string_view MessageStream::view() const noexcept { return buffer_->text; }

}  // namespace detail
}  // namespace khz::log
