// SPDX-License-Identifier: Apache-2.0
// EtcdClient: etcd's v3 JSON gateway over khz's Client (etcd_client.h).
#include "etcd_client.h"

#include <khz/app/client/errors.h>
#include <khz/app/json.h>
#include <khz/app/json_view.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/governance/errors.h>
#include <khz/protocol/base64.h>

#include <charconv>

namespace khz::governance {
namespace {

// A gateway int64: a JSON string of digits (proto3's JSON mapping) or, leniently, a number.
std::int64_t as_int64(JsonView v) {
  if (v.kind() == JsonKind::string) {
    std::int64_t out = 0;
    std::string_view s = v.string();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() ? out : 0;
  }
  if (v.kind() == JsonKind::int64 || v.kind() == JsonKind::uint64) return v.int64();
  return 0;
}

std::optional<std::string> decode(JsonView v) {
  if (v.kind() != JsonKind::string) return std::nullopt;
  return protocol::base64_decode(v.string());
}

std::string b64(std::string_view s) { return protocol::base64_encode(s); }

ClientOptions client_options(const EtcdOptions& o) {
  ClientOptions c;
  c.dial_timeout = o.request_timeout;
  c.response_header_timeout = o.request_timeout;
  // A watch is one long response: idle for as long as nothing changes.
  c.read_timeout = std::chrono::hours(24);
  c.proxy_from_environment = false;
  c.http2 = false;
  c.max_redirects = 0;
  c.transport = o.transport;
  return c;
}

bool parse_kv(JsonView kv, KeyValue& out) {
  auto key = decode(kv.find("key"));
  if (!key) return false;
  out.key = std::move(*key);
  JsonView value = kv.find("value");
  if (value.found()) {
    auto v = decode(value);
    if (!v) return false;
    out.value = std::move(*v);
  }
  return true;
}

// The request bodies (built outside the coroutines: GCC 12 mishandles braced temporaries in them).
std::string put_body(std::string_view key, std::string_view value, std::int64_t lease) {
  H body{{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0) body.emplace_back("lease", std::to_string(lease));
  return Json(std::move(body)).dump();
}
std::string delete_body(std::string_view key) { return Json(H{{"key", b64(key)}}).dump(); }
std::string range_body(std::string_view prefix) {
  return Json(H{{"key", b64(prefix)}, {"range_end", b64(prefix_end(prefix))}}).dump();
}
// proto3 JSON: 64-bit integers as strings.
std::string id_body(const char* name, std::int64_t value) { return Json(H{{name, std::to_string(value)}}).dump(); }
std::string watch_body(std::string_view prefix, std::int64_t start_revision) {
  H create{{"key", b64(prefix)}, {"range_end", b64(prefix_end(prefix))}};
  if (start_revision > 0) create.emplace_back("start_revision", std::to_string(start_revision));
  return Json(H{{"create_request", Json(std::move(create))}}).dump();
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

bool parse_watch_message(std::string_view line, std::vector<WatchEvent>& events, bool& canceled) {
  events.clear();
  canceled = false;
  JsonDocument doc;
  if (doc.parse(line)) return false;
  JsonView result = doc.root().find("result");
  if (result.kind() != JsonKind::object) return false;
  JsonView c = result.find("canceled");
  if (c.kind() == JsonKind::boolean && c.boolean()) {
    canceled = true;
    return false;
  }
  JsonView list = result.find("events");
  if (!list.found()) return true;  // "created", or a progress notification
  if (list.kind() != JsonKind::array) return false;
  for (JsonView e : list.elements()) {
    if (e.kind() != JsonKind::object) return false;
    WatchEvent ev;
    ev.deleted = e.find("type").string() == "DELETE";
    if (!parse_kv(e.find("kv"), ev.kv)) return false;
    events.push_back(std::move(ev));
  }
  return true;
}

EtcdClient::EtcdClient(const EtcdOptions& options)
    : options_(options), loop_(transport::ClientLoop::make(options.transport)),
      client_(std::make_unique<Client>(client_options(options))) {}

EtcdClient::~EtcdClient() {
  // The pooled connections belong to the loop thread: close them there.
  loop_->run([this]() -> Task<void> {
    client_.reset();
    co_return;
  });
}

Task<Result<std::string>> EtcdClient::call(std::string_view method, std::string body) {
  ClientRequest req;
  req.method = "POST";
  req.url = options_.endpoint + "/v3/" + std::string(method);
  req.headers.set("Content-Type", "application/json");
  req.body = std::move(body);
  req.timeout = options_.request_timeout;
  auto resp = co_await client_->send(std::move(req));
  if (!resp) co_return resp.error();
  if (resp->status() != 200) {
    KHZ_LOG(debug, "etcd: " << method << " answered " << resp->status() << ": " << resp->body());
    co_return make_error_code(errc::etcd_refused);
  }
  co_return std::string(resp->body());
}

Task<std::error_code> EtcdClient::put(std::string key, std::string value, std::int64_t lease) {
  std::string text = put_body(key, value, lease);
  auto r = co_await call("kv/put", std::move(text));
  co_return r ? std::error_code() : r.error();
}

Task<std::error_code> EtcdClient::delete_key(std::string key) {
  std::string text = delete_body(key);
  auto r = co_await call("kv/deleterange", std::move(text));
  co_return r ? std::error_code() : r.error();
}

Task<Result<RangeResult>> EtcdClient::range_prefix(std::string prefix) {
  std::string text = range_body(prefix);
  auto r = co_await call("kv/range", std::move(text));
  if (!r) co_return r.error();
  JsonDocument doc;
  if (doc.parse(*r)) co_return make_error_code(errc::malformed_reply);
  RangeResult out;
  out.revision = as_int64(doc.root().find("header").find("revision"));
  JsonView kvs = doc.root().find("kvs");
  if (kvs.found()) {
    if (kvs.kind() != JsonKind::array) co_return make_error_code(errc::malformed_reply);
    for (JsonView kv : kvs.elements()) {
      KeyValue item;
      if (!parse_kv(kv, item)) co_return make_error_code(errc::malformed_reply);
      out.kvs.push_back(std::move(item));
    }
  }
  co_return out;
}

Task<Result<std::int64_t>> EtcdClient::grant(std::chrono::seconds ttl) {
  std::string text = id_body("TTL", ttl.count());
  auto r = co_await call("lease/grant", std::move(text));
  if (!r) co_return r.error();
  JsonDocument doc;
  if (doc.parse(*r)) co_return make_error_code(errc::malformed_reply);
  std::int64_t id = as_int64(doc.root().find("ID"));
  if (id == 0) co_return make_error_code(errc::malformed_reply);
  co_return id;
}

Task<std::error_code> EtcdClient::keepalive(std::int64_t lease) {
  std::string text = id_body("ID", lease);
  auto r = co_await call("lease/keepalive", std::move(text));
  if (!r) co_return r.error();
  JsonDocument doc;
  if (doc.parse(*r)) co_return make_error_code(errc::malformed_reply);
  // The gateway answers one message of the keepalive stream: {"result":{"ID":..,"TTL":..}};
  // a lease etcd no longer knows comes back without a TTL.
  JsonView result = doc.root().find("result");
  if (result.kind() != JsonKind::object) co_return make_error_code(errc::etcd_refused);
  if (as_int64(result.find("TTL")) <= 0) co_return make_error_code(errc::lease_lost);
  co_return std::error_code();
}

Task<std::error_code> EtcdClient::revoke(std::int64_t lease) {
  std::string text = id_body("ID", lease);
  auto r = co_await call("lease/revoke", std::move(text));
  co_return r ? std::error_code() : r.error();
}

Task<std::error_code> EtcdClient::watch_prefix(std::string prefix, std::int64_t start_revision, WatchSink sink,
                                               CancellationToken cancel) {
  ClientRequest req;
  req.method = "POST";
  req.url = options_.endpoint + "/v3/watch";
  req.headers.set("Content-Type", "application/json");
  req.body = watch_body(prefix, start_revision);
  req.cancel = cancel;
  auto stream = co_await client_->stream(std::move(req));
  if (!stream) co_return stream.error();
  if (stream->response().status() != 200) co_return make_error_code(errc::etcd_refused);
  std::string pending;
  std::vector<WatchEvent> events;
  for (;;) {
    auto piece = co_await stream->read();
    if (!piece) co_return piece.error();
    if (piece->empty()) co_return make_error_code(errc::etcd_refused);  // etcd ended the stream
    pending.append(*piece);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(pending.data() + start, nl - start);
      if (line.empty()) continue;
      bool canceled = false;
      if (!parse_watch_message(line, events, canceled)) {
        KHZ_LOG(info, "etcd: watch on " << prefix << (canceled ? " cancelled by etcd" : ": unreadable message"));
        co_return make_error_code(canceled ? errc::etcd_refused : errc::malformed_reply);
      }
      if (!events.empty()) sink(events);
    }
    pending.erase(0, start);
    if (pending.size() > 64 * 1024 * 1024) co_return make_error_code(errc::malformed_reply);
  }
}

Task<void> follow_prefix(EtcdClient& etcd, std::string prefix, std::chrono::milliseconds retry_interval, FollowSink sink,
                         const std::atomic<bool>& stopping, CancellationToken cancel) {
  int connected = -1;  // not yet known
  auto report = [&](bool up) {
    if (connected == static_cast<int>(up)) return;
    connected = up;
    if (sink.on_connection) sink.on_connection(up);
  };
  while (!stopping.load(std::memory_order_acquire)) {
    auto listed = co_await etcd.range_prefix(prefix);
    if (!listed) {
      report(false);
      // Wait in short steps, so that a stop is seen soon.
      for (auto until = std::chrono::steady_clock::now() + retry_interval;
           std::chrono::steady_clock::now() < until && !stopping.load(std::memory_order_acquire);) {
        co_await sleep_for(std::chrono::milliseconds(20));
      }
      continue;
    }
    sink.on_listing(listed->kvs);
    report(true);
    auto ec = co_await etcd.watch_prefix(prefix, listed->revision + 1, sink.on_events, cancel);
    if (!stopping.load(std::memory_order_acquire)) {
      KHZ_LOG(debug, "governance: watch on " << prefix << " ended: " << ec.message());
    }
  }
}

}  // namespace khz::governance
