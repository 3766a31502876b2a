// SPDX-License-Identifier: Apache-2.0
#include "writer.h"

#include <khz/common/log.h>

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include <unistd.h>

namespace khz::middleware::detail {
namespace {

class CallbackOutput : public LineOutput {
 public:
  explicit CallbackOutput(std::function<void(std::string_view)> fn) : fn_(std::move(fn)) {}
  void write(std::string_view lines) override {
    try {
      fn_(lines);
    } catch (const std::exception& e) {
      KHZ_LOG(error, "access_log: the sink callback threw: " << e.what());
    } catch (...) {
      KHZ_LOG(error, "access_log: the sink callback threw a non-standard exception");
    }
  }

 private:
  std::function<void(std::string_view)> fn_;
};

std::unique_ptr<LineOutput> make_output(const AccessLogSink& sink) {
  switch (sink.kind) {
    case AccessLogSink::Kind::callback: return std::make_unique<CallbackOutput>(sink.write);
    case AccessLogSink::Kind::file:
      try {
        return std::make_unique<FileLineOutput>(FileOutputOptions{.path = sink.path});
      } catch (const std::system_error& e) {
        throw std::system_error(e.code(), "access_log: cannot open " + sink.path);
      }
    case AccessLogSink::Kind::standard_error: break;
  }
  return std::make_unique<FdLineOutput>(STDERR_FILENO);
}

LineWriterOptions writer_options(const AccessLogOptions& o) {
  return LineWriterOptions{.name = "access_log",
                           .flush_interval = o.flush_interval,
                           .flush_bytes = o.flush_bytes,
                           .max_buffer_bytes = o.max_buffer_bytes,
                           .reopen_on_sighup = o.sink.kind == AccessLogSink::Kind::file && o.reopen_on_sighup};
}

}  // namespace

AccessLogWriter::AccessLogWriter(AccessLogOptions options)
    : options_(std::move(options)), writer_(writer_options(options_), make_output(options_.sink)) {}

}  // namespace khz::middleware::detail
