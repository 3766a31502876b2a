// SPDX-License-Identifier: Apache-2.0
// khz::metrics text exposition: a Registry rendered in Prometheus's text format 0.0.4 or in
// OpenMetrics 1.0, picked from a scraper's Accept header.
//
//   auto format = khz::metrics::negotiate(request.headers().get("Accept"));
//   response.set_body(khz::metrics::render(registry, format), khz::metrics::content_type(format));
//
// What differs between the two (both: label values escape \ " and newline as \\ \" \n):
//   Prometheus 0.0.4                          OpenMetrics 1.0
//   # HELP jobs_total Jobs run.               # TYPE jobs counter
//   # TYPE jobs_total counter                 # HELP jobs Jobs run.
//   jobs_total{kind="batch"} 3                jobs_total{kind="batch"} 3
//   HELP escapes \ and newline                HELP also escapes "
//                                             # EOF closes the exposition
// Histograms: name_bucket{...,le="0.005"} (cumulative, then le="+Inf"), name_sum, name_count.
// Threading: render() is Registry::collect() (locks the registry once) plus formatting.
#pragma once

#include <khz/common/metrics.h>

#include <string>
#include <string_view>

namespace khz::metrics {

enum class Format { prometheus_text, openmetrics };

// OpenMetrics when `accept` names application/openmetrics-text; else Prometheus text 0.0.4.
Format negotiate(std::string_view accept) noexcept;
// "text/plain; version=0.0.4; charset=utf-8" or
// "application/openmetrics-text; version=1.0.0; charset=utf-8".
std::string_view content_type(Format format) noexcept;

std::string render(const Registry& registry, Format format);
std::string render(const std::vector<FamilySnapshot>& families, Format format);

}  // namespace khz::metrics
