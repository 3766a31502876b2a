// SPDX-License-Identifier: Apache-2.0
// khz::log: the text and JSON formats (quoting, escaping, invalid UTF-8), fields of each kind,
// named loggers, the disabled path (nothing evaluated), per-sink levels, the callback sink, the
// context provider and scoped fields, lines from many threads never interleaved, and limited
// lines (KHZ_LOG_LIMITED).
#include <khz/common/log.h>
#include <khz/common/log_context.h>
#include <khz/common/log_limiter.h>
#include <khz/common/log_sink.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

// A Record's strings, owned.
struct Captured {
  khz::log::Level level;
  system_clock::time_point time;
  std::thread::id thread;
  std::string logger;
  std::string message;
  std::string text;  // format_text of the record
};

// A callback sink collecting records while alive; the threshold is lowered to trace meanwhile
// and the standard error sink silenced (restored after).
class Capture {
 public:
  explicit Capture(khz::log::Level sink_level = khz::log::Level::trace) : previous_(khz::log::level()) {
    khz::log::set_level(khz::log::Level::trace);
    khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
    id_ = khz::log::add_sink(khz::log::callback_sink([this](const khz::log::Record& r) {
                               std::string text;
                               khz::log::format_text(text, r);
                               std::lock_guard lock(mutex_);
                               lines_.push_back(Captured{r.level, r.time, std::this_thread::get_id(),
                                                         std::string(r.logger), std::string(r.message), text});
                             }),
                             sink_level);
  }
  ~Capture() {
    khz::log::remove_sink(id_);
    khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
    khz::log::set_level(previous_);
  }
  std::vector<Captured> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  khz::log::SinkId id() const { return id_; }

 private:
  khz::log::Level previous_;
  khz::log::SinkId id_;
  std::mutex mutex_;
  std::vector<Captured> lines_;
};

// 2026-12-05T16:33:43.123Z
system_clock::time_point fixed_time() {
  return sys_days{year{2026} / 12 / 5} + 16h + 33min + 43s + 123ms;
}

// The part of a text line after the time: "INFO  message k=v\n".
std::string after_time(const std::string& line) { return line.substr(25); }

int evaluated = 0;
int count_evaluation() { return ++evaluated; }

}  // namespace

TEST_CASE("log: the text format: time, level, logger, message, fields quoted when needed") {
  using khz::log::f;
  const std::string big = "a b";
  const khz::log::Field fields[] = {
      f("id", 42),           f("neg", std::int64_t{-7}), f("big", std::numeric_limits<std::uint64_t>::max()),
      f("ratio", 0.25),      f("ok", true),              f("word", "plain"),
      f("spaced", big),      f("quote", "say \"hi\""),   f("empty", ""),
      f("eq", "a=b"),        f("ctl", "x\x01y\n"),       f("slash", "c:\\tmp"),
      f("utf8", "caf\xc3\xa9"),
  };
  khz::log::Record r{khz::log::Level::info, fixed_time(), "", "order placed", fields};
  std::string out;
  khz::log::format_text(out, r);
  REQUIRE(out ==
          "2026-12-05T16:33:43.123Z INFO  order placed id=42 neg=-7 big=18446744073709551615 ratio=0.25 ok=true "
          "word=plain spaced=\"a b\" quote=\"say \\\"hi\\\"\" empty=\"\" eq=\"a=b\" ctl=\"x\\x01y\\n\" "
          "slash=\"c:\\\\tmp\" utf8=caf\xc3\xa9\n");

  // A named logger (escaped like a key), each level's name; the message is written as given
  // (recovery's multi-line stack trace stays readable).
  khz::log::Record named{khz::log::Level::warn, fixed_time(), "http2\n", "two\nlines", {}};
  out.clear();
  khz::log::format_text(out, named);
  REQUIRE(out == "2026-12-05T16:33:43.123Z WARN  [http2\\n] two\nlines\n");
  const std::pair<khz::log::Level, const char*> names[] = {
      {khz::log::Level::trace, "TRACE "}, {khz::log::Level::debug, "DEBUG "}, {khz::log::Level::info, "INFO  "},
      {khz::log::Level::warn, "WARN  "},  {khz::log::Level::error, "ERROR "}};
  for (const auto& [level, name] : names) {
    out.clear();
    khz::log::format_text(out, khz::log::Record{level, fixed_time(), "", "m", {}});
    REQUIRE(out == std::string("2026-12-05T16:33:43.123Z ") + name + "m\n");
  }
}

TEST_CASE("log: the JSON format escapes quotes and control bytes and replaces invalid UTF-8") {
  using khz::log::f;
  const khz::log::Field fields[] = {
      f("n", -3),
      f("u", std::uint64_t{7}),
      f("x", 1.5),
      f("nan", std::numeric_limits<double>::quiet_NaN()),
      f("inf", std::numeric_limits<double>::infinity()),
      f("b", false),
      f("q", "a\"b\\c"),
      f("ctl", "\x01\x1f\n\r\t\x7f"),
      f("utf8", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),  // é € 😀 stay as they are
      f("bad", "\xff|\xc0\xaf|\xed\xa0\x80|\xe2\x82|\xf4\x90\x80\x80|\x80"),
      f("k\"ey", "v"),
  };
  khz::log::Record r{khz::log::Level::error, fixed_time(), "mw.access_log", "line \"one\"\n", fields};
  std::string out;
  khz::log::format_json(out, r);
  const std::string fffd = "\xef\xbf\xbd";
  REQUIRE(out == "{\"time\":\"2026-12-05T16:33:43.123Z\",\"level\":\"error\",\"logger\":\"mw.access_log\","
                 "\"msg\":\"line \\\"one\\\"\\n\",\"n\":-3,\"u\":7,\"x\":1.5,\"nan\":null,\"inf\":null,\"b\":false,"
                 "\"q\":\"a\\\"b\\\\c\",\"ctl\":\"\\u0001\\u001f\\n\\r\\t\\u007f\","
                 "\"utf8\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
                 "\"bad\":\"" + fffd + "|" + fffd + fffd + "|" + fffd + fffd + fffd + "|" + fffd + fffd + "|" +
                     fffd + fffd + fffd + fffd + "|" + fffd + "\",\"k\\\"ey\":\"v\"}\n");

  // No logger: no "logger" key.
  out.clear();
  khz::log::format_json(out, khz::log::Record{khz::log::Level::trace, fixed_time(), "", "m", {}});
  REQUIRE(out == "{\"time\":\"2026-12-05T16:33:43.123Z\",\"level\":\"trace\",\"msg\":\"m\"}\n");
}

TEST_CASE("log: KHZ_LOG with a stream message, fields and a logger name reaches the sinks") {
  Capture capture;
  const std::string peer = "10.0.0.7:5122";
  KHZ_LOG(warn, "closing " << peer << ": " << 42);
  KHZ_LOG(info, "order placed", khz::log::f("order_id", 1234), khz::log::f("total", 12.5),
          khz::log::f("currency", std::string("EUR")), khz::log::f("gift", false));
  KHZ_LOG_AS("transport", debug, "accepted " << 3, khz::log::f("fd", 17u));
  khz::log::write(khz::log::Level::error, "plain write");
  // The thread's reused stream starts clean each time: no leftover flags or text.
  KHZ_LOG(info, std::hex << 255);
  KHZ_LOG(info, 255);
  const auto lines = capture.lines();
  REQUIRE(lines.size() == 6);
  REQUIRE(lines[0].level == khz::log::Level::warn);
  REQUIRE(after_time(lines[0].text) == "WARN  closing 10.0.0.7:5122: 42\n");
  REQUIRE(after_time(lines[1].text) == "INFO  order placed order_id=1234 total=12.5 currency=EUR gift=false\n");
  REQUIRE(lines[2].logger == "transport");
  REQUIRE(after_time(lines[2].text) == "DEBUG [transport] accepted 3 fd=17\n");
  REQUIRE(after_time(lines[3].text) == "ERROR plain write\n");
  REQUIRE(lines[4].message == "ff");
  REQUIRE(lines[5].message == "255");
  // The record's time is the call's.
  REQUIRE(system_clock::now() - lines[0].time < 10s);
}

TEST_CASE("log: below the threshold nothing is evaluated; the lowest sink level counts too") {
  Capture capture(khz::log::Level::info);
  evaluated = 0;
  khz::log::set_level(khz::log::Level::warn);
  KHZ_LOG(info, "m " << count_evaluation(), khz::log::f("n", count_evaluation()));
  REQUIRE(evaluated == 0);
  REQUIRE_FALSE(khz::log::enabled(khz::log::Level::info));
  KHZ_LOG(warn, "m " << count_evaluation(), khz::log::f("n", count_evaluation()));
  REQUIRE(evaluated == 2);

  // Threshold at trace, but every sink at info or above: a debug line is not even formatted.
  khz::log::set_level(khz::log::Level::trace);
  REQUIRE_FALSE(khz::log::enabled(khz::log::Level::debug));
  KHZ_LOG(debug, "m " << count_evaluation());
  REQUIRE(evaluated == 2);
  REQUIRE(khz::log::enabled(khz::log::Level::info));
  khz::log::set_sink_level(capture.id(), khz::log::Level::trace);
  REQUIRE(khz::log::enabled(khz::log::Level::trace));
  KHZ_LOG(trace, "m " << count_evaluation());
  REQUIRE(evaluated == 3);
  REQUIRE(capture.lines().size() == 2);

  khz::log::set_level(khz::log::Level::off);
  KHZ_LOG(error, "m " << count_evaluation());
  REQUIRE(evaluated == 3);
}

TEST_CASE("log: each sink has its own level") {
  Capture all(khz::log::Level::trace);
  Capture errors(khz::log::Level::error);
  KHZ_LOG(debug, "d");
  KHZ_LOG(info, "i");
  KHZ_LOG(error, "e");
  REQUIRE(all.lines().size() == 3);
  const auto e = errors.lines();
  REQUIRE(e.size() == 1);
  REQUIRE(e[0].message == "e");
  REQUIRE(khz::log::set_sink_level(errors.id(), khz::log::Level::off));
  KHZ_LOG(error, "e2");
  REQUIRE(errors.lines().size() == 1);
  REQUIRE(all.lines().size() == 4);
  REQUIRE_FALSE(khz::log::set_sink_level(987654, khz::log::Level::info));
  REQUIRE_FALSE(khz::log::remove_sink(987654));
}

TEST_CASE("log: the callback sink gets level, time, logger, message and fields") {
  std::vector<std::string> seen;
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
  const auto previous = khz::log::level();
  khz::log::set_level(khz::log::Level::info);
  const auto before = system_clock::now();
  const auto id = khz::log::add_sink(khz::log::callback_sink([&](const khz::log::Record& r) {
    std::ostringstream s;
    s << khz::log::to_string(r.level) << '|' << r.logger << '|' << r.message << '|' << (r.time >= before);
    for (const auto& field : r.fields) {
      s << '|' << field.key << ':';
      switch (field.kind) {
        case khz::log::Field::Kind::string: s << "s=" << field.text; break;
        case khz::log::Field::Kind::int64: s << "i=" << field.int64; break;
        case khz::log::Field::Kind::uint64: s << "u=" << field.uint64; break;
        case khz::log::Field::Kind::float64: s << "d=" << field.float64; break;
        case khz::log::Field::Kind::boolean: s << "b=" << field.boolean; break;
      }
    }
    seen.push_back(s.str());
  }));
  enum class Color : std::uint8_t { red = 3 };
  KHZ_LOG_AS("client", warn, "retry", khz::log::f("attempt", 2), khz::log::f("host", "a.test"),
             khz::log::f("size", std::size_t{9}), khz::log::f("jitter", 0.5), khz::log::f("last", true),
             khz::log::f("color", Color::red));
  KHZ_LOG(debug, "below the threshold");
  khz::log::remove_sink(id);
  KHZ_LOG(warn, "after removal");
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
  khz::log::set_level(previous);
  REQUIRE(seen == std::vector<std::string>{
                      "warn|client|retry|1|attempt:i=2|host:s=a.test|size:u=9|jitter:d=0.5|last:b=1|color:u=3"});
  REQUIRE_THROWS_AS(khz::log::callback_sink({}), std::invalid_argument);
}

namespace {
thread_local const char* current_request = nullptr;
int provider_calls = 0;
void test_provider(khz::log::ContextFields& out) noexcept {
  ++provider_calls;
  if (current_request == nullptr) return;
  out.add("trace_id", std::string_view("4bf92f3577b34da6a3ce929d0e0e4736"));
  out.add("span_id", current_request);
}
void logging_provider(khz::log::ContextFields& out) noexcept {
  KHZ_LOG(info, "from the provider");  // written, but without calling the provider again
  out.add("depth", 1);
}
}  // namespace

TEST_CASE("log: the context provider adds fields on the writing thread, after the call's") {
  Capture capture;
  provider_calls = 0;
  khz::log::set_context_provider(&test_provider);
  REQUIRE(khz::log::context_provider() == &test_provider);
  KHZ_LOG(info, "outside any request");
  current_request = "00f067aa0ba902b7";
  KHZ_LOG(info, "in a request", khz::log::f("user", "ann"));
  std::thread other([] { KHZ_LOG(info, "another thread"); });  // its current_request is null
  other.join();
  KHZ_LOG(debug, "again");
  current_request = nullptr;
  khz::log::set_level(khz::log::Level::warn);
  KHZ_LOG(info, "below the threshold: the provider is not called");
  khz::log::set_level(khz::log::Level::trace);
  khz::log::set_context_provider(&logging_provider);
  KHZ_LOG(info, "outer");
  khz::log::set_context_provider(nullptr);
  KHZ_LOG(info, "no provider");
  const auto lines = capture.lines();
  REQUIRE(lines.size() == 7);
  REQUIRE(after_time(lines[0].text) == "INFO  outside any request\n");
  REQUIRE(after_time(lines[1].text) ==
          "INFO  in a request user=ann trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7\n");
  REQUIRE(after_time(lines[2].text) == "INFO  another thread\n");
  REQUIRE(after_time(lines[3].text) ==
          "DEBUG again trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7\n");
  REQUIRE(provider_calls == 4);
  REQUIRE(after_time(lines[4].text) == "INFO  from the provider\n");
  REQUIRE(after_time(lines[5].text) == "INFO  outer depth=1\n");
  REQUIRE(after_time(lines[6].text) == "INFO  no provider\n");
}

TEST_CASE("log: ScopedFields add their fields to the lines written in their scope, on their thread") {
  Capture capture;
  {
    khz::log::ScopedFields request({khz::log::f("request_id", std::string("5f0c") + "e1"), khz::log::f("n", 1)});
    KHZ_LOG(info, "one", khz::log::f("k", "v"));
    {
      khz::log::ScopedFields inner({khz::log::f("step", "charge")});
      KHZ_LOG(info, "two");
      std::thread other([] { KHZ_LOG(info, "elsewhere"); });
      other.join();
    }
    KHZ_LOG(info, "three");
  }
  KHZ_LOG(info, "four");
  {
    // Ended out of order (a moved-about object): each unlinks itself.
    auto* a = new khz::log::ScopedFields({khz::log::f("a", 1)});
    auto* b = new khz::log::ScopedFields({khz::log::f("b", 2)});
    delete a;
    KHZ_LOG(info, "five");
    delete b;
  }
  KHZ_LOG(info, "six");
  const auto lines = capture.lines();
  REQUIRE(lines.size() == 7);
  REQUIRE(after_time(lines[0].text) == "INFO  one k=v request_id=5f0ce1 n=1\n");
  REQUIRE(after_time(lines[1].text) == "INFO  two request_id=5f0ce1 n=1 step=charge\n");
  REQUIRE(after_time(lines[2].text) == "INFO  elsewhere\n");
  REQUIRE(after_time(lines[3].text) == "INFO  three request_id=5f0ce1 n=1\n");
  REQUIRE(after_time(lines[4].text) == "INFO  four\n");
  REQUIRE(after_time(lines[5].text) == "INFO  five b=2\n");
  REQUIRE(after_time(lines[6].text) == "INFO  six\n");
}

TEST_CASE("log: a sink that logs from write() does not recurse forever") {
  Capture capture;
  int calls = 0;
  const auto id = khz::log::add_sink(khz::log::callback_sink([&](const khz::log::Record&) {
    ++calls;
    KHZ_LOG(info, "nested");
  }));
  KHZ_LOG(info, "top");
  khz::log::remove_sink(id);
  REQUIRE(calls == 3);  // top, nested, nested-nested; then the depth limit stops it
  REQUIRE(capture.lines().size() == 3);
}

TEST_CASE("log: lines from many threads to a text sink are whole, never interleaved") {
  char path[] = "/tmp/khz-log-text-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  Capture quiet(khz::log::Level::off);
  const auto id = khz::log::add_sink(khz::log::text_sink(fd));
  constexpr int kThreads = 8;
  constexpr int kLines = 2000;
  const std::string padding(200, 'p');
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLines; ++i) {
        KHZ_LOG(info, "mt " << padding, khz::log::f("t", t), khz::log::f("i", i));
      }
    });
  }
  for (auto& th : threads) th.join();
  khz::log::remove_sink(id);
  ::close(fd);
  std::ifstream in(path);
  std::string line;
  std::vector<int> next(kThreads, 0);
  int count = 0;
  while (std::getline(in, line)) {
    ++count;
    const std::string prefix = " INFO  mt " + padding + " t=";
    REQUIRE(line.find(prefix) == 24);
    int t = -1, i = -1;
    const std::string rest = line.substr(24 + prefix.size());
    REQUIRE(std::sscanf(rest.c_str(), "%d i=%d", &t, &i) == 2);
    REQUIRE(rest == std::to_string(t) + " i=" + std::to_string(i));
    REQUIRE(t >= 0);
    REQUIRE(t < kThreads);
    REQUIRE(i == next[t]);
    ++next[t];
  }
  ::unlink(path);
  REQUIRE(count == kThreads * kLines);
}

TEST_CASE("log: KHZ_LOG_LIMITED lets a burst through per period and reports the rest on the next line") {
  Capture capture;
  khz::log::Limiter limiter(3, 200ms);
  evaluated = 0;
  for (int i = 0; i < 10; ++i) KHZ_LOG_LIMITED(limiter, warn, "line " << count_evaluation(), khz::log::f("i", i));
  REQUIRE(evaluated == 3);  // the refused lines are not formatted
  auto lines = capture.lines();
  REQUIRE(lines.size() == 3);
  for (const auto& l : lines) REQUIRE(l.text.find("suppressed") == std::string::npos);
  REQUIRE(after_time(lines[2].text) == "WARN  line 3 i=2\n");

  std::this_thread::sleep_for(250ms);
  KHZ_LOG_LIMITED(limiter, warn, "after");
  KHZ_LOG_LIMITED(limiter, warn, "again");
  lines = capture.lines();
  REQUIRE(lines.size() == 5);
  REQUIRE(after_time(lines[3].text) == "WARN  after suppressed=7\n");
  REQUIRE(after_time(lines[4].text) == "WARN  again\n");
}

TEST_CASE("log: a limited line below the threshold takes no slot of the limiter") {
  Capture capture(khz::log::Level::warn);
  khz::log::Limiter limiter(2, 1h);
  for (int i = 0; i < 5; ++i) KHZ_LOG_LIMITED(limiter, debug, "quiet");
  for (int i = 0; i < 5; ++i) KHZ_LOG_LIMITED(limiter, error, "loud " << i);
  const auto lines = capture.lines();
  REQUIRE(lines.size() == 2);
  REQUIRE(after_time(lines[0].text) == "ERROR loud 0\n");
  REQUIRE(after_time(lines[1].text) == "ERROR loud 1\n");
}

TEST_CASE("log: a Limiter shared by threads lets about its burst through") {
  khz::log::Limiter limiter(5, 1h);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        std::uint64_t suppressed = 0;
        if (limiter.admit(suppressed)) admitted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  // The window opens once; a thread racing the opening may slip one more line each.
  REQUIRE(admitted.load() >= 5);
  REQUIRE(admitted.load() <= 5 + 3);
  std::uint64_t suppressed = 0;
  REQUIRE_FALSE(limiter.admit(suppressed));
}
