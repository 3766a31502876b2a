// SPDX-License-Identifier: Apache-2.0
// libFuzzer: the WebSocket frame parser in both roles, with RSV1 allowed, fed whole and in
// slices (the two must agree); the UTF-8 validator, whole and split; the close payload; and
// the inflater (with a small limit) on every data message and on the raw input.
#include <khz/protocol/websocket.h>
#include <khz/protocol/websocket_deflate.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace ws = khz::protocol::websocket;

namespace {

struct Outcome {
  std::vector<std::string> messages;
  std::vector<std::string> controls;
  std::error_code error;
};

Outcome run(std::string_view input, ws::Role role, std::size_t slice) {
  ws::FrameParser p({.role = role, .allow_rsv1 = true, .max_frame_bytes = 1 << 16, .max_message_bytes = 1 << 17});
  Outcome out;
  std::string data, control, pending;
  std::size_t fed = 0;
  ws::Inflater inflater({});
  bool inflater_ok = true;
  for (;;) {
    if (fed < input.size()) {
      const std::size_t n = std::min(slice, input.size() - fed);
      pending.append(input.substr(fed, n));
      fed += n;
    }
    for (;;) {
      auto step = p.feed(pending, data, control);
      if (step.consumed > pending.size()) std::abort();
      pending.erase(0, step.consumed);
      if (step.event == ws::FrameParser::Event::error) {
        out.error = p.error();
        if (ws::close_code_for(out.error) < 1000) std::abort();
        return out;
      }
      if (step.event != ws::FrameParser::Event::frame) break;
      const ws::FrameHeader& h = p.header();
      if (ws::is_control(h.opcode)) {
        if (control.size() > 125) std::abort();
        if (h.opcode == ws::Opcode::close) {
          ws::ClosePayload c;
          (void)ws::parse_close(control, c);
        }
        out.controls.push_back(control);
      } else if (h.fin) {
        if (data.size() > (1u << 17)) std::abort();
        if (p.message_compressed() && inflater_ok) {
          std::string plain;
          if (inflater.decompress(data, 1 << 16, plain)) inflater_ok = false;
          if (plain.size() > (1u << 16)) std::abort();
        }
        if (p.message_opcode() == ws::Opcode::text) (void)ws::is_valid_utf8(data);
        out.messages.push_back(data);
        data.clear();
      }
    }
    if (fed == input.size()) break;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(bytes), size);
  for (ws::Role role : {ws::Role::server, ws::Role::client}) {
    Outcome whole = run(input, role, input.size() + 1);
    Outcome sliced = run(input, role, 1 + (size % 7));
    if (whole.messages != sliced.messages || whole.controls != sliced.controls || whole.error != sliced.error) {
      std::abort();
    }
  }
  // UTF-8: the whole and any split agree.
  const bool valid = ws::is_valid_utf8(input);
  const std::size_t cut = size == 0 ? 0 : bytes[0] % (size + 1);
  ws::Utf8Validator v;
  const bool split = v.feed(input.substr(0, cut)) && v.feed(input.substr(cut)) && v.complete();
  if (valid != split) std::abort();
  // The inflater on raw input, with and without context takeover.
  for (bool reset : {false, true}) {
    ws::Inflater inflater({.no_context_takeover = reset});
    std::string out;
    (void)inflater.decompress(input, 1 << 16, out);
    if (out.size() > (1u << 16)) std::abort();
  }
  return 0;
}
