// SPDX-License-Identifier: Apache-2.0
#include <khz/transport/error.h>
#include <khz/transport/transporter.h>
#include <khz/common/log.h>

#include "backend_support.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <vector>

namespace khz::transport {
namespace {

class TransportCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.transport"; }
  std::string message(int v) const override {
    switch (static_cast<errc>(v)) {
      case errc::eof: return "connection closed by peer";
      case errc::timed_out: return "timed out";
      case errc::cancelled: return "operation cancelled (connection closed)";
      case errc::shutting_down: return "server shutting down";
      case errc::buffer_limit: return "buffer limit exceeded";
      case errc::tls_handshake_failed: return "TLS handshake failed";
      case errc::tls_error: return "TLS protocol error";
      case errc::file_truncated: return "file shorter than the range being sent";
    }
    return "unknown transport error";
  }
};

}  // namespace

// Out of line, so the log line's stream is not part of the handler's frame, which lives as
// long as the connection.
void log_handler_failure(std::exception_ptr e, const Connection& conn) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    KHZ_LOG(error, "connection handler for " << conn.peer_address() << " failed: " << ex.what());
  } catch (...) {
    KHZ_LOG(error, "connection handler for " << conn.peer_address() << " failed with a non-standard exception");
  }
}

bool accepted(const AcceptFilter& accept, Connection& conn) noexcept {
  if (!accept) return true;
  try {
    return accept(conn);
  } catch (const std::exception& e) {
    KHZ_LOG(error, "accept filter for " << conn.peer_address() << " failed: " << e.what() << "; closing it");
  } catch (...) {
    KHZ_LOG(error, "accept filter for " << conn.peer_address() << " failed; closing it");
  }
  return false;
}

Task<void> run_handler(const ConnectionHandler& handler, Connection& conn) {
  try {
    co_await handler(conn);
  } catch (...) {
    log_handler_failure(std::current_exception(), conn);
  }
}

AcceptFailures::Action AcceptFailures::on_failure(std::error_code ec) noexcept {
  const int e = ec.category() == std::system_category() ? ec.value() : 0;
  if (e == EINTR || e == ECONNABORTED || e == EPROTO) return Action::retry;  // that one connection
  const bool exhausted = e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
  if (failures_++ == 0) {
    KHZ_LOG(warn, "accept failed: " << ec.message()
                                    << (exhausted ? "; pausing accepts until descriptors free up" : ""));
  }
  return exhausted ? Action::pause : Action::retry;
}

void AcceptFailures::end_episode() noexcept {
  KHZ_LOG(info, "accepting again after " << failures_ << " failed accepts");
  failures_ = 0;
}

const std::error_category& transport_category() noexcept {
  static const TransportCategory category;
  return category;
}

namespace {
// Filled during static initialisation (register_backend), read-only afterwards.
std::vector<Backend>& backends() {
  static std::vector<Backend> registered;
  return registered;
}
}  // namespace

bool register_backend(const Backend& backend) {
  auto& all = backends();
  auto at = all.begin();
  while (at != all.end() && at->rank <= backend.rank) ++at;
  all.insert(at, backend);
  return true;
}

const Backend& find_backend(std::string_view name) {
  std::string chosen(name);
  if (chosen.empty()) {
    const char* env = std::getenv("KHZ_TRANSPORT");
    if (env != nullptr && *env != '\0') chosen = env;
    else if (!backends().empty()) return backends().front();
  }
  for (const auto& backend : backends()) {
    if (backend.name == chosen) return backend;
  }
  std::string known;
  for (const auto& backend : backends()) known += (known.empty() ? "" : ", ") + std::string(backend.name);
  if (known.empty()) known = "none: link khz::transport_netpoll";
  throw std::invalid_argument("unknown transport '" + chosen + "' (known: " + known + ")");
}

std::vector<std::string> transporter_names() {
  std::vector<std::string> names;
  for (const auto& backend : backends()) names.emplace_back(backend.name);
  return names;
}

std::unique_ptr<Transporter> make_transporter(std::string_view name, TransporterOptions options) {
  return find_backend(name).make_transporter(std::move(options));
}

HostPort parse_host_port(std::string_view address) {
  auto fail = [&] {
    return std::invalid_argument("bad address '" + std::string(address) +
                                 "': want host:port, e.g. 127.0.0.1:8888 or [::1]:8888");
  };
  std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == address.size()) throw fail();
  std::string_view host = address.substr(0, colon);
  std::string_view port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) throw fail();
  return {std::string(host), static_cast<std::uint16_t>(value)};
}

}  // namespace khz::transport
