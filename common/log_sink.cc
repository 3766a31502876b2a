// SPDX-License-Identifier: Apache-2.0
// The standard sinks: text to a descriptor, a callback, a JSON-lines file.
#include <khz/common/log_sink.h>

#include <unistd.h>

#include <stdexcept>
#include <utility>

namespace khz::log {
namespace {

// This thread's line buffer, reused; a fresh one when a sink's write nests (a sink that logs).
class LineBuffer {
 public:
  LineBuffer() : line_(in_use_ ? owned_ : shared_), nested_(in_use_) { in_use_ = true; }
  ~LineBuffer() {
    line_.clear();
    if (line_.capacity() > 64 * 1024) std::string().swap(line_);
    if (!nested_) in_use_ = false;
  }
  std::string& get() noexcept { return line_; }

 private:
  static thread_local std::string shared_;
  static thread_local bool in_use_;
  std::string owned_;
  std::string& line_;
  bool nested_;
};
thread_local std::string LineBuffer::shared_;
thread_local bool LineBuffer::in_use_ = false;

class TextSink : public Sink {
 public:
  explicit TextSink(int fd) : fd_(fd) {}
  void write(const Record& record) noexcept override {
    try {
      LineBuffer buffer;
      format_text(buffer.get(), record);
      const std::string& line = buffer.get();
      // One write(2): lines from several threads never interleave (short writes aside).
      ssize_t ignored = ::write(fd_, line.data(), line.size());
      (void)ignored;
    } catch (...) {
    }
  }

 private:
  int fd_;
};

class CallbackSink : public Sink {
 public:
  explicit CallbackSink(std::function<void(const Record&)> fn) : fn_(std::move(fn)) {}
  void write(const Record& record) noexcept override {
    try {
      fn_(record);
    } catch (...) {
      // A log line is never worth an exception escaping from KHZ_LOG.
    }
  }

 private:
  std::function<void(const Record&)> fn_;
};

void check(const FileSinkOptions& o) {
  if (o.path.empty()) throw std::invalid_argument("FileSinkOptions: an empty path");
  if (o.flush_interval.count() <= 0) throw std::invalid_argument("FileSinkOptions: flush_interval must be positive");
  if (o.max_buffer_bytes == 0) throw std::invalid_argument("FileSinkOptions: max_buffer_bytes must be positive");
}

// Both are called before the writer exists, in either order: each checks the options first.
std::unique_ptr<LineOutput> file_output(const FileSinkOptions& o) {
  check(o);
  return std::make_unique<FileLineOutput>(FileOutputOptions{.path = o.path, .max_bytes = o.max_bytes, .keep = o.keep});
}

LineWriterOptions writer_options(const FileSinkOptions& o) {
  check(o);
  return LineWriterOptions{.name = "log file " + o.path,
                           .flush_interval = o.flush_interval,
                           .flush_bytes = o.flush_bytes,
                           .max_buffer_bytes = o.max_buffer_bytes,
                           .reopen_on_sighup = o.reopen_on_sighup};
}

}  // namespace

std::shared_ptr<Sink> text_sink(int fd) { return std::make_shared<TextSink>(fd); }

std::shared_ptr<Sink> callback_sink(std::function<void(const Record&)> fn) {
  if (!fn) throw std::invalid_argument("callback_sink: an empty function");
  return std::make_shared<CallbackSink>(std::move(fn));
}

FileSink::FileSink(FileSinkOptions options)
    : writer_(writer_options(options), file_output(options)) {}

std::shared_ptr<FileSink> FileSink::open(FileSinkOptions options) {
  return std::make_shared<FileSink>(std::move(options));
}

void FileSink::write(const Record& record) noexcept {
  try {
    LineBuffer buffer;
    format_json(buffer.get(), record);
    writer_.append(buffer.get());
  } catch (...) {
  }
}

void FileSink::flush() noexcept {
  try {
    writer_.flush();
  } catch (...) {
  }
}

}  // namespace khz::log
