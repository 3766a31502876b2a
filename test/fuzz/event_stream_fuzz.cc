// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the text/event-stream parser and encoder. The first byte picks limits; the
// rest is the stream. It is parsed whole and again fed in slices whose sizes come from the
// input (each slice copied into a buffer overwritten once fed); both runs must agree on the
// error, the events, the last event id and the retry. Every event must be valid UTF-8 with no
// CR in any field, no LF in its id or type and no NUL in its id; each is then encoded and parsed
// back, and must come back the same.
#include <khz/protocol/event_stream.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct Run {
  std::error_code error;
  std::vector<khz::protocol::SseEvent> events;
  std::optional<std::chrono::milliseconds> retry;
  std::string last_id;
};

void drain(khz::protocol::EventStreamParser& p, Run& run) {
  khz::protocol::SseEvent ev;
  while (p.next(ev)) run.events.push_back(std::move(ev));
  if (auto r = p.take_retry()) run.retry = r;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    std::size_t n = b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3 : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    ++i;
    i += n - 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  khz::protocol::EventStreamLimits limits{
      .max_line_bytes = (mode & 1) != 0 ? 16u : 1u << 20,
      .max_data_bytes = (mode & 2) != 0 ? 32u : 8u << 20,
  };

  Run whole;
  {
    khz::protocol::EventStreamParser p(limits);
    whole.error = p.feed(stream);
    drain(p, whole);
    whole.last_id = p.last_event_id();
  }
  Run sliced;
  {
    khz::protocol::EventStreamParser p(limits);
    std::size_t at = 0;
    std::size_t k = 0;
    std::string buffer;
    while (at < stream.size() && !sliced.error) {
      std::size_t n = 1 + (static_cast<unsigned char>(stream[k++ % stream.size()]) % 7);
      if (n > stream.size() - at) n = stream.size() - at;
      buffer.assign(stream.substr(at, n));
      sliced.error = p.feed(buffer);
      buffer.assign(buffer.size(), '\xAA');  // the parser must not keep views into what it was fed
      drain(p, sliced);
      at += n;
    }
    sliced.last_id = p.last_event_id();
  }
  check(whole.error == sliced.error);
  check(whole.events.size() == sliced.events.size());
  for (std::size_t i = 0; i < whole.events.size(); ++i) {
    check(whole.events[i].id == sliced.events[i].id);
    check(whole.events[i].event == sliced.events[i].event);
    check(whole.events[i].data == sliced.events[i].data);
  }
  if (!whole.error) {
    check(whole.retry == sliced.retry);
    check(whole.last_id == sliced.last_id);
  }

  for (const auto& ev : whole.events) {
    check(valid_utf8(ev.id) && valid_utf8(ev.event) && valid_utf8(ev.data));
    check(ev.id.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    check(ev.event.find_first_of("\r\n") == std::string::npos);
    check(ev.data.find('\r') == std::string::npos);
    check(ev.data.size() < limits.max_data_bytes);
    std::string encoded;
    check(!khz::protocol::encode_event(ev, encoded));
    khz::protocol::EventStreamParser back;
    check(!back.feed(encoded));
    khz::protocol::SseEvent got;
    check(back.next(got));
    check(got.id == ev.id && got.event == ev.event && got.data == ev.data);
    check(!back.next(got));
  }
  return 0;
}
