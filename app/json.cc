// SPDX-License-Identifier: Apache-2.0
#include <khz/app/json.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace khz {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

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
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  write(w, *this);
  out.append(buffer.GetString(), buffer.GetSize());
}

std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

}  // namespace khz
