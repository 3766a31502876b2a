// SPDX-License-Identifier: Apache-2.0
// Fields a log line carries without the call naming them: the calling thread's scoped fields
// and the process's context provider.
//
//   {
//     khz::log::ScopedFields scope({khz::log::f("request_id", id), khz::log::f("tenant", t)});
//     KHZ_LOG(info, "charged");   // ... msg="charged" request_id=5f0c tenant=acme
//   }
//
//   // A provider adds what the process knows (a tenant, a shard); it runs on the thread that
//   // logs, for each line.
//   khz::log::set_context_provider([](khz::log::ContextFields& out) noexcept { out.add("shard", shard_id); });
//
// A line written while a traced request's coroutine runs (<khz/common/trace_ambient.h>, the
// tracing middleware) carries trace_id and span_id without any provider.
// Order on a line: the call's fields, the scoped fields (outermost scope first), trace_id and
// span_id, then the provider's. ScopedFields copies its keys and strings; it belongs to one
// thread and must be destroyed on it. In a coroutine, do not keep one alive across a co_await:
// the loop would run other requests' code while it is in scope.
#pragma once

#include <khz/common/log.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace khz::log {

// Fields gathered for one line; copies keys and strings (valid until the line is written).
class ContextFields {
 public:
  // Any value khz::log::f takes: out.add("tenant", name), out.add("shard", 3).
  template <class T>
  void add(std::string_view key, const T& value) {
    add(f(key, value));
  }
  void add(const Field& field);

  // The fields, with views into this object (valid until the next add() or clear()).
  std::span<const Field> fields() noexcept;
  void clear() noexcept;
  bool empty() const noexcept { return fields_.empty(); }

 private:
  struct Span {
    std::size_t offset, size;
  };
  Span keep(std::string_view s);

  std::vector<Field> fields_;          // key and text resolved by fields()
  std::vector<Span> spans_;            // per field: key, text
  std::string arena_;                  // the copied keys and strings; reused
};

// Called on the logging thread for every line written (not for lines below the threshold).
// Must not throw or block; a provider that logs is not called again for that nested line.
using ContextProvider = void (*)(ContextFields& out) noexcept;

// nullptr removes the provider. Set it at startup; a line being written meanwhile may see
// either the old or the new one.
void set_context_provider(ContextProvider provider) noexcept;
ContextProvider context_provider() noexcept;

class ScopedFields {
 public:
  ScopedFields(std::initializer_list<Field> fields);
  ~ScopedFields();
  ScopedFields(const ScopedFields&) = delete;
  ScopedFields& operator=(const ScopedFields&) = delete;

  // This thread's scoped fields, outermost first, into `out`.
  static void collect(ContextFields& out);

 private:
  ContextFields fields_;
  ScopedFields* outer_;
  ScopedFields* inner_ = nullptr;
};

}  // namespace khz::log
