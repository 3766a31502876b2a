// SPDX-License-Identifier: Apache-2.0
// Private to app/: the form of one request, as RequestContext holds it (lazily made, kept with
// the pooled context, cleared when the request ends: clear() removes the temp files).
#pragma once

#include <khz/app/form.h>
#include <khz/protocol/urlencoded.h>

#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

namespace khz::detail {

class FormState {
 public:
  // Forgets the form, closing and removing every temp file; keeps capacity.
  void clear() noexcept {
    parsed = false;
    error = {};
    fields.clear();
    files.clear();
  }
  // A new, empty file of this form.
  FormFile& add_file() {
    files.push_back(std::unique_ptr<FormFile>(new FormFile()));
    return *files.back();
  }

  bool parsed = false;  // the body was parsed (or refused: `error`)
  std::error_code error;
  std::vector<protocol::FormField> fields;  // non-file fields, in body order
  std::vector<std::unique_ptr<FormFile>> files;
};

}  // namespace khz::detail
