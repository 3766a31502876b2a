// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the urlencoded parser. The first byte picks limits and strictness; the rest
// is the body. It is parsed whole (stable input) and again fed in slices whose sizes come from
// the input (copied, non-stable buffers overwritten once fed); both runs must agree on the
// error and on every field. Checks that decoded fields are never longer than the body, that
// limits hold, and that a successful parse has at most max_fields fields.
#include <khz/protocol/form_error.h>
#include <khz/protocol/urlencoded.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  khz::protocol::UrlencodedLimits limits{
      .max_fields = (mode & 1) != 0 ? 4u : 1000u,
      .max_key_bytes = (mode & 2) != 0 ? 8u : 1024u,
      .max_value_bytes = (mode & 4) != 0 ? 16u : 1u << 20,
      .max_body_bytes = (mode & 8) != 0 ? 64u : khz::protocol::UrlencodedLimits::unlimited,
      .strict_escapes = (mode & 16) != 0,
  };

  khz::Arena arena_a;
  std::vector<khz::protocol::FormField> whole;
  const std::error_code whole_ec = khz::protocol::parse_urlencoded(body, whole, arena_a, limits);

  khz::Arena arena_b;
  std::vector<khz::protocol::FormField> sliced;
  khz::protocol::UrlencodedParser parser(sliced, arena_b, limits);
  std::error_code sliced_ec;
  std::string_view rest(body);
  std::size_t i = 0;
  while (!rest.empty() && !sliced_ec) {
    const std::size_t step = 1 + data[i++ % size] % 23;
    auto piece = std::make_unique<std::string>(rest.substr(0, step));
    rest.remove_prefix(piece->size());
    sliced_ec = parser.feed(*piece, false);
    piece->assign(piece->size(), '#');
  }
  if (!sliced_ec) sliced_ec = parser.finish();

  check(whole_ec == sliced_ec);
  if (!whole_ec) {
    check(whole.size() == sliced.size());
    check(whole.size() <= limits.max_fields);
    for (std::size_t k = 0; k < whole.size(); ++k) {
      check(whole[k].name == sliced[k].name);
      check(whole[k].value == sliced[k].value);
      check(whole[k].name.size() <= limits.max_key_bytes);
      check(whole[k].value.size() <= limits.max_value_bytes);
    }
  } else {
    check(whole_ec.category() == khz::protocol::form_category());
  }
  return 0;
}
