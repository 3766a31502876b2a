// SPDX-License-Identifier: Apache-2.0
// The text exposition, byte for byte: Prometheus 0.0.4 and OpenMetrics 1.0, escaping of label
// values and HELP, histogram series, counters' "_total", "# EOF", and Accept negotiation.
#include <khz/common/metrics_text.h>

#include <catch2/catch.hpp>

namespace metrics = khz::metrics;

namespace {
void fill(metrics::Registry& r) {
  r.counter("http_requests", "Requests \\ served\nso far \"ok\".", {"method", "path"})
      .with({"GET", "/a\"b\\c\nd"})
      .inc(3);
  r.gauge("in_flight", "In flight.").with({}).add(2);
  auto h = r.histogram("duration_seconds", "Time.", {"route"}, std::vector<double>{0.5, 1, 2.5}).with({"/x"});
  h.observe(0.25);
  h.observe(2);
  r.gauge("empty", "No series yet.", {"x"});
}
}  // namespace

TEST_CASE("metrics text: Prometheus 0.0.4, exactly") {
  metrics::Registry r;
  fill(r);
  REQUIRE(metrics::render(r, metrics::Format::prometheus_text) ==
          "# HELP http_requests_total Requests \\\\ served\\nso far \"ok\".\n"
          "# TYPE http_requests_total counter\n"
          "http_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"
          "# HELP in_flight In flight.\n"
          "# TYPE in_flight gauge\n"
          "in_flight 2\n"
          "# HELP duration_seconds Time.\n"
          "# TYPE duration_seconds histogram\n"
          "duration_seconds_bucket{route=\"/x\",le=\"0.5\"} 1\n"
          "duration_seconds_bucket{route=\"/x\",le=\"1\"} 1\n"
          "duration_seconds_bucket{route=\"/x\",le=\"2.5\"} 2\n"
          "duration_seconds_bucket{route=\"/x\",le=\"+Inf\"} 2\n"
          "duration_seconds_sum{route=\"/x\"} 2.25\n"
          "duration_seconds_count{route=\"/x\"} 2\n"
          "# HELP empty No series yet.\n"
          "# TYPE empty gauge\n");
}

TEST_CASE("metrics text: OpenMetrics 1.0, exactly") {
  metrics::Registry r;
  fill(r);
  REQUIRE(metrics::render(r, metrics::Format::openmetrics) ==
          "# TYPE http_requests counter\n"
          "# HELP http_requests Requests \\\\ served\\nso far \\\"ok\\\".\n"
          "http_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"
          "# TYPE in_flight gauge\n"
          "# HELP in_flight In flight.\n"
          "in_flight 2\n"
          "# TYPE duration_seconds histogram\n"
          "# HELP duration_seconds Time.\n"
          "duration_seconds_bucket{route=\"/x\",le=\"0.5\"} 1\n"
          "duration_seconds_bucket{route=\"/x\",le=\"1.0\"} 1\n"
          "duration_seconds_bucket{route=\"/x\",le=\"2.5\"} 2\n"
          "duration_seconds_bucket{route=\"/x\",le=\"+Inf\"} 2\n"
          "duration_seconds_sum{route=\"/x\"} 2.25\n"
          "duration_seconds_count{route=\"/x\"} 2\n"
          "# TYPE empty gauge\n"
          "# HELP empty No series yet.\n"
          "# EOF\n");
}

TEST_CASE("metrics text: the Accept header picks the format") {
  using metrics::Format;
  // What Prometheus 2.x sends.
  REQUIRE(metrics::negotiate("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
                             "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1") == Format::openmetrics);
  REQUIRE(metrics::negotiate("Application/OpenMetrics-Text") == Format::openmetrics);
  REQUIRE(metrics::negotiate("text/plain;version=0.0.4") == Format::prometheus_text);
  REQUIRE(metrics::negotiate("") == Format::prometheus_text);
  REQUIRE(metrics::negotiate("*/*") == Format::prometheus_text);
  REQUIRE(metrics::content_type(Format::openmetrics) == "application/openmetrics-text; version=1.0.0; charset=utf-8");
  REQUIRE(metrics::content_type(Format::prometheus_text) == "text/plain; version=0.0.4; charset=utf-8");
}
