// SPDX-License-Identifier: Apache-2.0
#include <khz/common/log.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace khz::log {
namespace {

Level level_from_env() noexcept {
  const char* v = std::getenv("KHZ_LOG_LEVEL");
  if (v == nullptr) return Level::info;
  std::string_view s(v);
  if (s == "debug") return Level::debug;
  if (s == "warn") return Level::warn;
  if (s == "error") return Level::error;
  if (s == "off") return Level::off;
  return Level::info;
}

std::atomic<Level>& threshold() noexcept {
  static std::atomic<Level> value{level_from_env()};
  return value;
}

constexpr const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

}  // namespace

void set_level(Level l) noexcept { threshold().store(l, std::memory_order_relaxed); }
Level level() noexcept { return threshold().load(std::memory_order_relaxed); }

void write(Level l, std::string_view message) noexcept {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char prefix[64];
  int n = std::snprintf(prefix, sizeof prefix, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, static_cast<int>(ms), kNames[static_cast<int>(l)]);
  std::string line;
  line.reserve(static_cast<std::size_t>(n) + message.size() + 1);
  line.append(prefix, static_cast<std::size_t>(n)).append(message).push_back('\n');
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

void assertion_failed(const char* expr, const char* file, int line) noexcept {
  std::string msg = std::string("assertion failed: ") + expr + " at " + file + ":" + std::to_string(line);
  write(Level::error, msg);
  std::abort();
}

}  // namespace khz::log
