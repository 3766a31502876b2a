// SPDX-License-Identifier: Apache-2.0
// khz-load: an HTTP load generator on khz::Client (in the manner of wrk and h2load).
//
//   khz-load -c CONNECTIONS -d SECONDS [--loops N] [-k] [--cacert FILE] [-m STREAMS --http2-prior-knowledge | --http2]
//            [--discover SERVICE=HOST:PORT[,HOST:PORT...]] URL
//
// Runs CONNECTIONS keep-alive connections (each one request at a time, no pipelining) spread
// over N event loops (default 1) for SECONDS, then prints requests, errors (transport and
// protocol failures; non-2xx/3xx statuses are counted apart), latency percentiles and, as its
// last line, `requests/s: N`.
// Hot path: one Response and one ClientRequest per connection, reused; the client's pools,
// frame pool and buffers make a request allocation-free once warm.
// https URLs: each connection makes one TLS handshake, then is kept alive; -k skips certificate
// verification, --cacert trusts more CAs (PEM).
// HTTP/2 (as h2load): --http2-prior-knowledge speaks h2c to http:// URLs, --http2 offers h2 by
// ALPN to https:// ones (and h2c to http:// ones); then each of the CONNECTIONS is one HTTP/2
// connection (a khz::Client of its own: a Client keeps one per host and loop) carrying
// -m STREAMS requests at once (default 1), each stream again back to back. -m without HTTP/2 is a
// usage error. The transport is $KHZ_TRANSPORT or the default.
// --discover resolves the URL's host as a service name through khz's discovery resolver
// (khz::governance::DiscoveryResolver, fed these instances as a registry watch would, balanced
// round robin): `--discover svc=127.0.0.1:8080 http://svc/plaintext`. make bench runs the same
// load by address and by name to measure what discovery adds to a call.
#include <khz/app/client.h>
#include <khz/common/event_loop.h>
#include <khz/common/version.h>
#include <khz/governance/discovery.h>
#include <khz/common/tick_clock.h>
#include <khz/transport/dial.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Usage on stdout with exit 0 for --help (an empty reason); on stderr after the reason with
// exit 2 otherwise.
[[noreturn]] void usage(const std::string& why) {
  std::FILE* out = why.empty() ? stdout : stderr;
  if (!why.empty()) std::fprintf(stderr, "khz-load: %s\n", why.c_str());
  std::fprintf(out,
               "usage: khz-load -c CONNECTIONS -d SECONDS [--loops N] [-k] [--cacert FILE] "
               "[-m STREAMS --http2-prior-knowledge | --http2] [--discover SERVICE=HOST:PORT,...] URL\n"
               "  -c N          connections (spread over the loops)\n"
               "  -d SECONDS    how long to run\n"
               "  --loops N     event loops (threads), at most one per connection; also -t\n"
               "  -k            https: do not verify the server's certificate; --cacert FILE to trust FILE\n"
               "  -m STREAMS    concurrent streams per HTTP/2 connection\n"
               "  --discover SERVICE=HOST:PORT[,HOST:PORT...]  resolve the URL's host SERVICE by discovery\n"
               "  --http2       https: h2 by ALPN; --http2-prior-knowledge: h2c from the first byte\n"
               "  -h, --help    this text;  --version  the khz version\n");
  std::exit(why.empty() ? 0 : 2);
}

// Latency histogram: buckets of 1 µs up to 1 ms, then logarithmic (about 1% wide) to ~100 s.
class Histogram {
 public:
  void add(std::chrono::nanoseconds d) noexcept {
    ++counts_[bucket(static_cast<std::uint64_t>(std::max<std::int64_t>(d.count() / 1000, 0)))];
  }
  void merge(const Histogram& o) noexcept {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
  }
  // Upper bound of the bucket holding the q-quantile, in µs.
  double quantile(double q) const noexcept {
    std::uint64_t total = 0;
    for (auto c : counts_) total += c;
    if (total == 0) return 0;
    auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= want) return upper(i);
    }
    return upper(counts_.size() - 1);
  }

 private:
  static constexpr std::size_t kLinear = 1000;
  static constexpr double kGrowth = 1.01;
  // Past the linear part, a search of the bucket bounds (no log() per response).
  static std::size_t bucket(std::uint64_t us) noexcept {
    if (us < kLinear) return us;
    static const std::array<double, kBuckets - kLinear> bounds = [] {
      std::array<double, kBuckets - kLinear> b{};
      for (std::size_t j = 0; j < b.size(); ++j) b[j] = upper(kLinear + j);
      return b;
    }();
    auto it = std::upper_bound(bounds.begin(), bounds.end(), static_cast<double>(us));
    return std::min(kLinear + static_cast<std::size_t>(it - bounds.begin()), kBuckets - 1);
  }
  static double upper(std::size_t i) noexcept {
    if (i < kLinear) return static_cast<double>(i + 1);
    return kLinear * std::pow(kGrowth, static_cast<double>(i - kLinear + 1));
  }
  static constexpr std::size_t kBuckets = kLinear + 1200;
  std::array<std::uint64_t, kBuckets> counts_{};
};

struct LoopStats {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t bad_status = 0;
  std::string first_error;
  Histogram latency;
};

struct Run {
  std::string url;
  std::uint64_t end_ticks = 0;  // when the run ends, on khz::TickClock
  std::atomic<bool> stop{false};
};

// One connection's worth of requests, back to back, until the run ends.
khz::Task<void> worker(khz::Client& client, Run& run, LoopStats& stats) {
  khz::ClientRequest request;
  request.url = run.url;
  khz::Response response;
  // One reading of the cycle counter a request (TickClock, as wrk and h2load read their own
  // clock): a response's time is the next request's start (back to back).
  for (std::uint64_t t0 = khz::TickClock::now(); t0 < run.end_ticks;) {
    std::error_code ec = co_await client.send_into(request, response);
    const std::uint64_t t1 = khz::TickClock::now();
    if (t1 > run.end_ticks && ec) break;  // cut off by the end of the run
    if (ec) {
      ++stats.errors;
      if (stats.first_error.empty()) stats.first_error = ec.message();
      co_await khz::sleep_for(std::chrono::milliseconds(10));  // do not spin on a dead server
      t0 = khz::TickClock::now();
      continue;
    }
    ++stats.requests;
    if (response.status() >= 400) ++stats.bad_status;
    stats.latency.add(khz::TickClock::nanoseconds(t1 - t0));
    t0 = t1;
  }
}

khz::Task<void> one_worker(khz::Client* client, Run* run, LoopStats* stats, int* finished) {
  co_await worker(*client, *run, *stats);
  ++*finished;
}

// `clients[first .. first + count)`, `workers_each` workers on each (HTTP/1.1: one Client, one
// worker per connection).
khz::Task<void> run_loop(std::vector<std::unique_ptr<khz::Client>>& clients, std::size_t first, std::size_t count,
                         int workers_each, Run& run, LoopStats& stats) {
  int done = 0;
  int total = 0;
  for (std::size_t c = first; c < first + count; ++c) {
    for (int i = 0; i < workers_each; ++i, ++total) khz::spawn(one_worker(clients[c].get(), &run, &stats, &done));
  }
  while (done < total) co_await khz::sleep_for(std::chrono::milliseconds(5));
}

// --discover's "svc=host:port,host:port": a resolver fed those instances of `svc`.
std::shared_ptr<khz::Resolver> discovery_resolver(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == 0 || eq == std::string::npos || eq + 1 == spec.size()) usage("--discover wants SERVICE=HOST:PORT[,HOST:PORT...]");
  const std::string service = spec.substr(0, eq);
  std::vector<khz::governance::Instance> instances;
  std::string_view rest = std::string_view(spec).substr(eq + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view address = rest.substr(0, comma);
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) {
      usage("--discover: '" + std::string(address) + "' is not HOST:PORT");
    }
    instances.push_back({.service = service, .address = std::string(address)});
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  auto resolver = std::make_shared<khz::governance::DiscoveryResolver>(nullptr);
  resolver->update(service, instances);
  return resolver;
}

}  // namespace

int main(int argc, char** argv) {
  int connections = 0;
  double seconds = 0;
  int loops = 1;
  std::string url;
  bool insecure = false;
  std::string cacert;
  bool http2 = false;
  bool prior_knowledge = false;
  int streams = 0;
  std::string discover;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value after " + std::string(arg));
      return argv[++i];
    };
    auto number = [&](const std::string& v) {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || d <= 0) usage("bad number '" + v + "' for " + std::string(arg));
      return d;
    };
    if (arg == "-h" || arg == "--help") {
      usage("");
    } else if (arg == "--version") {
      std::printf("khz-load %s\n", khz::version().data());
      std::exit(0);
    } else if (arg == "-c") {
      connections = static_cast<int>(number(value()));
    } else if (arg == "-d") {
      seconds = number(value());
    } else if (arg == "--loops" || arg == "-t") {
      loops = static_cast<int>(number(value()));
    } else if (arg == "-k" || arg == "--insecure") {
      insecure = true;
    } else if (arg == "--cacert") {
      cacert = value();
    } else if (arg == "-m" || arg == "--max-concurrent-streams") {
      streams = static_cast<int>(number(value()));
    } else if (arg == "--http2") {
      http2 = true;
    } else if (arg == "--http2-prior-knowledge") {
      prior_knowledge = true;
    } else if (arg == "--discover") {
      discover = value();
    } else if (!arg.empty() && arg.front() == '-') {
      usage("unknown option " + std::string(arg));
    } else {
      url = arg;
    }
  }
  if (connections <= 0 || seconds <= 0 || url.empty()) usage("need -c, -d and a URL");
  if (url.find("://") == std::string::npos) url = "http://" + url;
  loops = std::clamp(loops, 1, connections);
  const bool h2 = http2 || prior_knowledge;
  if (streams > 0 && !h2) usage("-m needs --http2 or --http2-prior-knowledge");
  if (streams <= 0) streams = 1;

  khz::ClientOptions options;
  options.proxy_from_environment = false;
  options.max_connections_per_host = static_cast<std::size_t>(connections);
  options.user_agent = "khz-load";
  options.retry.max_attempts = 1;
  options.max_redirects = 0;
  options.insecure_skip_verify = insecure;
  options.tls_ca_file = cacert;
  options.http2 = h2;
  options.http2_prior_knowledge = h2;
  if (h2) options.http2_max_concurrent_streams = static_cast<std::uint32_t>(streams);
  if (!discover.empty()) options.resolver = discovery_resolver(discover);

  Run run;
  run.url = url;
  std::vector<std::unique_ptr<khz::transport::ClientLoop>> event_loops;  // outlive the clients
  // HTTP/1.1: one Client whose pool holds the connections; HTTP/2: one Client per connection.
  std::vector<std::unique_ptr<khz::Client>> clients;
  for (int i = 0; i < (h2 ? connections : 1); ++i) clients.push_back(std::make_unique<khz::Client>(options));
  std::vector<LoopStats> stats(static_cast<std::size_t>(loops));
  for (int i = 0; i < loops; ++i) event_loops.push_back(khz::transport::ClientLoop::make(""));
  khz::TickClock::calibrate();  // before the run's clock starts (it may spin a few ms)
  auto start = Clock::now();
  run.end_ticks = khz::TickClock::now() + static_cast<std::uint64_t>(seconds * khz::TickClock::rate());
  std::vector<std::thread> drivers;
  std::size_t next_client = 0;
  for (int i = 0; i < loops; ++i) {
    int share = connections / loops + (i < connections % loops ? 1 : 0);
    std::size_t first = h2 ? next_client : 0;
    std::size_t count = h2 ? static_cast<std::size_t>(share) : 1;
    int each = h2 ? streams : share;
    next_client += count;
    drivers.emplace_back([&, i, first, count, each] {
      event_loops[static_cast<std::size_t>(i)]->run([&, i, first, count, each]() {
        return run_loop(clients, first, count, each, run, stats[static_cast<std::size_t>(i)]);
      });
    });
  }
  for (auto& d : drivers) d.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  // Pools belong to their loops: close them there before the loops go.
  for (auto& l : event_loops) {
    l->run([&clients]() -> khz::Task<void> {
      for (auto& c : clients) c->close_idle();
      co_await khz::sleep_for(std::chrono::milliseconds(1));  // HTTP/2 sessions see the close
    });
  }
  clients.clear();

  LoopStats total;
  for (auto& s : stats) {
    total.requests += s.requests;
    total.errors += s.errors;
    total.bad_status += s.bad_status;
    total.latency.merge(s.latency);
    if (total.first_error.empty()) total.first_error = s.first_error;
  }
  if (h2) {
    std::printf("khz-load: %s, %d HTTP/2 connection(s) x %d stream(s) on %d loop(s), %.1f s\n", url.c_str(),
                connections, streams, loops, elapsed);
  } else {
    std::printf("khz-load: %s, %d connection(s) on %d loop(s), %.1f s\n", url.c_str(), connections, loops, elapsed);
  }
  std::printf("requests: %llu, errors: %llu, status >= 400: %llu\n", static_cast<unsigned long long>(total.requests),
              static_cast<unsigned long long>(total.errors), static_cast<unsigned long long>(total.bad_status));
  if (!total.first_error.empty()) std::printf("first error: %s\n", total.first_error.c_str());
  std::printf("latency p50: %.0f us, p99: %.0f us\n", total.latency.quantile(0.50), total.latency.quantile(0.99));
  std::printf("requests/s: %.0f\n", static_cast<double>(total.requests) / elapsed);
  return total.requests > 0 ? 0 : 1;
}
