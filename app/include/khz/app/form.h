// SPDX-License-Identifier: Apache-2.0
// Forms and uploads for handlers: FormOptions (limits, where uploads go) and FormFile (one
// uploaded file). RequestContext reads forms with form(), form_all(), has_form(), form_file(),
// form_files() and read_form() (request_context.h, "forms").
//
//   khz::Server server({.form = {.memory_threshold = 256 << 10, .max_parts = 32}});
//
//   server.post("/profile", [](khz::RequestContext& ctx) {          // a buffered body
//     std::string_view name = ctx.form("name");                       // "" when absent
//     if (const khz::FormFile* avatar = ctx.form_file("avatar")) {
//       auto saved = avatar->save_as("/srv/avatars/" + std::string(ctx.param("user")));
//       if (!saved) { ctx.string(500, saved.error().message()); return; }
//     }
//     ctx.string(200, "hello " + std::string(name));
//   });
//
//   server.post("/upload", [](khz::RequestContext& ctx) -> khz::Task<> {   // a streamed body
//     auto form = co_await ctx.read_form();     // reads the body, spools big files to disk
//     if (!form) co_return;                     // already answered: 400, 413, 415 + the reason
//     for (const khz::FormFile* f : ctx.form_files("docs")) store(f->path(), f->filename());
//     ctx.string(201, "stored");
//   }).stream_body();
//
// Files: a file part up to FormOptions::memory_threshold bytes stays in memory (bytes(); on a
// buffered route a view into the request body, not a copy); a bigger one goes to a temp file
// (path()), created in temp_dir with mkostemp (mode 0600, close-on-exec) and written as it
// arrives. Writes are plain blocking writes on the event loop (the page cache takes them);
// save_as() and read_all() of a big spooled file block too: call them through ctx.offload
// when that matters.
// Lifetimes: a FormFile, its views and its temp file live until the handler's Task completes;
// then the temp file is removed, whatever happened (the handler threw, the client went away).
// To keep an upload, save_as() it (or link/rename its path() yourself) before returning.
// Threading: used on the request's loop; a FormFile may be read from an offload job while
// the handler waits for it.
#pragma once

#include <khz/common/result.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace khz {

namespace detail {
class FormState;
class FormSink;
}  // namespace detail

// Limits and storage of request forms (ServerOptions::form, EngineOptions::form). Each limit
// is inclusive (at it passes, one more fails) and answers 413 when crossed.
struct FormOptions {
  // A file part up to this many bytes is kept in memory; a bigger one is spooled to a temp file.
  std::size_t memory_threshold = 1 << 20;
  // Where spooled files go; empty: $TMPDIR, else /tmp.
  std::string temp_dir{};
  // The whole form body. A buffered route's body is also capped by its max_body_bytes first;
  // a streamed route (.stream_body()) is capped by this as read_form reads.
  std::size_t max_body_bytes = 32 << 20;
  // application/x-www-form-urlencoded: fields, and a name's and a value's bytes as sent.
  std::size_t max_fields = 1000;
  std::size_t max_key_bytes = 1024;
  std::size_t max_value_bytes = 1 << 20;
  // multipart/form-data: parts, one part's header block (its lines with their CRLFs) and header
  // fields, and the content of a part that is not a file.
  std::size_t max_parts = 1000;
  std::size_t max_part_header_bytes = 16 * 1024;
  std::size_t max_part_headers = 16;
  std::size_t max_field_bytes = 1 << 20;
};

// One uploaded file (a multipart part with a filename). Made by the context; not copyable.
class FormFile {
 public:
  FormFile(const FormFile&) = delete;
  FormFile& operator=(const FormFile&) = delete;
  ~FormFile();  // closes and removes the temp file, if any

  // The form field the file came in ("avatar" for name="avatar").
  std::string_view field_name() const noexcept { return field_name_; }
  // The file name the client sent (filename*, else filename), possibly "" or with a path in it:
  // never use it as a path unchecked.
  std::string_view filename() const noexcept { return filename_; }
  // The part's Content-Type; "application/octet-stream" when it had none.
  std::string_view content_type() const noexcept { return content_type_; }
  std::uint64_t size() const noexcept { return size_; }
  // True when the content is in memory (bytes()); false when spooled to path().
  bool in_memory() const noexcept { return fd_ < 0; }
  // The content when in_memory(), else "".
  std::string_view bytes() const noexcept { return fd_ >= 0 ? std::string_view{} : owned_.empty() ? borrowed_ : owned_; }
  // The temp file holding the content when spooled, else "". Removed when the request ends.
  const std::string& path() const noexcept { return path_; }

  // The whole content (from memory or the temp file). Errors: the system's (EIO, ENOMEM...).
  Result<std::string> read_all() const;
  // Up to out.size() bytes from `offset`; 0 at the end. Errors: the system's.
  Result<std::size_t> read_at(std::uint64_t offset, std::span<char> out) const;
  // Writes the content to `path` (created with mode 0666 less the umask, or truncated).
  // Errors: the system's (ENOENT for a missing directory, EACCES, ENOSPC...).
  Result<void> save_as(const std::string& path) const;

 private:
  friend class detail::FormState;
  friend class detail::FormSink;
  FormFile() = default;

  std::string field_name_;
  std::string filename_;
  std::string content_type_;
  std::uint64_t size_ = 0;
  std::string_view borrowed_;  // the content, in the stable request body (one piece)
  std::string owned_;          // or: the content, copied
  int fd_ = -1;                // spooled: the temp file, open for reading and writing
  std::string path_;
};

}  // namespace khz
