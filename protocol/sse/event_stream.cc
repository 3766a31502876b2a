// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/event_stream.h>

#include <charconv>
#include <cstdint>
#include <limits>

namespace khz::protocol {
namespace {

class EventStreamCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.event_stream"; }
  std::string message(int code) const override {
    switch (static_cast<event_stream_errc>(code)) {
      case event_stream_errc::line_too_large: return "event stream: a line longer than the limit";
      case event_stream_errc::data_too_large: return "event stream: an event's data larger than the limit";
      case event_stream_errc::bad_field:
        return "event stream: an id or event type with CR or LF, an id with NUL, or a negative retry";
    }
    return "unknown event stream error";
  }
};

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool all_ascii(std::string_view s) noexcept {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// The WHATWG UTF-8 decoder's output, re-encoded: each maximal invalid subpart becomes U+FFFD,
// the byte that ended it is looked at again. Returns false (and leaves `out` alone) when `s` is
// valid as it is.
bool repair_utf8(std::string_view s, std::string& out) {
  bool changed = false;
  std::size_t i = 0;
  std::size_t copied = 0;  // s[copied, i) is valid and not yet in out
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < s.size()) {
    unsigned char b = byte(i);
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t need = 0;
    unsigned char lower = 0x80;
    unsigned char upper = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lower = 0xA0;
      if (b == 0xED) upper = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lower = 0x90;
      if (b == 0xF4) upper = 0x8F;
    }
    std::size_t j = i + 1;
    bool ok = need != 0;
    for (std::size_t k = 0; ok && k < need; ++k, ++j) {
      if (j >= s.size() || byte(j) < lower || byte(j) > upper) ok = false;
      if (!ok) break;
      lower = 0x80;
      upper = 0xBF;
    }
    if (ok) {
      i = j;
      continue;
    }
    if (!changed) {
      out.clear();
      changed = true;
    }
    out.append(s.substr(copied, i - copied));
    out.append(kReplacement);
    i = j;  // the offending byte (if any) is decoded afresh
    copied = i;
  }
  if (changed) out.append(s.substr(copied));
  return changed;
}

// Calls fn(line) for each line of `text`, split at CRLF, LF and CR; always at least once.
template <class Fn>
void for_each_line(std::string_view text, Fn fn) {
  std::size_t i = 0;
  for (;;) {
    std::size_t end = text.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      fn(text.substr(i));
      return;
    }
    fn(text.substr(i, end - i));
    i = end + 1;
    if (text[end] == '\r' && i < text.size() && text[i] == '\n') ++i;
  }
}

}  // namespace

const std::error_category& event_stream_category() noexcept {
  static const EventStreamCategory category;
  return category;
}

std::error_code encode_event(const SseEvent& event, std::string& out) {
  if (event.id.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos ||
      event.event.find_first_of("\r\n") != std::string::npos ||
      (event.retry && event.retry->count() < 0)) {
    return event_stream_errc::bad_field;
  }
  if (!event.id.empty()) out.append("id: ").append(event.id).append("\n");
  if (!event.event.empty()) out.append("event: ").append(event.event).append("\n");
  if (event.retry) {
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, event.retry->count());
    out.append("retry: ").append(digits, r.ptr).append("\n");
  }
  for_each_line(event.data, [&out](std::string_view line) { out.append("data: ").append(line).append("\n"); });
  out.append("\n");
  return {};
}

void encode_comment(std::string_view text, std::string& out) {
  if (text.empty()) {
    out.append(":\n");
    return;
  }
  for_each_line(text, [&out](std::string_view line) { out.append(": ").append(line).append("\n"); });
}

std::error_code EventStreamParser::fail(event_stream_errc e) noexcept {
  error_ = e;
  return error_;
}

std::error_code EventStreamParser::feed(std::string_view bytes) {
  if (error_) return error_;
  std::size_t i = 0;
  while (at_start_ && i < bytes.size()) {
    if (bytes[i] == kBom[bom_seen_]) {
      ++i;
      if (++bom_seen_ == kBom.size()) at_start_ = false;
    } else {
      line_.append(kBom.substr(0, bom_seen_));  // a BOM's beginning only: ordinary bytes
      at_start_ = false;
    }
  }
  if (after_cr_ && i < bytes.size()) {
    if (bytes[i] == '\n') ++i;  // the LF of a CRLF split between pieces
    after_cr_ = false;
  }
  while (i < bytes.size()) {
    std::size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      if (line_.size() + (bytes.size() - i) > limits_.max_line_bytes) return fail(event_stream_errc::line_too_large);
      line_.append(bytes.substr(i));
      break;
    }
    std::string_view piece = bytes.substr(i, end - i);
    if (line_.size() + piece.size() > limits_.max_line_bytes) return fail(event_stream_errc::line_too_large);
    if (line_.empty()) {
      line(piece);
    } else {
      line_.append(piece);
      line(line_);
      line_.clear();
    }
    if (error_) return error_;
    i = end + 1;
    if (bytes[end] == '\r') {
      if (i < bytes.size()) {
        if (bytes[i] == '\n') ++i;
      } else {
        after_cr_ = true;
      }
    }
  }
  return {};
}

void EventStreamParser::line(std::string_view text) {
  if (!all_ascii(text) && repair_utf8(text, scratch_)) text = scratch_;
  if (text.empty()) {
    dispatch();
    return;
  }
  if (text.front() == ':') return;  // a comment
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    field(text, {});
    return;
  }
  std::string_view value = text.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  field(text.substr(0, colon), value);
}

void EventStreamParser::field(std::string_view name, std::string_view value) {
  if (name == "data") {
    if (data_.size() + value.size() + 1 > limits_.max_data_bytes) {
      fail(event_stream_errc::data_too_large);
      return;
    }
    data_.append(value).push_back('\n');
  } else if (name == "event") {
    type_.assign(value);
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) id_buffer_.assign(value);
  } else if (name == "retry") {
    if (value.empty()) return;
    std::uint64_t ms = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return;  // not digits only: ignored
      // Saturates: a reconnection time past what a duration holds means "practically never".
      if (ms > (std::numeric_limits<std::int64_t>::max() - 9) / 10) {
        ms = std::numeric_limits<std::int64_t>::max();
      } else {
        ms = ms * 10 + static_cast<std::uint64_t>(c - '0');
      }
    }
    retry_ = std::chrono::milliseconds(static_cast<std::int64_t>(ms));
  }
}

void EventStreamParser::dispatch() {
  last_event_id_ = id_buffer_;
  if (data_.empty()) {
    type_.clear();
    return;
  }
  data_.pop_back();  // the LF after the last data line
  SseEvent& ev = events_.emplace_back();
  ev.id = last_event_id_;
  ev.event = type_.empty() ? std::string("message") : std::move(type_);
  ev.data = std::move(data_);
  data_.clear();
  type_.clear();
}

bool EventStreamParser::next(SseEvent& out) {
  if (events_.empty()) return false;
  out = std::move(events_.front());
  events_.pop_front();
  return true;
}

void EventStreamParser::reset() noexcept {
  line_.clear();
  data_.clear();
  type_.clear();
  id_buffer_ = last_event_id_;
  bom_seen_ = 0;
  at_start_ = true;
  after_cr_ = false;
  error_ = {};
}

}  // namespace khz::protocol
