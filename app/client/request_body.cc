// SPDX-License-Identifier: Apache-2.0
// RequestBody: a request body's length and its pieces, from a file or a BodySource.
#include "request_body.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace khz::client {
namespace {

std::error_code errno_code() { return {errno, std::system_category()}; }

}  // namespace

RequestBody::~RequestBody() {
  if (fd_ >= 0) ::close(fd_);
}

std::error_code RequestBody::open(const ClientRequest& req) {
  req_ = &req;
  length_ = static_cast<std::int64_t>(req.body.size());
  if (!req.body_file.empty()) {
    fd_ = ::open(req.body_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return errno_code();
    off_t size = ::lseek(fd_, 0, SEEK_END);
    if (size < 0 || ::lseek(fd_, 0, SEEK_SET) < 0) return errno_code();
    length_ = size;
  } else if (req.body_source) {
    length_ = req.body_length;
  }
  return {};
}

Task<Result<std::string_view>> RequestBody::next() {
  if (fd_ >= 0) {
    if (chunk_.empty()) chunk_.assign(64 * 1024, '\0');
    for (;;) {
      ssize_t n = ::read(fd_, chunk_.data(), chunk_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) co_return errno_code();
      if (n == 0) break;
      sent_ += n;
      co_return std::string_view(chunk_.data(), static_cast<std::size_t>(n));
    }
    if (sent_ != length_) co_return std::make_error_code(std::errc::io_error);  // the file changed size
    co_return std::string_view();
  }
  asked_source_ = true;
  auto piece = co_await req_->body_source();
  if (!piece) co_return piece.error();
  if (piece->empty()) {
    if (length_ >= 0 && sent_ != length_) co_return std::make_error_code(std::errc::message_size);
    co_return std::string_view();
  }
  sent_ += static_cast<std::int64_t>(piece->size());
  if (length_ >= 0 && sent_ > length_) co_return std::make_error_code(std::errc::message_size);
  co_return *piece;
}

}  // namespace khz::client
