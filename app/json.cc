// SPDX-License-Identifier: Apache-2.0
#include <khz/app/json.h>

#include <rapidjson/allocators.h>
#include <rapidjson/writer.h>

#include <cstddef>

namespace khz {
namespace {

// Writes straight into the caller's string (a response body keeps its capacity between
// requests, so a warm one allocates nothing), rather than into a buffer that is then copied.
struct StringOut {
  using Ch = char;
  std::string& s;
  void Put(char c) { s.push_back(c); }
  void Flush() {}
};

// The writer's nesting stack lives in a pool over a buffer on the C++ stack: no heap allocation
// for documents nested less than a few dozen levels.
using StackPool = rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator>;
using Writer = rapidjson::Writer<StringOut, rapidjson::UTF8<>, rapidjson::UTF8<>, StackPool>;

void write(Writer& w, const Json& j) {
  std::visit(
      [&w](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          w.Null();
        } else if constexpr (std::is_same_v<T, bool>) {
          w.Bool(v);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          w.Int64(v);
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          w.Uint64(v);
        } else if constexpr (std::is_same_v<T, double>) {
          w.Double(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
        } else if constexpr (std::is_same_v<T, Json::Array>) {
          w.StartArray();
          for (const auto& e : v) write(w, e);
          w.EndArray();
        } else {
          w.StartObject();
          for (const auto& [k, e] : v) {
            w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
            write(w, e);
          }
          w.EndObject();
        }
      },
      j.variant());
}

}  // namespace

void Json::dump_to(std::string& out) const {
  alignas(std::max_align_t) char stack_space[1024];
  StackPool pool(stack_space, sizeof stack_space);
  StringOut stream{out};
  Writer w(stream, &pool);
  write(w, *this);
}

std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

}  // namespace khz
