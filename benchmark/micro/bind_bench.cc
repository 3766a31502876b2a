// SPDX-License-Identifier: Apache-2.0
// bind_bench: what binding costs against a bare DOM parse of the same body (the POST /bind
// contract's body, bind/bind_contract.h: 10 fields, a nested object, an array).
//   simdjson_dom_parse   the parser khz binds with, alone (the text already padded)
//   rapidjson_dom_parse  RapidJSON's DOM parse (pool allocator on a stack buffer, as fast as it gets)
//   rapidjson_sax_parse  RapidJSON's SAX reader with a handler that does nothing
//   bind_and_validate    khz: copy into the padded buffer, parse, bind, check every rule
//   bind_validate_render the same plus rendering the struct back to JSON
//   khz_document_parse, bind_only, validate_only: the parts
//   khz_document_parse_checked  the parse with duplicate keys refused (Json::parse's default)
//   handwritten_bind     the floor for a binder on this parser: code written for this one struct
// Ratio to report: bind_and_validate / simdjson_dom_parse (target 1.5 at most).
#include "bind/bind_contract.h"

#include <khz/app/bind.h>

#include <benchmark/benchmark.h>
#include <rapidjson/document.h>
#include <rapidjson/reader.h>
#include <simdjson.h>

#include <cstring>
#include <string>

namespace {

const std::string kBody = khz_bench::kBindBody;

class BodyInput final : public khz::BindInput {
 public:
  std::size_t values(khz::Source source, std::string_view name, Visit visit, void* state) override {
    if (source == khz::Source::query && name == "verbose") return visit(state, "true"), 1;
    if (source == khz::Source::header && name == "X-Request-Id") return visit(state, "r-1"), 1;
    return 0;
  }
  std::string_view content_type() override { return "application/json"; }
  std::string_view body() override { return kBody; }
  std::string_view keep(std::string_view text) override { return text; }
};

void simdjson_dom_parse(benchmark::State& state) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(kBody);
  for (auto _ : state) {
    simdjson::dom::element root;
    auto err = parser.parse(padded).get(root);
    benchmark::DoNotOptimize(err);
    benchmark::DoNotOptimize(root);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBody.size()));
}
BENCHMARK(simdjson_dom_parse);

void rapidjson_dom_parse(benchmark::State& state) {
  for (auto _ : state) {
    char value_buffer[4096];
    char parse_buffer[1024];
    rapidjson::MemoryPoolAllocator<> value_allocator(value_buffer, sizeof value_buffer);
    rapidjson::MemoryPoolAllocator<> parse_allocator(parse_buffer, sizeof parse_buffer);
    rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>, rapidjson::MemoryPoolAllocator<>> doc(
        &value_allocator, 1024, &parse_allocator);
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(kBody.data(), kBody.size());
    benchmark::DoNotOptimize(doc.HasParseError());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBody.size()));
}
BENCHMARK(rapidjson_dom_parse);

void rapidjson_sax_parse(benchmark::State& state) {
  rapidjson::Reader reader;
  rapidjson::BaseReaderHandler<> handler;
  for (auto _ : state) {
    rapidjson::MemoryStream stream(kBody.data(), kBody.size());
    auto result = reader.Parse<rapidjson::kParseValidateEncodingFlag>(stream, handler);
    benchmark::DoNotOptimize(result);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBody.size()));
}
BENCHMARK(rapidjson_sax_parse);

void bind_and_validate(benchmark::State& state) {
  BodyInput input;
  for (auto _ : state) {
    auto bound = khz::bind_and_validate<khz_bench::BindRequest>(input);
    if (!bound) state.SkipWithError("the benchmark body does not bind");
    benchmark::DoNotOptimize(bound);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBody.size()));
}
BENCHMARK(bind_and_validate);

void bind_validate_render(benchmark::State& state) {
  BodyInput input;
  std::string out;
  for (auto _ : state) {
    auto bound = khz::bind_and_validate<khz_bench::BindRequest>(input);
    out.clear();
    khz::to_json(*bound, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBody.size()));
}
BENCHMARK(bind_validate_render);


// The parts, to see where the time goes.
void khz_document_parse(benchmark::State& state) {
  khz::JsonDocument doc;
  khz::JsonOptions options;
  options.duplicate_keys = khz::JsonOptions::DuplicateKeys::keep;  // as binding parses
  for (auto _ : state) {
    auto err = doc.parse(kBody, options);
    benchmark::DoNotOptimize(err);
  }
}
BENCHMARK(khz_document_parse);

// The same with the default options (Json::parse's): duplicate keys looked for and refused.
void khz_document_parse_checked(benchmark::State& state) {
  khz::JsonDocument doc;
  for (auto _ : state) {
    auto err = doc.parse(kBody);
    benchmark::DoNotOptimize(err);
  }
}
BENCHMARK(khz_document_parse_checked);

void bind_only(benchmark::State& state) {
  BodyInput input;
  for (auto _ : state) {
    auto bound = khz::bind<khz_bench::BindRequest>(input);
    benchmark::DoNotOptimize(bound);
  }
}
BENCHMARK(bind_only);

void validate_only(benchmark::State& state) {
  BodyInput input;
  auto bound = khz::bind<khz_bench::BindRequest>(input);
  for (auto _ : state) {
    auto errors = khz::validate(*bound);
    benchmark::DoNotOptimize(errors);
  }
}
BENCHMARK(validate_only);

// The floor for any binder on this parser: the same body bound by hand-written code for this one
// struct (no rules, no error paths, nothing generic), the document parsed as binding parses it.
void handwritten_bind(benchmark::State& state) {
  khz::JsonDocument doc;
  khz::JsonOptions options;
  options.duplicate_keys = khz::JsonOptions::DuplicateKeys::keep;
  for (auto _ : state) {
    khz_bench::BindRequest r;
    if (doc.parse(kBody, options)) {
      state.SkipWithError("the benchmark body does not parse");
      break;
    }
    for (auto [key, v] : doc.root().members()) {
      if (key == "name") {
        r.name.assign(v.string());
      } else if (key == "age") {
        r.age = static_cast<int>(v.int64());
      } else if (key == "email") {
        r.email.emplace(v.string());
      } else if (key == "tags") {
        r.tags.reserve(v.size());
        for (auto e : v.elements()) r.tags.emplace_back(e.string());
      } else if (key == "address") {
        for (auto [k, a] : v.members()) {
          if (k == "city") r.address.city.assign(a.string());
          else if (k == "zip") r.address.zip.emplace(a.string());
        }
      }
    }
    r.verbose = true;
    r.request_id.emplace("r-1");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(handwritten_bind);

}  // namespace

BENCHMARK_MAIN();
