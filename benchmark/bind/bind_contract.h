// SPDX-License-Identifier: Apache-2.0
// The POST /bind contract of khz-bench-server (benchmark/README.md; keep it exactly: the load
// benchmark, the bind micro-benchmark and outside checks use it):
//   JSON body {name: string, required, 1..64 characters; age: integer 0..150; email: string,
//   email format, optional; tags: array of strings, at most 16; address: {city: string,
//   required; zip: string, optional, 5 digits}}, plus ?verbose= (bool, default false) and the
//   X-Request-Id header (optional). A valid request gets 200 and the bound struct as JSON (the
//   query and header values as `verbose` and `request_id`); an invalid one 400
//   application/problem+json naming every failing field; a non-JSON Content-Type 415.
#pragma once

#include <khz/app/fields.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace khz_bench {

struct BindAddress {
  std::string city;
  std::optional<std::string> zip;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("city", &BindAddress::city).json().required(),
        khz::field("zip", &BindAddress::zip).json().pattern("[0-9]{5}").message("must be 5 digits"),
    };
  }
};

struct BindRequest {
  std::string name;
  int age = 0;
  std::optional<std::string> email;
  std::vector<std::string> tags;
  BindAddress address;
  bool verbose = false;
  std::optional<std::string> request_id;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("name", &BindRequest::name).json().required().length(1, 64),
        khz::field("age", &BindRequest::age).json().range(0, 150),
        khz::field("email", &BindRequest::email).json().email(),
        khz::field("tags", &BindRequest::tags).json().max_length(16),
        khz::field("address", &BindRequest::address).json(),
        khz::field("verbose", &BindRequest::verbose).query().default_value("false"),
        khz::field("request_id", &BindRequest::request_id).header("X-Request-Id"),
    };
  }
};

// A valid body for the load and micro benchmarks (10 fields in all, nested object and array).
inline constexpr const char* kBindBody =
    R"({"name":"Ada Lovelace","age":36,"email":"ada@example.org","tags":["math","engines","poetry"],)"
    R"("address":{"city":"London","zip":"12345"}})";

}  // namespace khz_bench
