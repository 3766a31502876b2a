// SPDX-License-Identifier: Apache-2.0
// khz::LineWriter, khz::FileLineOutput and khz::log::FileSink: rotation by size (file names,
// counts, whole lines, sizes), reopening, the drop counter while the writer is stalled (and its
// one warning), JSON lines in the file, and many threads writing whole lines.
#include <khz/common/line_writer.h>
#include <khz/common/log.h>
#include <khz/common/log_sink.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {

// A fresh directory under /tmp, removed (with its files) at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/khz-log-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// "line 0007 xxxx...\n", exactly `size` bytes.
std::string numbered_line(int n, std::size_t size) {
  char head[16];
  std::snprintf(head, sizeof head, "line %04d ", n);
  std::string line(head);
  line.append(size - line.size() - 1, 'x');
  line.push_back('\n');
  return line;
}

int number_of(const std::string& line) { return std::stoi(line.substr(5, 4)); }

// An output that blocks in write() until released: a stalled disk.
class StalledOutput : public khz::LineOutput {
 public:
  void write(std::string_view lines) override {
    std::unique_lock lock(mutex_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    text_.append(lines);
  }
  void wait_entered() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return entered_ > 0; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    cv_.notify_all();
  }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool released_ = false;
  std::string text_;
};

}  // namespace

TEST_CASE("line_writer: FileLineOutput rotates by size between whole lines and keeps N files") {
  TempDir dir;
  const std::string path = dir.file("app.log");
  khz::FileLineOutput out({.path = path, .max_bytes = 1000, .keep = 2});
  // 35 lines of 100 bytes: 10 per file; the first 10 rotate away past path.2.
  for (int i = 0; i < 35; ++i) out.write(numbered_line(i, 100));
  REQUIRE(exists(path));
  REQUIRE(exists(path + ".1"));
  REQUIRE(exists(path + ".2"));
  REQUIRE_FALSE(exists(path + ".3"));
  const auto current = lines_of(read_file(path));
  const auto one = lines_of(read_file(path + ".1"));
  const auto two = lines_of(read_file(path + ".2"));
  REQUIRE(current.size() == 5);
  REQUIRE(one.size() == 10);
  REQUIRE(two.size() == 10);
  REQUIRE(number_of(two.front()) == 10);  // path.2 the oldest kept, path.1 next, path the newest
  REQUIRE(number_of(one.front()) == 20);
  REQUIRE(number_of(current.front()) == 30);
  REQUIRE(number_of(current.back()) == 34);
  REQUIRE(out.size() == 500);

  // A batch of many lines is split at a line boundary; no file passes max_bytes.
  std::string batch;
  for (int i = 35; i < 50; ++i) batch += numbered_line(i, 70);
  out.write(batch);
  for (const std::string& p : {path, path + ".1", path + ".2"}) {
    const std::string text = read_file(p);
    REQUIRE(text.size() <= 1000);
    REQUIRE(text.back() == '\n');
  }
  REQUIRE(number_of(lines_of(read_file(path)).back()) == 49);

  // A line longer than max_bytes gets a file to itself.
  out.write(numbered_line(50, 1500));
  out.write(numbered_line(51, 100));
  REQUIRE(read_file(path + ".1") == numbered_line(50, 1500));
  REQUIRE(read_file(path) == numbered_line(51, 100));
}

TEST_CASE("line_writer: keep = 0 removes the full file; a reopened file starts after an outside move") {
  TempDir dir;
  const std::string path = dir.file("app.log");
  {
    khz::FileLineOutput out({.path = path, .max_bytes = 300, .keep = 0});
    for (int i = 0; i < 7; ++i) out.write(numbered_line(i, 100));
    REQUIRE_FALSE(exists(path + ".1"));
    REQUIRE(lines_of(read_file(path)).size() == 1);
  }
  {
    // Appends to what is there and counts it toward max_bytes.
    khz::FileLineOutput out({.path = path, .max_bytes = 300, .keep = 1});
    REQUIRE(out.size() == 100);
    out.write(numbered_line(7, 100));
    REQUIRE(std::rename(path.c_str(), (path + ".moved").c_str()) == 0);
    out.write(numbered_line(8, 100));  // still into the moved file
    out.reopen();
    REQUIRE(out.size() == 0);
    out.write(numbered_line(9, 100));
    REQUIRE(lines_of(read_file(path + ".moved")).size() == 3);
    REQUIRE(read_file(path) == numbered_line(9, 100));
  }
  REQUIRE_THROWS_AS(khz::FileLineOutput({.path = dir.file("no/such/dir/x.log")}), std::system_error);
}

TEST_CASE("line_writer: a stalled output drops lines past max_buffer_bytes, counts them and warns once") {
  const auto previous = khz::log::level();
  khz::log::set_level(khz::log::Level::warn);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
  std::mutex mutex;
  std::vector<std::string> warnings;
  const auto sink = khz::log::add_sink(khz::log::callback_sink([&](const khz::log::Record& r) {
                                         std::lock_guard lock(mutex);
                                         warnings.emplace_back(r.message);
                                       }),
                                       khz::log::Level::warn);
  auto output = std::make_unique<StalledOutput>();
  StalledOutput& stalled = *output;
  {
    khz::LineWriter writer({.name = "test_writer", .flush_interval = 5ms, .flush_bytes = 500, .max_buffer_bytes = 1000},
                           std::move(output));
    writer.append(numbered_line(0, 100));
    stalled.wait_entered();  // the writer holds line 0 and waits for the disk
    for (int i = 1; i <= 50; ++i) writer.append(numbered_line(i, 100));
    REQUIRE(writer.dropped() == 40);  // 10 fit in the 1000-byte buffer
    REQUIRE(writer.written() == 0);
    stalled.release();
    writer.flush();
    REQUIRE(writer.written() == 11);
    REQUIRE(writer.dropped() == 40);
    const auto lines = lines_of(stalled.text());
    REQUIRE(lines.size() == 11);
    for (int i = 0; i <= 10; ++i) REQUIRE(number_of(lines[static_cast<std::size_t>(i)]) == i);
    writer.flush();  // nothing new dropped: no second warning
  }
  khz::log::remove_sink(sink);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
  khz::log::set_level(previous);
  REQUIRE(warnings.size() == 1);
  REQUIRE(warnings[0] == "test_writer: 40 lines dropped since the last report (40 in all): the sink is slower than the traffic");
}

TEST_CASE("line_writer: the destructor writes what is left") {
  TempDir dir;
  const std::string path = dir.file("left.log");
  {
    khz::LineWriter writer({.flush_interval = 10s}, std::make_unique<khz::FileLineOutput>(khz::FileOutputOptions{.path = path}));
    writer.append("one\n");
    writer.append("two\n");
  }
  REQUIRE(read_file(path) == "one\ntwo\n");
}

TEST_CASE("log: FileSink writes JSON lines, rotated, flushed by khz::log::flush()") {
  TempDir dir;
  const std::string path = dir.file("app.jsonl");
  const auto previous = khz::log::level();
  khz::log::set_level(khz::log::Level::trace);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
  auto file = khz::log::FileSink::open({.path = path, .max_bytes = 4096, .keep = 3, .flush_interval = 10s});
  const auto id = khz::log::add_sink(file, khz::log::Level::info);
  KHZ_LOG(debug, "below the file's level");
  KHZ_LOG_AS("client", info, "order \"placed\"", khz::log::f("order_id", 7), khz::log::f("ok", true));
  khz::log::flush();
  const auto first = lines_of(read_file(path));
  REQUIRE(first.size() == 1);
  REQUIRE(first[0].substr(0, 9) == "{\"time\":\"");
  REQUIRE(first[0].substr(33) ==
          "\",\"level\":\"info\",\"logger\":\"client\",\"msg\":\"order \\\"placed\\\"\",\"order_id\":7,\"ok\":true}");
  for (int i = 0; i < 200; ++i) KHZ_LOG(info, "filler " << std::string(40, 'f'), khz::log::f("i", i));
  khz::log::flush();
  khz::log::remove_sink(id);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
  khz::log::set_level(previous);
  REQUIRE(file->written() == 201);
  REQUIRE(file->dropped() == 0);
  // 201 lines of about 100 bytes in files of at most 4096: path, .1, .2, .3, the oldest gone.
  REQUIRE(exists(path + ".3"));
  REQUIRE_FALSE(exists(path + ".4"));
  int last = -1;
  for (const std::string& p : {path + ".3", path + ".2", path + ".1", path}) {
    const std::string text = read_file(p);
    REQUIRE(text.size() <= 4096);
    for (const std::string& line : lines_of(text)) {
      REQUIRE(line.back() == '}');
      const auto at = line.find("\"i\":");
      REQUIRE(at != std::string::npos);
      const int i = std::stoi(line.substr(at + 4));
      if (last >= 0) REQUIRE(i == last + 1);  // in order across the files, none missing
      last = i;
    }
  }
  REQUIRE(last == 199);

  REQUIRE_THROWS_AS(khz::log::FileSink::open({.path = ""}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::log::FileSink::open({.path = path, .flush_interval = 0ms}), std::invalid_argument);
  REQUIRE_THROWS_AS(khz::log::FileSink::open({.path = dir.file("no/dir/x")}), std::system_error);
}

TEST_CASE("log: a FileSink whose writer is behind drops lines and counts them; reopen() and SIGHUP reopen") {
  TempDir dir;
  const std::string path = dir.file("slow.jsonl");
  const auto previous = khz::log::level();
  khz::log::set_level(khz::log::Level::info);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
  // The writer is never woken by size (flush_bytes past the buffer) nor by time: only flush().
  auto file = khz::log::FileSink::open({.path = path,
                                        .reopen_on_sighup = true,
                                        .flush_interval = 3600s,
                                        .flush_bytes = 1 << 20,
                                        .max_buffer_bytes = 2000});
  const auto id = khz::log::add_sink(file, khz::log::Level::info);
  for (int i = 0; i < 100; ++i) KHZ_LOG(info, "x", khz::log::f("i", i));
  const auto dropped = file->dropped();
  REQUIRE(dropped > 0);
  REQUIRE(dropped < 100);
  file->flush();
  REQUIRE(file->written() + dropped == 100);
  const auto count_x = [](const std::string& text) {
    std::size_t n = 0;
    for (const std::string& line : lines_of(text)) n += line.find("\"msg\":\"x\"") != std::string::npos;
    return n;
  };
  REQUIRE(count_x(read_file(path)) == 100 - dropped);

  REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0);
  file->reopen();
  KHZ_LOG(info, "after reopen");
  file->flush();
  REQUIRE(std::rename(path.c_str(), (path + ".2").c_str()) == 0);
  REQUIRE(::raise(SIGHUP) == 0);
  KHZ_LOG(info, "after sighup");
  file->flush();
  khz::log::remove_sink(id);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
  khz::log::set_level(previous);
  // The file sink's own lines (the drop warning, "reopened") go to the log too, a batch later.
  const std::string one = read_file(path + ".1");
  const std::string two = read_file(path + ".2");
  const std::string current = read_file(path);
  REQUIRE(count_x(one) == 100 - dropped);
  REQUIRE(two.find("\"msg\":\"after reopen\"") != std::string::npos);
  REQUIRE(two.find("after sighup") == std::string::npos);
  REQUIRE(current.find("\"msg\":\"after sighup\"") != std::string::npos);
  REQUIRE(two.find(std::to_string(dropped) + " lines dropped since the last report") != std::string::npos);
}

TEST_CASE("log: many threads write whole JSON lines to a FileSink, none lost or interleaved") {
  TempDir dir;
  const std::string path = dir.file("mt.jsonl");
  const auto previous = khz::log::level();
  khz::log::set_level(khz::log::Level::info);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
  auto file = khz::log::FileSink::open({.path = path, .max_bytes = 0, .flush_interval = 2ms, .flush_bytes = 4096});
  const auto id = khz::log::add_sink(file);
  constexpr int kThreads = 8;
  constexpr int kLines = 3000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i) KHZ_LOG(info, "mt", khz::log::f("t", t), khz::log::f("i", i));
    });
  }
  for (auto& th : threads) th.join();
  khz::log::flush();
  khz::log::remove_sink(id);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
  khz::log::set_level(previous);
  REQUIRE(file->dropped() == 0);
  std::vector<int> next(kThreads, 0);
  int count = 0;
  for (const std::string& line : lines_of(read_file(path))) {
    ++count;
    int t = -1, i = -1;
    const auto at = line.find(",\"msg\":\"mt\",\"t\":");
    REQUIRE(at == 49);  // {"time":"...Z","level":"info" is 49 bytes
    REQUIRE(std::sscanf(line.c_str() + at, ",\"msg\":\"mt\",\"t\":%d,\"i\":%d}", &t, &i) == 2);
    REQUIRE(line.substr(at) == ",\"msg\":\"mt\",\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}");
    REQUIRE(t >= 0);
    REQUIRE(t < kThreads);
    REQUIRE(i == next[static_cast<std::size_t>(t)]);
    ++next[static_cast<std::size_t>(t)];
  }
  REQUIRE(count == kThreads * kLines);
}

TEST_CASE("log: file sinks added and removed while threads log are written and destroyed cleanly") {
  TempDir dir;
  const auto previous = khz::log::level();
  khz::log::set_level(khz::log::Level::info);
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::off);
  // The logging threads, stopped and joined however the case ends (a failed REQUIRE too).
  struct Churn {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    void finish() {
      stop = true;
      for (auto& th : threads) th.join();
      threads.clear();
    }
    ~Churn() { finish(); }
  } churn;
  for (int t = 0; t < 4; ++t) {
    churn.threads.emplace_back([&stop = churn.stop, t] {
      for (int i = 0; !stop.load(); ++i) KHZ_LOG(info, "churn", khz::log::f("t", t), khz::log::f("i", i));
    });
  }
  for (int round = 0; round < 20; ++round) {
    const std::string path = dir.file("churn" + std::to_string(round));
    // The registry holds the only reference: remove_sink destroys the sink (joins its writer).
    const auto id = khz::log::add_sink(khz::log::FileSink::open({.path = path, .flush_interval = 1ms}));
    std::this_thread::sleep_for(5ms);
    REQUIRE(khz::log::remove_sink(id));
    // The writer wrote what it had before it stopped: whole lines only. Besides the churn, a
    // writer that fell behind (a loaded machine) reports the lines it dropped, to every sink.
    const std::string text = read_file(path);
    REQUIRE((text.empty() || text.back() == '\n'));
    for (const std::string& line : lines_of(text)) {
      INFO(line);
      REQUIRE(line.starts_with("{\"time\":"));
      REQUIRE(line.ends_with("}"));
      const bool churned = line.find("\"msg\":\"churn\"") != std::string::npos;
      const bool dropped = line.find("lines dropped since the last report") != std::string::npos;
      REQUIRE((churned || dropped));
    }
  }
  churn.finish();
  khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::trace);
  khz::log::set_level(previous);
}
