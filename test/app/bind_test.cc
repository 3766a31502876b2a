// SPDX-License-Identifier: Apache-2.0
// Binding and validation through field lists, without a server: a table of inputs per type,
// every rule, error paths, defaults, source priority, rendering, and the RFC 9457 body.
#include <khz/app/bind.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

// A request as binding sees it: values per (source, name), a content type and a body.
class FakeInput final : public khz::BindInput {
 public:
  std::vector<std::tuple<khz::Source, std::string, std::string>> values_;
  std::string content_type_ = "application/json";
  std::string body_;
  bool form_ = false;
  std::deque<std::string> kept_;

  FakeInput& add(khz::Source s, std::string name, std::string value) {
    values_.emplace_back(s, std::move(name), std::move(value));
    return *this;
  }
  std::size_t values(khz::Source source, std::string_view name, Visit visit, void* state) override {
    std::size_t n = 0;
    for (const auto& [s, k, v] : values_) {
      if (s == source && k == name) ++n, visit(state, v);
    }
    return n;
  }
  std::string_view content_type() override { return content_type_; }
  std::string_view body() override { return body_; }
  std::string_view keep(std::string_view text) override { return kept_.emplace_back(text); }
  bool body_is_form() override { return form_; }
};

enum class Role { admin, user, guest };
constexpr auto khz_enum_names(const Role*) {
  return khz::enum_names<Role>({{Role::admin, "admin"}, {Role::user, "user"}, {Role::guest, "guest"}});
}

struct Address {
  std::string city;
  std::optional<std::string> zip;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("city", &Address::city).json().required(),
        khz::field("zip", &Address::zip).json().pattern("[0-9]{5}"),
    };
  }
};

struct Everything {
  std::int64_t id = 0;
  std::string name;
  std::string_view nick;
  std::uint8_t level = 0;
  std::int16_t delta = 0;
  double ratio = 0;
  float weight = 0;
  bool active = false;
  Role role = Role::guest;
  std::optional<int> limit;
  std::vector<std::string> tags;
  std::vector<int> scores;
  std::map<std::string, int> counts;
  Address address;
  std::vector<Address> others;
  std::chrono::milliseconds timeout{0};
  std::chrono::system_clock::time_point at{};
  khz::Json extra;
  std::string token;
  std::string session;
  int page = 0;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("id", &Everything::id).path(),
        khz::field("name", &Everything::name),
        khz::field("nick", &Everything::nick),
        khz::field("level", &Everything::level),
        khz::field("delta", &Everything::delta),
        khz::field("ratio", &Everything::ratio),
        khz::field("weight", &Everything::weight),
        khz::field("active", &Everything::active),
        khz::field("role", &Everything::role),
        khz::field("limit", &Everything::limit),
        khz::field("tags", &Everything::tags).json().query("tag"),
        khz::field("scores", &Everything::scores),
        khz::field("counts", &Everything::counts).json(),
        khz::field("address", &Everything::address).json(),
        khz::field("others", &Everything::others).json(),
        khz::field("timeout", &Everything::timeout),
        khz::field("at", &Everything::at),
        khz::field("extra", &Everything::extra).json(),
        khz::field("token", &Everything::token).header("X-Token"),
        khz::field("session", &Everything::session).cookie("sid"),
        khz::field("page", &Everything::page).query().default_value("1"),
    };
  }
};

std::string errors_of(const khz::BindErrors& e) { return e.summary(); }

}  // namespace

TEST_CASE("Every supported type binds from a JSON body") {
  FakeInput in;
  in.add(khz::Source::path, "id", "42");
  in.body_ = R"({"name":"Ann","nick":"a\nn","level":255,"delta":-32768,"ratio":0.25,"weight":2,"active":true,
    "role":"admin","limit":5,"tags":["x","y"],"scores":[1,2,3],"counts":{"a":1,"b":2},
    "address":{"city":"Oslo","zip":"01234"},"others":[{"city":"Rome"}],"timeout":1500,
    "at":"2026-12-05T07:00:00.5+01:00","extra":{"any":[1,"two",null]},"unknown":{"ignored":true}})";
  auto b = khz::bind<Everything>(in);
  INFO(errors_of(b.errors()));
  REQUIRE(b);
  CHECK(b->id == 42);
  CHECK(b->name == "Ann");
  CHECK(b->nick == "a\nn");
  CHECK(b->level == 255);
  CHECK(b->delta == -32768);
  CHECK(b->ratio == 0.25);
  CHECK(b->weight == 2.0f);
  CHECK(b->active);
  CHECK(b->role == Role::admin);
  CHECK(b->limit == 5);
  CHECK(b->tags == std::vector<std::string>{"x", "y"});
  CHECK(b->scores == std::vector<int>{1, 2, 3});
  CHECK(b->counts == std::map<std::string, int>{{"a", 1}, {"b", 2}});
  CHECK(b->address.city == "Oslo");
  CHECK(b->address.zip == "01234");
  REQUIRE(b->others.size() == 1);
  CHECK(b->others[0].city == "Rome");
  CHECK(b->timeout == std::chrono::milliseconds(1500));
  CHECK(b->at == std::chrono::sys_days(std::chrono::year(2026) / 12 / 5) + std::chrono::hours(6) +
                     std::chrono::milliseconds(500));
  CHECK(b->extra.dump() == R"({"any":[1,"two",null]})");
  CHECK(b->page == 1);  // the default: no source had it
}

TEST_CASE("Text sources: path, query (repeated keys), header, cookie, defaults") {
  FakeInput in;
  in.body_.clear();
  in.add(khz::Source::path, "id", "-9")
      .add(khz::Source::query, "name", "Bo")
      .add(khz::Source::query, "tag", "a")
      .add(khz::Source::query, "tag", "b")
      .add(khz::Source::query, "active", "TRUE")
      .add(khz::Source::query, "role", "user")
      .add(khz::Source::query, "timeout", "1m30s")
      .add(khz::Source::query, "at", "2026-01-02T03:04:05Z")
      .add(khz::Source::query, "limit", "0")
      .add(khz::Source::query, "scores", "7")
      .add(khz::Source::query, "scores", "8")
      .add(khz::Source::query, "page", "3")
      .add(khz::Source::header, "X-Token", "t0k")
      .add(khz::Source::cookie, "sid", "s1");
  auto b = khz::bind<Everything>(in);
  INFO(errors_of(b.errors()));
  REQUIRE(b);
  CHECK(b->id == -9);
  CHECK(b->name == "Bo");
  CHECK(b->tags == std::vector<std::string>{"a", "b"});
  CHECK(b->active);
  CHECK(b->role == Role::user);
  CHECK(b->timeout == std::chrono::seconds(90));
  CHECK(b->at == std::chrono::sys_days(std::chrono::year(2026) / 1 / 2) + std::chrono::hours(3) +
                     std::chrono::minutes(4) + std::chrono::seconds(5));
  CHECK(b->limit == 0);
  CHECK(b->scores == std::vector<int>{7, 8});
  CHECK(b->page == 3);
  CHECK(b->token == "t0k");
  CHECK(b->session == "s1");
}

TEST_CASE("A text source wins over the JSON body; the first of path, form, query, cookie, header wins") {
  struct Both {
    std::string name;
    static constexpr auto khz_fields() {
      return std::tuple{khz::field("name", &Both::name).json().header("X-Name").query()};
    }
  };
  FakeInput in;
  in.body_ = R"({"name":"from-json"})";
  CHECK(khz::bind<Both>(in)->name == "from-json");
  in.add(khz::Source::header, "X-Name", "from-header");
  CHECK(khz::bind<Both>(in)->name == "from-header");
  in.add(khz::Source::query, "name", "from-query");
  CHECK(khz::bind<Both>(in)->name == "from-query");
}

TEST_CASE("Wrong types, numbers that do not fit and bad text are each reported with the field's path") {
  struct Case {
    const char* body;
    const char* expected;  // the summary
  };
  const Case cases[] = {
      {R"({"level":256})", "level must be an integer from 0 to 255"},
      {R"({"level":-1})", "level must be an integer from 0 to 255"},
      {R"({"delta":40000})", "delta must be an integer from -32768 to 32767"},
      {R"({"level":1.5})", "level must be an integer, not a number"},
      {R"({"name":7})", "name must be a string, not an integer"},
      {R"({"active":"yes"})", "active must be a boolean, not a string"},
      {R"({"role":"root"})", "role is not one of the allowed names"},
      {R"({"tags":"x"})", "tags must be an array, not a string"},
      {R"({"tags":["x",3]})", "tags[1] must be a string, not an integer"},
      {R"({"address":{"city":1}})", "address.city must be a string, not an integer"},
      {R"({"others":[{"city":"a"},{"city":false}]})", "others[1].city must be a string, not a boolean"},
      {R"({"counts":{"a":"1"}})", "counts.a must be an integer, not a string"},
      {R"({"at":"yesterday"})", "at must be an RFC 3339 timestamp"},
      {R"({"at":"2026-02-30T00:00:00Z"})", "at must be an RFC 3339 timestamp"},
      {R"({"at":"9999-01-01T00:00:00Z"})", "at is a timestamp out of the supported range"},  // past 2262 in ns
      {R"({"timeout":"soon"})", "timeout must be a duration such as 1h30m, 250ms or 1.5s"},
      {R"({"weight":1e300})", "weight must be a number that fits a float"},
      {R"({"name":"a","name":"b"})", "name is given twice"},
      {R"({"counts":{"a":1,"a":2}})", "counts.a is given twice"},
      {R"({"extra":[{"k":1,"k":2}]})", "extra has an object with a duplicate key"},
      {R"({"address":{"city":"x","city":"y"}})", "address.city is given twice"},
      {R"([1,2])", "the JSON body must be an object, not an array"},
      {R"({"name":)", "malformed JSON"},
  };
  for (const auto& c : cases) {
    FakeInput in;
    in.body_ = c.body;
    auto b = khz::bind<Everything>(in);
    INFO(c.body);
    CHECK_FALSE(b);
    CHECK(b.errors().status() == 400);
    CHECK(errors_of(b.errors()).find(c.expected) == 0);
  }
}

TEST_CASE("Every failing field is reported, not only the first") {
  FakeInput in;
  in.body_ = R"({"level":300,"name":5,"tags":[1,2]})";
  in.add(khz::Source::query, "page", "x");
  auto b = khz::bind<Everything>(in);
  REQUIRE(b.errors().fields().size() == 5);
  CHECK(b.errors().fields()[0].field == "level");  // in the body's order, then the query
  CHECK(b.errors().fields()[1].field == "name");
  CHECK(b.errors().fields()[2].field == "tags[0]");
  CHECK(b.errors().fields()[3].field == "tags[1]");
  CHECK(b.errors().fields()[4].field == "page");
}

TEST_CASE("Integers from text are range-checked, never wrapped") {
  struct Ints {
    std::uint8_t u8 = 0;
    std::int64_t i64 = 0;
    std::uint64_t u64 = 0;
    static constexpr auto khz_fields() {
      return std::tuple{khz::field("u8", &Ints::u8).query(), khz::field("i64", &Ints::i64).query(),
                        khz::field("u64", &Ints::u64).query()};
    }
  };
  auto bind = [](const char* key, const char* value) {
    FakeInput in;
    in.add(khz::Source::query, key, value);
    return khz::bind<Ints>(in);
  };
  CHECK(bind("u8", "255")->u8 == 255);
  CHECK_FALSE(bind("u8", "256"));
  CHECK_FALSE(bind("u8", "-0x1"));
  CHECK_FALSE(bind("u8", " 1"));
  CHECK_FALSE(bind("u8", "1 "));
  CHECK_FALSE(bind("u8", "+1"));
  CHECK_FALSE(bind("u8", ""));
  CHECK(bind("i64", "-9223372036854775808")->i64 == INT64_MIN);
  CHECK_FALSE(bind("i64", "9223372036854775808"));
  CHECK(bind("u64", "18446744073709551615")->u64 == UINT64_MAX);
  CHECK_FALSE(bind("u64", "18446744073709551616"));
  CHECK_FALSE(bind("u64", "-1"));
}

TEST_CASE("A body the struct does not bind from is 415; an empty body binds nothing") {
  FakeInput in;
  in.content_type_ = "text/plain";
  in.body_ = "hello";
  auto b = khz::bind<Everything>(in);
  CHECK(b.errors().status() == 415);
  CHECK(errors_of(b.errors()).find("Content-Type text/plain is not supported") != std::string::npos);
  in.content_type_ = "application/problem+json; charset=utf-8";
  in.body_ = R"({"name":"x"})";
  CHECK(khz::bind<Everything>(in)->name == "x");  // RFC 6839 +json
  in.content_type_ = "text/plain";
  in.body_.clear();
  CHECK(khz::bind<Everything>(in));
}

namespace {

struct Signup {
  std::string name;
  std::optional<int> age;
  std::optional<std::string> email;
  std::vector<std::string> tags;
  std::string site;
  std::string id;
  std::string ip;
  std::string plan = "free";
  int seats = 1;
  Address address;
  std::chrono::sys_seconds start{};
  std::chrono::sys_seconds end{};
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("name", &Signup::name).required().length(2, 5),
        khz::field("age", &Signup::age).required().range(18, 130),
        khz::field("email", &Signup::email).email(),
        khz::field("tags", &Signup::tags).max_length(2).length(0, 2).pattern("[a-z]+"),
        khz::field("site", &Signup::site).url(),
        khz::field("id", &Signup::id).uuid(),
        khz::field("ip", &Signup::ip).ip(),
        khz::field("plan", &Signup::plan).one_of("free|pro"),
        khz::field("seats", &Signup::seats).one_of("1|5|10").check([](const int& n) { return n != 5; }, "five is reserved"),
        khz::field("address", &Signup::address).json(),
        khz::field("start", &Signup::start),
        khz::field("end", &Signup::end),
        khz::check<Signup>("end", [](const Signup& s) { return s.end >= s.start; }, "must not be before start"),
    };
  }
};

Signup valid_signup() {
  Signup s;
  s.name = "Ann";
  s.age = 30;
  s.email = "ann@example.org";
  s.site = "https://example.org:8443/x?y";
  s.id = "123e4567-e89b-12d3-a456-426614174000";
  s.ip = "2001:db8::1";
  s.address.city = "Oslo";
  return s;
}

}  // namespace

TEST_CASE("Validation: each rule passes a good value and fails a bad one with its message") {
  CHECK(khz::validate(valid_signup()).empty());
  struct Case {
    void (*spoil)(Signup&);
    const char* expected;
  };
  const Case cases[] = {
      {[](Signup& s) { s.name.clear(); }, "name is required"},
      {[](Signup& s) { s.name = "A"; }, "name must be 2 to 5 characters long"},
      {[](Signup& s) { s.name = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"; }, ""},  // 5 characters, 10 bytes: fine
      {[](Signup& s) { s.name = "abcdef"; }, "name must be 2 to 5 characters long"},
      {[](Signup& s) { s.age.reset(); }, "age is required"},
      {[](Signup& s) { s.age = 17; }, "age must be at least 18"},
      {[](Signup& s) { s.age = 131; }, "age must be at most 130"},
      {[](Signup& s) { s.email = "ann@"; }, "email must be an email address"},
      {[](Signup& s) { s.email = "a b@example.org"; }, "email must be an email address"},
      {[](Signup& s) { s.email.reset(); }, ""},  // optional: absent is fine
      {[](Signup& s) { s.tags = {"a", "b", "c"}; }, "tags must have at most 2 items"},
      {[](Signup& s) { s.tags = {"a", "B"}; }, "tags[1] must match [a-z]+"},
      {[](Signup& s) { s.site = "example.org"; }, "site must be an absolute URL"},
      {[](Signup& s) { s.site = "http://exa mple.org"; }, "site must be an absolute URL"},
      {[](Signup& s) { s.site = "http://[::1]:80/"; }, ""},
      {[](Signup& s) { s.id = "123e4567-e89b-12d3-a456-42661417400"; }, "id must be a UUID"},
      {[](Signup& s) { s.ip = "256.1.1.1"; }, "ip must be an IP address"},
      {[](Signup& s) { s.ip = "10.0.0.1"; }, ""},
      {[](Signup& s) { s.plan = "gold"; }, "plan must be one of free|pro"},
      {[](Signup& s) { s.seats = 7; }, "seats must be one of 1|5|10"},
      {[](Signup& s) { s.seats = 5; }, "seats five is reserved"},
      {[](Signup& s) { s.address.city.clear(); }, "address.city is required"},
      {[](Signup& s) { s.address.zip = "123"; }, "address.zip must match [0-9]{5}"},
      {[](Signup& s) { s.start = std::chrono::sys_seconds(std::chrono::seconds(10)); }, "end must not be before start"},
  };
  for (const auto& c : cases) {
    Signup s = valid_signup();
    c.spoil(s);
    std::string got = errors_of(khz::validate(s));
    INFO(c.expected << " / got: " << got);
    CHECK(got == c.expected);
  }
}

TEST_CASE("Email addresses: the WHATWG grammar, label by label") {
  struct Case {
    const char* text;
    bool valid;
  };
  const Case cases[] = {
      {"ann@example.org", true},
      {"a.b+c!#$%&'*/=?^_`{|}~-@x.io", true},
      {"a@b", true},
      {"a@b-c.d-e", true},
      {"a@0.9", true},
      {"", false},
      {"@example.org", false},
      {"ann@", false},
      {"ann", false},
      {"a b@example.org", false},
      {"a\"b@example.org", false},
      {"a@b@c", false},
      {"a@-b.org", false},
      {"a@b-.org", false},
      {"a@b..org", false},
      {"a@.b.org", false},
      {"a@b.org.", false},
      {"a@b_c.org", false},
      {"\xc3\xa9@example.org", false},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(khz::detail::matches_format(khz::Format::email, c.text) == c.valid);
  }
  std::string local(64, 'a');
  CHECK(khz::detail::matches_format(khz::Format::email, local + "@x.org"));
  CHECK_FALSE(khz::detail::matches_format(khz::Format::email, local + "a@x.org"));  // local part over 64
  std::string label(63, 'b');
  CHECK(khz::detail::matches_format(khz::Format::email, "a@" + label + ".org"));
  CHECK_FALSE(khz::detail::matches_format(khz::Format::email, "a@" + label + "b.org"));  // label over 63
  std::string domain;
  while (domain.size() < 250) domain += "abcdefghi.";
  domain += "org";  // 253 characters
  CHECK(khz::detail::matches_format(khz::Format::email, "a@" + domain));
  CHECK_FALSE(khz::detail::matches_format(khz::Format::email, "a@x" + domain));  // domain over 253
}

namespace {
struct Lengths {
  std::string at_least;
  std::string at_most;
  std::string between;
  std::vector<int> items;
  std::vector<int> some_items;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("at_least", &Lengths::at_least).min_length(3),
        khz::field("at_most", &Lengths::at_most).max_length(2),
        khz::field("between", &Lengths::between).length(2, 3).message("two or three, please"),
        khz::field("items", &Lengths::items).min_length(1),
        khz::field("some_items", &Lengths::some_items).length(1, 2),
    };
  }
};
}  // namespace

TEST_CASE("Length rules count characters, whatever the byte count says") {
  const std::string e = "\xc3\xa9";   // 1 character, 2 bytes
  const std::string g = "\xf0\x9f\x98\x80";  // 1 character, 4 bytes
  struct Case {
    Lengths value;
    const char* expected;
  };
  const Case cases[] = {
      {{"abc", "ab", "ab", {1}, {1}}, ""},
      {{"ab", "ab", "ab", {1}, {1}}, "at_least must be at least 3 characters long"},
      {{e + e, "ab", "ab", {1}, {1}}, "at_least must be at least 3 characters long"},  // 4 bytes, 2 characters
      {{g + g + g, "ab", "ab", {1}, {1}}, ""},                                        // 12 bytes, 3 characters
      {{"abc", "abc", "ab", {1}, {1}}, "at_most must be at most 2 characters long"},
      {{"abc", e + e, "ab", {1}, {1}}, ""},                                           // 4 bytes, 2 characters
      {{"abc", g + g, "ab", {1}, {1}}, ""},                                           // 8 bytes, 2 characters
      {{"abc", g + g + "a", "ab", {1}, {1}}, "at_most must be at most 2 characters long"},
      {{"abc", "ab", "a", {1}, {1}}, "between two or three, please"},
      {{"abc", "ab", e + e + e + e, {1}, {1}}, "between two or three, please"},       // 8 bytes, 4 characters
      {{"abc", "ab", "ab", {}, {1}}, "items must have at least 1 items"},
      {{"abc", "ab", "ab", {1}, {1, 2, 3}}, "some_items must have 1 to 2 items"},
  };
  for (const auto& c : cases) {
    std::string got = errors_of(khz::validate(c.value));
    INFO(c.expected << " / got: " << got);
    CHECK(got == c.expected);
  }
}

TEST_CASE("Patterns run in linear time on long input (RE2)") {
  Signup s = valid_signup();
  s.tags = {std::string(200000, 'a') + "!"};
  CHECK(errors_of(khz::validate(s)) == "tags[0] must match [a-z]+");
}

TEST_CASE("Simple patterns match in one pass and agree with RE2; the rest go to RE2") {
  using khz::detail::match_pattern_re2;
  using khz::detail::match_simple_pattern;
  struct Case {
    std::string_view pattern;
    bool simple;
  };
  const Case cases[] = {
      {"[0-9]{5}", true}, {"^[a-z][a-z0-9_-]{2,15}$", true},
      {"[A-Z]{2}-\\d+", true}, {"\\w+@\\w+", true}, {"[a-z]+", true}, {"", true}, {"^$", true},
      {"x?y*z+", true}, {"[]a]+", true}, {"[-a]{1,}", true}, {"[a-]{0,3}b", true}, {"\\.\\+\\*", true},
      {"a{2,1}", false}, {"a*a", false}, {"a?a?b", false}, {"[a-c]*[b-d]", false}, {"a*b?a", false},
      {".+", false}, {"[^0-9]+", false}, {"\\D", false}, {"a|b", false}, {"(ab)+", false}, {"a+?", false},
      {"a**", false}, {"a{1001}", false}, {"[[:alpha:]]", false}, {"[z-a]", false}, {"\\bword", false},
      {"a{3", false}, {"\\pL", false}, {"(?i)abc", false}, {"\\s+", true}, {"a{,2}", false}, {"_{0,093}", false}, {"a{01}", false}, {"a{0}b", true},
  };
  const std::string_view values[] = {"", "12345", "1234", "123456", "abc", "ab-1", "Zed", "a_b", "AB-7", "AB-",
                                     "x@y", "xyz", "yyzz", "z", "]]a", "-a-", "aab", "ab", "a", "b", "aa",
                                     ".+*", " \t", "é", "12\xff", "a\nb", "aaaa"};
  for (const Case& c : cases) {
    for (std::string_view v : values) {
      INFO("pattern " << c.pattern << " value " << v);
      int simple = match_simple_pattern(c.pattern, v);
      CHECK((simple >= 0) == c.simple);
      if (simple >= 0) CHECK((simple == 1) == match_pattern_re2(c.pattern, v));
      // what validation uses: the cached form, either way RE2's answer
      CHECK(khz::detail::matches_pattern(c.pattern, v) == match_pattern_re2(c.pattern, v));
    }
  }
}

TEST_CASE("bind_and_validate reports binding errors, else rule errors") {
  FakeInput in;
  in.body_ = R"({"name":"Ann","age":"old"})";
  auto b = khz::bind_and_validate<Signup>(in);
  CHECK(errors_of(b.errors()) == "age must be an integer, not a string");
  in.body_ = R"({"name":"A","age":12,"address":{"city":"x"}})";
  b = khz::bind_and_validate<Signup>(in);
  CHECK(errors_of(b.errors()) == "name must be 2 to 5 characters long; age must be at least 18");
}

TEST_CASE("Rendering through the field list; unset optionals are left out; from_json round-trips") {
  Everything e;
  e.id = 1;
  e.name = "q\"uote";
  e.role = Role::user;
  e.tags = {"a"};
  e.address.city = "Oslo";
  e.timeout = std::chrono::milliseconds(250);
  e.at = std::chrono::sys_days(std::chrono::year(2026) / 12 / 5) + std::chrono::milliseconds(1500);
  e.extra = khz::H{{"k", 1}};
  std::string text = khz::to_json(e);
  CHECK(text ==
        R"({"id":1,"name":"q\"uote","nick":"","level":0,"delta":0,"ratio":0,"weight":0,"active":false,"role":"user",)"
        R"("tags":["a"],"scores":[],"counts":{},"address":{"city":"Oslo"},"others":[],"timeout":250,)"
        R"("at":"2026-12-05T00:00:01.5Z","extra":{"k":1},"token":"","session":"","page":0})");
  auto back = khz::from_json<Everything>(text);
  INFO(errors_of(back.errors()));
  REQUIRE(back);
  CHECK(khz::to_json(*back) == text);
}

TEST_CASE("from_json: members no field names are ignored, or rejected by option with their paths") {
  const std::string text = R"({"id":1,"nmae":"x","address":{"city":"Oslo","county":"y"},"others":[{"city":"a","zip2":1}]})";
  auto lax = khz::from_json<Everything>(text);
  INFO(errors_of(lax.errors()));
  REQUIRE(lax);
  CHECK(lax->address.city == "Oslo");
  auto strict = khz::from_json<Everything>(text, {}, khz::UnknownMembers::reject);
  REQUIRE_FALSE(strict);
  CHECK(errors_of(strict.errors()) ==
        "nmae is not a known field; address.county is not a known field; others[0].zip2 is not a known field");
  CHECK(strict->address.city == "Oslo");  // what is known still binds
}

TEST_CASE("The problem+json body names every failing field") {
  khz::BindErrors errors;
  errors.add("name", "is required");
  errors.add("address.zip", "must match [0-9]{5}");
  CHECK(errors.status() == 400);
  CHECK(errors.problem_json() ==
        R"({"type":"about:blank","title":"Bad Request","status":400,"detail":"2 fields are invalid",)"
        R"("errors":[{"field":"name","message":"is required"},{"field":"address.zip","message":"must match [0-9]{5}"}]})");
  errors.add("", "Content-Type text/plain is not supported", 415);
  CHECK(errors.status() == 415);
  auto parsed = khz::Json::parse(errors.problem_json());
  REQUIRE(parsed);
  CHECK(parsed->find("errors")->array()->size() == 3);
}

TEST_CASE("A struct bound only from text leaves the body alone") {
  struct QueryOnly {
    std::string name;
    static constexpr auto khz_fields() { return std::tuple{khz::field("name", &QueryOnly::name).query()}; }
  };
  FakeInput in;
  in.content_type_ = "application/octet-stream";
  in.body_ = "raw upload bytes";
  in.add(khz::Source::query, "name", "file.bin");
  auto b = khz::bind<QueryOnly>(in);
  REQUIRE(b);
  CHECK(b->name == "file.bin");
}

namespace {
// A struct that holds itself (through a vector and a map): binding, validation and rendering
// recurse through the same field list.
struct TreeNode {
  std::string name;
  std::vector<TreeNode> children;
  std::map<std::string, TreeNode> named;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("name", &TreeNode::name).json().required().max_length(8),
        khz::field("children", &TreeNode::children).json(),
        khz::field("named", &TreeNode::named).json(),
    };
  }
};
}  // namespace

TEST_CASE("A recursive struct binds, validates and renders at every depth") {
  const std::string text =
      R"({"name":"root","children":[{"name":"a","children":[{"name":"a1"}]},{"name":"b"}],)"
      R"("named":{"x":{"name":"x","named":{"y":{"name":"y"}}}}})";
  auto tree = khz::from_json<TreeNode>(text);
  INFO(errors_of(tree.errors()));
  REQUIRE(tree);
  REQUIRE(tree->children.size() == 2);
  CHECK(tree->children[0].children.at(0).name == "a1");
  CHECK(tree->named.at("x").named.at("y").name == "y");
  // containers render even when empty (only unset optionals are left out)
  CHECK(khz::to_json(*tree) ==
        R"({"name":"root","children":[{"name":"a","children":[{"name":"a1","children":[],"named":{}}],"named":{}},)"
        R"({"name":"b","children":[],"named":{}}],"named":{"x":{"name":"x","children":[],"named":{"y":{"name":"y",)"
        R"("children":[],"named":{}}}}}})");
  CHECK(khz::validate(*tree).empty());
  tree->children[0].children[0].name.clear();
  tree->named.at("x").named.at("y").name = "far too long";
  CHECK(errors_of(khz::validate(*tree)) ==
        "children[0].children[0].name is required; named.x.named.y.name must be at most 8 characters long");
  auto bad = khz::from_json<TreeNode>(R"({"name":"r","children":[{"name":1}]})");
  CHECK(errors_of(bad.errors()) == "children[0].name must be a string, not an integer");
}

namespace {
struct Window {
  int start = 0;
  int end = 0;
  std::string secret;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("start", &Window::start),
        khz::check<Window>("end", [](const Window& w) { return w.end >= w.start; }, "must not be before start"),
        khz::field("end", &Window::end),
        khz::field("secret", &Window::secret).skip_json(),
    };
  }
};
}  // namespace

// A bind's `seen` set has a bit per field, checks not counted (64 fields bind however many checks).
static_assert(khz::detail::seen_bit<Window, 0>() == 1);
static_assert(khz::detail::seen_bit<Window, 2>() == 2);
static_assert(khz::detail::seen_bit<Window, 3>() == 4);

TEST_CASE("Rendering skips the list's checks and skip_json() fields; binding and validation keep them") {
  Window w{.start = 2, .end = 5, .secret = "s"};
  CHECK(khz::to_json(w) == R"({"start":2,"end":5})");
  auto back = khz::from_json<Window>(R"({"start":7,"end":3,"secret":"t"})");
  REQUIRE(back);
  CHECK(back->secret == "t");
  CHECK(errors_of(khz::validate(*back)) == "end must not be before start");
}
