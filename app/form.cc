// SPDX-License-Identifier: Apache-2.0
// Forms for handlers: RequestContext's form accessors and read_form(), FormFile, and the sink
// that turns multipart events into fields and (in memory or spooled) files.
#include <khz/app/form.h>
#include <khz/app/request_context.h>
#include <khz/common/log.h>
#include <khz/protocol/form.h>
#include <khz/protocol/response.h>

#include "form_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

namespace khz {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

// Writes all of `bytes` to `fd`.
std::error_code write_all(int fd, std::string_view bytes) noexcept {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Reads up to out.size() bytes at `offset`, retrying short reads until the end of the file.
Result<std::size_t> pread_full(int fd, std::uint64_t offset, std::span<char> out) noexcept {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

std::string temp_directory(const FormOptions& options) {
  if (!options.temp_dir.empty()) return options.temp_dir;
  const char* env = std::getenv("TMPDIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string("/tmp");
}

protocol::UrlencodedLimits urlencoded_limits(const FormOptions& o) {
  return {.max_fields = o.max_fields, .max_key_bytes = o.max_key_bytes, .max_value_bytes = o.max_value_bytes,
          .max_body_bytes = o.max_body_bytes};
}

protocol::MultipartLimits multipart_limits(const FormOptions& o) {
  return {.max_parts = o.max_parts, .max_header_bytes = o.max_part_header_bytes, .max_headers = o.max_part_headers,
          .max_field_bytes = o.max_field_bytes, .max_body_bytes = o.max_body_bytes};
}

const FormOptions& default_form_options() {
  static const FormOptions options;
  return options;
}

}  // namespace

// ---- FormFile

FormFile::~FormFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
}

Result<std::size_t> FormFile::read_at(std::uint64_t offset, std::span<char> out) const {
  if (fd_ >= 0) return pread_full(fd_, offset, out);
  const std::string_view content = bytes();
  if (offset >= content.size()) return std::size_t{0};
  const std::size_t n = std::min<std::size_t>(out.size(), content.size() - offset);
  std::copy_n(content.data() + offset, n, out.data());
  return n;
}

Result<std::string> FormFile::read_all() const {
  if (fd_ < 0) return std::string(bytes());
  std::string out(size_, '\0');
  auto n = pread_full(fd_, 0, out);
  if (!n) return n.error();
  out.resize(*n);
  return out;
}

Result<void> FormFile::save_as(const std::string& path) const {
  const int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (out < 0) return last_error();
  std::error_code ec;
  if (fd_ < 0) {
    ec = write_all(out, bytes());
  } else {
    std::string buffer(64 * 1024, '\0');
    for (std::uint64_t offset = 0; offset < size_ && !ec;) {
      auto n = pread_full(fd_, offset, buffer);
      if (!n) {
        ec = n.error();
      } else if (*n == 0) {
        ec = std::make_error_code(std::errc::io_error);  // the temp file is shorter than it was written
      } else {
        ec = write_all(out, std::string_view(buffer).substr(0, *n));
        offset += *n;
      }
    }
  }
  if (::close(out) != 0 && !ec) ec = last_error();
  if (ec) return ec;
  return {};
}

namespace detail {

// Multipart events into a FormState: fields (views into a stable body, else copies in the
// request's arena) and files (in memory up to the threshold, else spooled).
class FormSink final : public protocol::MultipartHandler {
 public:
  FormSink(FormState& state, Arena& arena, const FormOptions& options, bool stable)
      : state_(state), arena_(arena), options_(options), stable_(stable) {}

  std::error_code on_part_begin(const protocol::MultipartPart& part) override {
    pieces_ = 0;
    scratch_.clear();
    if (part.is_file) {
      file_ = &state_.add_file();
      file_->field_name_ = part.name;
      file_->filename_ = part.filename;
      file_->content_type_ = part.content_type.empty() ? std::string_view("application/octet-stream") : part.content_type;
    } else {
      file_ = nullptr;
      name_ = arena_.copy(part.name);  // the parser's header buffer is reused for the next part
    }
    return {};
  }

  std::error_code on_part_data(std::string_view bytes) override {
    ++pieces_;
    if (file_ != nullptr) return file_data(bytes);
    if (pieces_ == 1 && stable_) {
      first_ = bytes;
    } else {
      if (pieces_ == 2 && stable_) scratch_.assign(first_);
      scratch_.append(bytes);
    }
    return {};
  }

  std::error_code on_part_end() override {
    if (file_ == nullptr) {
      std::string_view value;
      if (pieces_ == 1 && stable_) value = first_;
      else if (pieces_ > 0) value = arena_.copy(scratch_);
      state_.fields.push_back({name_, value});
    }
    file_ = nullptr;
    return {};
  }

 private:
  std::error_code file_data(std::string_view bytes) {
    FormFile& f = *file_;
    if (f.fd_ < 0 && f.size_ + bytes.size() <= options_.memory_threshold) {
      if (f.size_ == 0 && stable_) {
        f.borrowed_ = bytes;  // the buffered body: no copy
      } else {
        if (!f.borrowed_.empty()) f.owned_.assign(std::exchange(f.borrowed_, {}));
        f.owned_.append(bytes);
      }
    } else {
      if (f.fd_ < 0) {
        if (auto ec = spool(f)) return ec;
      }
      if (auto ec = write_all(f.fd_, bytes)) {
        KHZ_LOG(error, "form: writing upload " << f.path_ << ": " << ec.message());
        return ec;
      }
    }
    f.size_ += bytes.size();
    return {};
  }

  // Moves `f` from memory to a new temp file (0600, close-on-exec).
  std::error_code spool(FormFile& f) {
    std::string path = temp_directory(options_) + "/khz-upload-XXXXXX";
    const int fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) {
      auto ec = last_error();
      KHZ_LOG(error, "form: cannot create a temp file in " << temp_directory(options_) << ": " << ec.message());
      return ec;
    }
    f.fd_ = fd;
    f.path_ = std::move(path);
    const std::string_view held = f.owned_.empty() ? f.borrowed_ : std::string_view(f.owned_);
    if (auto ec = write_all(fd, held)) return ec;
    f.borrowed_ = {};
    std::string().swap(f.owned_);
    return {};
  }

  FormState& state_;
  Arena& arena_;
  const FormOptions& options_;
  const bool stable_;  // the bytes fed outlive the request's handler (a buffered body)
  FormFile* file_ = nullptr;
  std::string_view name_;
  std::string_view first_;
  std::string scratch_;
  std::size_t pieces_ = 0;
};

}  // namespace detail

// ---- RequestContext: forms

detail::FormState& RequestContext::form_state() {
  if (!form_) form_ = std::make_unique<detail::FormState>();
  return *form_;
}

void RequestContext::end_form() noexcept {
  if (form_) form_->clear();
}

namespace {

// Parses the whole of `body` (stable) into `state` as `content_type` says.
std::error_code parse_form_body(detail::FormState& state, std::string_view content_type, std::string_view body,
                                Arena& arena, const FormOptions& options) {
  switch (protocol::form_encoding(content_type)) {
    case protocol::FormEncoding::urlencoded:
      return protocol::parse_urlencoded(body, state.fields, arena, urlencoded_limits(options));
    case protocol::FormEncoding::multipart: {
      auto boundary = protocol::multipart_boundary(content_type);
      if (!boundary) return boundary.error();
      detail::FormSink sink(state, arena, options, true);
      protocol::MultipartParser parser(*boundary, sink, multipart_limits(options));
      if (auto ec = parser.feed(body)) return ec;
      return parser.finish();
    }
    case protocol::FormEncoding::none:
      break;
  }
  return protocol::form_errc::not_a_form;
}

}  // namespace

namespace {

// One piece of a streamed body into a parser (the urlencoded parser copies what it keeps).
std::error_code feed_piece(protocol::UrlencodedParser& p, std::string_view piece) { return p.feed(piece, false); }
std::error_code feed_piece(protocol::MultipartParser& p, std::string_view piece) { return p.feed(piece); }

// Feeds `parser` the request body as it arrives, then finishes it; the first error. The caller
// awaits it at once, so the references outlive the frame.
template <class Parser>
Task<std::error_code> feed_body(RequestContext& ctx, Parser& parser) {
  for (;;) {
    auto piece = co_await ctx.read_body_chunk();
    if (!piece) co_return piece.error();
    if (piece->empty()) co_return parser.finish();
    if (std::error_code ec = feed_piece(parser, *piece)) co_return ec;
  }
}

}  // namespace

void RequestContext::parse_buffered_form() {
  detail::FormState& state = form_state();
  if (state.parsed || body_streamed()) return;  // a streamed body is read by read_form()
  state.parsed = true;
  const FormOptions& options = form_options_ != nullptr ? *form_options_ : default_form_options();
  state.error = parse_form_body(state, header("Content-Type"), body(), request().arena(), options);
  if (state.error) {  // no half forms
    state.fields.clear();
    state.files.clear();
  }
}

Task<Result<void>> RequestContext::read_form() {
  check_live("read_form");
  detail::FormState& state = form_state();
  if (!state.parsed && body_streamed()) {
    state.parsed = true;
    const FormOptions& options = form_options_ != nullptr ? *form_options_ : default_form_options();
    const std::string_view content_type = header("Content-Type");
    const protocol::FormEncoding encoding = protocol::form_encoding(content_type);
    std::error_code ec;
    if (encoding == protocol::FormEncoding::urlencoded) {
      protocol::UrlencodedParser parser(state.fields, request().arena(), urlencoded_limits(options));
      ec = co_await feed_body(*this, parser);
    } else if (encoding == protocol::FormEncoding::multipart) {
      auto boundary = protocol::multipart_boundary(content_type);
      if (!boundary) {
        ec = boundary.error();
      } else {
        detail::FormSink sink(state, request().arena(), options, false);
        protocol::MultipartParser parser(*boundary, sink, multipart_limits(options));
        ec = co_await feed_body(*this, parser);
      }
    } else {
      ec = protocol::form_errc::not_a_form;
    }
    if (ec) {
      state.error = ec;
      state.fields.clear();
      state.files.clear();  // removes the temp files now
    }
  } else {
    parse_buffered_form();
  }
  if (!state.error) co_return Result<void>{};
  const int status = protocol::form_error_status(state.error);
  if (status >= 500) {
    KHZ_LOG(error, "form: " << method() << " " << path() << ": " << status << ": " << state.error.message());
  } else {
    KHZ_LOG(info, "form: " << method() << " " << path() << ": " << status << ": " << state.error.message());
  }
  std::string text = std::to_string(status) + " " + std::string(reason_phrase(status));
  std::transform(text.begin(), text.end(), text.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  string(status, text + ": " + state.error.message());
  co_return Result<void>{state.error};
}

std::string_view RequestContext::form(std::string_view key) {
  check_live("form");
  parse_buffered_form();
  for (const auto& field : form_->fields) {
    if (field.name == key) return field.value;
  }
  return {};
}

std::vector<std::string_view> RequestContext::form_all(std::string_view key) {
  check_live("form_all");
  parse_buffered_form();
  std::vector<std::string_view> out;
  for (const auto& field : form_->fields) {
    if (field.name == key) out.push_back(field.value);
  }
  return out;
}

bool RequestContext::has_form(std::string_view key) {
  check_live("has_form");
  parse_buffered_form();
  return std::any_of(form_->fields.begin(), form_->fields.end(), [&](const auto& f) { return f.name == key; });
}

const FormFile* RequestContext::form_file(std::string_view key) {
  check_live("file");
  parse_buffered_form();
  for (const auto& f : form_->files) {
    if (f->field_name() == key) return f.get();
  }
  return nullptr;
}

std::vector<const FormFile*> RequestContext::form_files(std::string_view key) {
  check_live("files");
  parse_buffered_form();
  std::vector<const FormFile*> out;
  for (const auto& f : form_->files) {
    if (f->field_name() == key) out.push_back(f.get());
  }
  return out;
}

std::string_view RequestContext::query_or(std::string_view key, std::string_view fallback) {
  check_live("query_or");
  parse_query();
  for (const auto& field : query_) {
    if (field.name == key) return field.value;
  }
  return fallback;
}

}  // namespace khz

namespace khz {

// ---- binding's view of the form (<khz/app/bind.h>, Source::form)

std::size_t RequestContext::visit_form(std::string_view name, BindInput::Visit visit, void* state) {
  parse_buffered_form();
  std::size_t found = 0;
  for (const auto& field : form_->fields) {
    if (field.name == name) ++found, visit(state, field.value);
  }
  return found;
}

bool RequestContext::body_is_form() {
  return protocol::form_encoding(header("Content-Type")) != protocol::FormEncoding::none;
}

std::error_code RequestContext::form_parse_error() {
  parse_buffered_form();
  return form_->error;
}

}  // namespace khz
