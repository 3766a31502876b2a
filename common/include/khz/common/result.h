// SPDX-License-Identifier: Apache-2.0
// khz::Result<T>: a value or a std::error_code, for I/O and protocol paths that never throw.
//
//   Result<std::uint16_t> port = transporter.start(handler);
//   if (!port) { log(port.error().message()); return; }
//   use(*port);
#pragma once

#include <cassert>
#include <optional>
#include <system_error>
#include <utility>

namespace khz {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}                // NOLINT: implicit by design
  Result(std::error_code error) : error_(error) { assert(error); }  // NOLINT

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  std::error_code error() const noexcept { return error_; }

  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
  std::error_code error_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(std::error_code error) : error_(error) {}  // NOLINT
  bool ok() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return ok(); }
  std::error_code error() const noexcept { return error_; }

 private:
  std::error_code error_;
};

}  // namespace khz
