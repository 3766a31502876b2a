// SPDX-License-Identifier: Apache-2.0
#include <khz/common/exception_text.h>

namespace khz {

std::string exception_text(const std::exception_ptr& e) {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "a non-standard exception";
  }
}

}  // namespace khz
