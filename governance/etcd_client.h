// SPDX-License-Identifier: Apache-2.0
// Private to governance/: EtcdClient, the calls khz makes to etcd's v3 JSON gateway (the
// grpc-gateway etcd serves on its client URL: POST /v3/<service>/<method>, JSON bodies, keys
// and values base64, 64-bit integers as strings) over khz's own Client, on a loop thread of
// the EtcdClient's own.
//
//   EtcdClient etcd({.endpoint = "http://127.0.0.1:2379"});
//   etcd.run([&]() -> Task<> {                       // every call is a Task on etcd.loop()
//     auto lease = co_await etcd.grant(std::chrono::seconds(10));
//     co_await etcd.put("/khz/services/reviews/10.0.0.7:9080", value, *lease);
//   });
//
// Calls: kv/put, kv/range (a prefix), kv/deleterange, lease/grant, lease/keepalive (one
// request per refresh: the gateway maps each POST to one message of the bidirectional gRPC
// stream), lease/revoke, and watch (a streamed response: one JSON message per line, read as
// it arrives). Threading: the Task-returning calls run on loop() only; run() and post() may be
// called from any other thread.
#pragma once

#include <khz/app/client/client.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/governance/etcd.h>
#include <khz/transport/dial.h>

#include <chrono>
#include <atomic>
#include <cstdint>
#include <span>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace khz::governance {

struct KeyValue {
  std::string key;
  std::string value;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  std::int64_t revision = 0;  // the store's revision when read: watch from revision + 1
};

struct WatchEvent {
  bool deleted = false;
  KeyValue kv;  // a delete has no value
};

// What a watch stream delivers: the events of one message (a batch, in revision order).
using WatchSink = std::function<void(std::span<const WatchEvent> events)>;

class EtcdClient {
 public:
  explicit EtcdClient(const EtcdOptions& options);
  ~EtcdClient();

  EventLoop& loop() noexcept { return loop_->loop(); }
  // Runs make_task() on the loop and waits (never from the loop itself).
  void run(std::function<Task<void>()> make_task) { loop_->run(std::move(make_task)); }

  Task<std::error_code> put(std::string key, std::string value, std::int64_t lease = 0);
  Task<std::error_code> delete_key(std::string key);
  Task<Result<RangeResult>> range_prefix(std::string prefix);
  Task<Result<std::int64_t>> grant(std::chrono::seconds ttl);  // the lease id
  // Refreshes the lease; errc::lease_lost when etcd no longer knows it.
  Task<std::error_code> keepalive(std::int64_t lease);
  Task<std::error_code> revoke(std::int64_t lease);
  // Watches keys under `prefix` from `start_revision` and calls sink with each batch until the
  // stream ends (an error, etcd gone, or the watch cancelled by etcd: compaction), or `cancel`
  // is triggered (client::errc::cancelled). Returns why it ended.
  Task<std::error_code> watch_prefix(std::string prefix, std::int64_t start_revision, WatchSink sink,
                                     CancellationToken cancel);

 private:
  Task<Result<std::string>> call(std::string_view method, std::string body);

  EtcdOptions options_;
  std::unique_ptr<transport::ClientLoop> loop_;
  std::unique_ptr<Client> client_;
};

// What follow_prefix reports.
struct FollowSink {
  std::function<void(std::vector<KeyValue>& listing)> on_listing;  // the whole prefix, after each (re)connect
  std::function<void(std::span<const WatchEvent> events)> on_events;
  std::function<void(bool connected)> on_connection;
};

// Lists `prefix`, then watches it from the listing's revision; after any break lists again
// (retry_interval apart while etcd is unreachable) until `stopping` is set and `cancel`
// triggered. Runs on etcd.loop().
Task<void> follow_prefix(EtcdClient& etcd, std::string prefix, std::chrono::milliseconds retry_interval, FollowSink sink,
                         const std::atomic<bool>& stopping, CancellationToken cancel);

// The end of the range that holds every key starting with `prefix` (etcd's prefix rule: the
// prefix with its last byte incremented; "\0" for an empty prefix: every key).
std::string prefix_end(std::string_view prefix);

// Parses one line of a watch stream into its events; false when the line is not a watch
// message or carries an error (`canceled`: etcd ended the watch).
bool parse_watch_message(std::string_view line, std::vector<WatchEvent>& events, bool& canceled);

}  // namespace khz::governance
