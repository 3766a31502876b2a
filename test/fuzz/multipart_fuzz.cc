// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the multipart/form-data parser with the boundary "fuzz". The first byte
// picks limits; the rest is the body. It is parsed whole and again fed in slices whose sizes
// come from the input (copied buffers, overwritten once fed); both runs must give the same
// outcome and the same events (parts, names, filenames, content). Checks the event order
// (begin, data*, end; body end last), that no piece is empty, that content is never longer
// than the body and that a non-file part never exceeds max_field_bytes.
#include <khz/protocol/form_error.h>
#include <khz/protocol/multipart.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

struct Recorder : khz::protocol::MultipartHandler {
  explicit Recorder(const khz::protocol::MultipartLimits& l) : limits(l) {}
  const khz::protocol::MultipartLimits& limits;
  std::string log;
  bool in_part = false;
  bool ended = false;
  bool is_file = false;
  std::size_t part_bytes = 0;
  std::size_t content_bytes = 0;
  std::error_code on_part_begin(const khz::protocol::MultipartPart& p) override {
    check(!in_part && !ended);
    check(p.headers.size() <= limits.max_headers);
    in_part = true;
    is_file = p.is_file;
    part_bytes = 0;
    log.append("<").append(p.name).append(p.is_file ? "|f|" : "|-|").append(p.filename).append("|").append(p.content_type).append(">");
    return {};
  }
  std::error_code on_part_data(std::string_view bytes) override {
    check(in_part && !bytes.empty());
    part_bytes += bytes.size();
    content_bytes += bytes.size();
    if (!is_file) check(part_bytes <= limits.max_field_bytes);
    log.append(bytes);
    return {};
  }
  std::error_code on_part_end() override {
    check(in_part);
    in_part = false;
    log.append("</>");
    return {};
  }
  void on_body_end() override {
    check(!in_part && !ended);
    ended = true;
    log.append("$");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const khz::protocol::MultipartLimits limits{
      .max_parts = (mode & 1) != 0 ? 3u : 1000u,
      .max_header_bytes = (mode & 2) != 0 ? 64u : 16u * 1024,
      .max_headers = (mode & 4) != 0 ? 2u : 16u,
      .max_field_bytes = (mode & 8) != 0 ? 8u : 1u << 20,
      .max_body_bytes = (mode & 16) != 0 ? 256u : std::numeric_limits<std::size_t>::max(),
  };

  Recorder whole(limits);
  khz::protocol::MultipartParser a("fuzz", whole, limits);
  std::error_code whole_ec = a.feed(body);
  if (!whole_ec) whole_ec = a.finish();

  Recorder sliced(limits);
  khz::protocol::MultipartParser b("fuzz", sliced, limits);
  std::error_code sliced_ec;
  std::string_view rest(body);
  std::size_t i = 0;
  while (!rest.empty() && !sliced_ec) {
    const std::size_t step = 1 + data[i++ % size] % 29;
    auto piece = std::make_unique<std::string>(rest.substr(0, step));
    rest.remove_prefix(piece->size());
    sliced_ec = b.feed(*piece);
    piece->assign(piece->size(), '#');
  }
  if (!sliced_ec) sliced_ec = b.finish();

  check(whole_ec == sliced_ec);
  check(whole.content_bytes <= body.size());
  check(a.part_count() <= limits.max_parts);
  if (!whole_ec) {
    check(whole.log == sliced.log);
    check(whole.ended && !whole.in_part && a.done());
  } else {
    // Only the body limit can be crossed after the close delimiter (in the epilogue).
    check(!whole.ended || whole_ec == khz::protocol::form_errc::body_too_large);
    check(whole_ec.category() == khz::protocol::form_category());
  }
  return 0;
}
