// SPDX-License-Identifier: Apache-2.0
// The session cookie store's decode path (middleware/session): any bytes as a cookie value,
// opened by an encrypting and a signing store with fixed keys, must be refused cleanly or give
// a record; and any bytes that decode as a session payload must survive encode → seal → open
// unchanged.
#include <khz/middleware/session.h>

#include "cookie_open.h"
#include "record_codec.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using khz::middleware::SessionRecord;

const std::string kOld = "fuzz-key-old-0123456789abcdef0123456789";
const std::string kNew = "fuzz-key-new-0123456789abcdef0123456789";

bool same(const SessionRecord& a, const SessionRecord& b) {
  return a.id == b.id && a.values == b.values && a.created == b.created && a.last_written == b.last_written;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto encrypted = khz::middleware::cookie_store({.keys = {kNew, kOld}});
  static const auto signed_only = khz::middleware::cookie_store({.keys = {kNew, kOld}, .encrypt = false});
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  for (const auto* store : {encrypted.get(), signed_only.get()}) {
    auto opened = khz::middleware::detail::open_cookie(*store, in);
    if (opened) {
      // Whatever opens reseals and opens to the same record.
      auto again = khz::middleware::detail::seal_cookie(*store, *opened);
      if (again) {
        auto back = khz::middleware::detail::open_cookie(*store, *again);
        if (!back || !same(*back, *opened)) std::abort();
      }
    }
  }

  // The payload decoder behind the seal: canonical round trips through both stores.
  if (auto rec = khz::middleware::detail::decode_record(in)) {
    std::string bytes;
    khz::middleware::detail::encode_record(*rec, bytes);
    auto re = khz::middleware::detail::decode_record(bytes);
    if (!re || !same(*re, *rec)) std::abort();
    for (const auto* store : {encrypted.get(), signed_only.get()}) {
      auto sealed = khz::middleware::detail::seal_cookie(*store, *rec);
      if (!sealed) {
        if (sealed.error() != khz::middleware::session_errc::too_large) std::abort();
        continue;
      }
      auto back = khz::middleware::detail::open_cookie(*store, *sealed);
      if (!back || !same(*back, *rec)) std::abort();
    }
  }
  return 0;
}
