// SPDX-License-Identifier: Apache-2.0
// Fuzzes the JSON reader and binding: any bytes as a JSON body bound to a struct with every
// kind of member (no crash, no leak, no hang; what khz renders back is JSON), and Json::parse
// checked to round-trip: a text it accepts dumps to a text that parses and dumps the same.
#include <khz/app/bind.h>

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

enum class Kind { a, b };
constexpr auto khz_enum_names(const Kind*) { return khz::enum_names<Kind>({{Kind::a, "a"}, {Kind::b, "b"}}); }

struct Inner {
  std::string s;
  std::optional<std::int8_t> i8;
  std::vector<Inner> children;
  static constexpr auto khz_fields() {
    return std::tuple{khz::field("s", &Inner::s).pattern("[a-z]*"), khz::field("i8", &Inner::i8).range(-5, 5),
                      khz::field("children", &Inner::children).max_length(4)};
  }
};

struct Target {
  std::string name;
  std::string_view view;
  std::uint16_t port = 0;
  std::int64_t big = 0;
  double ratio = 0;
  float small = 0;
  bool flag = false;
  Kind kind = Kind::a;
  std::vector<std::uint32_t> ids;
  std::map<std::string, Inner> by_name;
  Inner inner;
  std::chrono::seconds ttl{0};
  std::chrono::system_clock::time_point at{};
  khz::Json any;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("name", &Target::name).required().length(1, 8).email(),
        khz::field("view", &Target::view).uuid(),
        khz::field("port", &Target::port).min(1),
        khz::field("big", &Target::big),
        khz::field("ratio", &Target::ratio).range(0, 1),
        khz::field("small", &Target::small),
        khz::field("flag", &Target::flag),
        khz::field("kind", &Target::kind).one_of("a"),
        khz::field("ids", &Target::ids).max_length(8),
        khz::field("by_name", &Target::by_name).json(),
        khz::field("inner", &Target::inner).json(),
        khz::field("ttl", &Target::ttl),
        khz::field("at", &Target::at),
        khz::field("any", &Target::any).json(),
    };
  }
};

class BodyInput final : public khz::BindInput {
 public:
  explicit BodyInput(std::string_view body) : body_(body) {}
  std::size_t values(khz::Source, std::string_view, Visit, void*) override { return 0; }
  std::string_view content_type() override { return "application/json"; }
  std::string_view body() override { return body_; }
  std::string_view keep(std::string_view text) override { return kept_.emplace_back(text); }

 private:
  std::string_view body_;
  std::deque<std::string> kept_;  // a deque: the strings never move, views into them stay valid
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  {
    BodyInput input(text);
    auto bound = khz::bind_and_validate<Target>(input);
    std::string rendered = bound ? khz::to_json(*bound) : bound.errors().problem_json();
    if (!khz::Json::parse(rendered)) std::abort();  // what khz renders is always JSON
  }
  khz::JsonError error;
  auto first = khz::Json::parse(text, &error);
  if (first) {
    auto second = khz::Json::parse(first->dump());
    if (!second || second->dump() != first->dump()) std::abort();
  } else if (error.message.empty()) {
    std::abort();  // a refusal always says why
  }
  return 0;
}
