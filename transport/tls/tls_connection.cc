// SPDX-License-Identifier: Apache-2.0
// TlsConnection: OpenSSL over another Connection. See <khz/transport/tls.h> and DESIGN.md.
//
// Three coroutines may touch the inner connection, never more than one per direction:
//   - the reader (one per outer fill that cannot be met from what is buffered, or handshake())
//     awaits inner.fill() and decrypts;
//   - the writer awaits inner.flush() until inner.output() is empty. Anyone who put ciphertext
//     there (flush(), the handshake, a read that must answer, shutdown()) starts it if it is
//     not running; a running writer picks up what is appended meanwhile.
// Invariant: an inner operation is outstanding only while an outer operation (fill, flush,
// handshake, shutdown) is: a reader whose decrypting caused writes waits for the writer before
// it completes its fill, unless an outer flush is waiting on the writer anyway. So when the
// handler is done with the connection, nothing can resume into a destroyed TlsConnection.
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/transport/error.h>
#include <khz/transport/tls.h>

#include "tls/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <utility>

namespace khz::transport {
namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

// Small output segments (a header block, a short body) are gathered into one record.
constexpr std::size_t kRecordPlaintext = 16 * 1024;
thread_local char coalesce_scratch[kRecordPlaintext];

int clamp_int(std::size_t n) { return static_cast<int>(std::min<std::size_t>(n, INT_MAX)); }

bool is_ip_address(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return true;  // IPv6
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos;
}

}  // namespace

struct TlsConnection::State {
  State(TlsConnection& conn, Connection& inner) : conn(conn), inner(inner) {}

  TlsConnection& conn;
  Connection& inner;
  std::shared_ptr<const void> context;  // keeps the SSL_CTX alive
  SslPtr ssl;
  bool server = false;
  std::chrono::milliseconds handshake_timeout{};

  std::coroutine_handle<> fill_waiter;   // outer fill
  std::coroutine_handle<> flush_waiter;  // outer flush
  std::size_t fill_want = 0;
  Clock::time_point read_deadline = kNever;

  bool writing = false;                        // the writer runs (an inner flush is outstanding)
  bool flush_on_stack = false;                 // inside start_flush: see write_loop
  std::coroutine_handle<> writer_done_waiter;  // reader / handshake / shutdown waiting for the writer
  Duration write_limit{};                      // per inner flush while no write timeout is set

  std::error_code read_error;   // sticky: eof (close_notify or FIN) or tls_error
  std::error_code write_error;  // sticky: the first failed inner flush or SSL_write
  bool handshake_done = false;
  bool closed = false;

  // ---- BIO: ciphertext straight between OpenSSL and the inner LinkedBuffers.
  static BIO_METHOD* bio_method();
  static int bio_write(BIO* bio, const char* data, int len);
  static int bio_read(BIO* bio, char* data, int len);
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);
  static int bio_create(BIO* bio);

  // Decrypts everything the inner buffer and OpenSSL hold into conn.input_. Sets read_error
  // on close_notify or a bad record (logged).
  void decrypt_available();
  // Encrypts all of conn.output_ into inner.output(); false (write_error set, logged) on failure.
  bool encrypt_output();
  bool write_plaintext(const char* data, std::size_t n);

  void start_writer();
  Task<void> write_loop();
  Task<void> read_loop();

  struct WriterDone {
    State& st;
    bool await_ready() const noexcept { return !st.writing; }
    void await_suspend(std::coroutine_handle<> h) noexcept { st.writer_done_waiter = h; }
    void await_resume() const noexcept {}
  };

  // Completes an outer operation on a later turn of this loop (from inside start_fill/flush).
  static void resume_soon(std::coroutine_handle<> h);
  // `quiet`: the peer left or the server is stopping (load-balancer probes do this all day):
  // info, not warn.
  void fail_handshake(std::string_view why, const std::string& reason, bool quiet = false);
  std::string reason_now();
};

// ---------------------------------------------------------------------------------- BIO

BIO_METHOD* TlsConnection::State::bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "khz connection");
    BIO_meth_set_write(m, &bio_write);
    BIO_meth_set_read(m, &bio_read);
    BIO_meth_set_ctrl(m, &bio_ctrl);
    BIO_meth_set_create(m, &bio_create);
    return m;
  }();
  return method;
}

int TlsConnection::State::bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int TlsConnection::State::bio_write(BIO* bio, const char* data, int len) {
  auto* st = static_cast<State*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  LinkedBuffer& out = st->inner.output();
  auto left = static_cast<std::size_t>(len);
  while (left > 0) {
    std::span<char> room = out.reserve(1);  // pooled nodes; a record may span two
    std::size_t n = std::min(left, room.size());
    std::memcpy(room.data(), data, n);
    out.commit(n);
    data += n;
    left -= n;
  }
  return len;
}

int TlsConnection::State::bio_read(BIO* bio, char* data, int len) {
  auto* st = static_cast<State*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  LinkedBuffer& in = st->inner.input();
  if (in.empty()) {
    BIO_set_retry_read(bio);  // more comes with the next inner fill
    return -1;
  }
  auto want = static_cast<std::size_t>(len);
  std::size_t got = 0;
  while (got < want && !in.empty()) {
    std::string_view s = in.segment(0);
    std::size_t n = std::min(want - got, s.size());
    std::memcpy(data + got, s.data(), n);
    in.skip(n);
    got += n;
  }
  return static_cast<int>(got);
}

long TlsConnection::State::bio_ctrl(BIO*, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;  // the writer flushes
    case BIO_CTRL_PUSH:
    case BIO_CTRL_POP: return 0;
    default: return 0;
  }
}

// ---------------------------------------------------------------------------------- data path

void TlsConnection::State::decrypt_available() {
  if (read_error) return;
  ERR_clear_error();
  for (;;) {
    std::span<char> room = conn.input_.reserve(1);
    int n = SSL_read(ssl.get(), room.data(), clamp_int(room.size()));
    if (n > 0) {
      conn.input_.commit(static_cast<std::size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl.get(), n);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      read_error = errc::eof;  // close_notify
    } else {
      KHZ_LOG(warn, "tls: reading from " << inner.peer_address() << " failed: " << reason_now());
      read_error = errc::tls_error;
    }
    break;
  }
  inner.input().release();
}

bool TlsConnection::State::write_plaintext(const char* data, std::size_t n) {
  while (n > 0) {
    int chunk = clamp_int(n);
    int w = SSL_write(ssl.get(), data, chunk);
    if (w <= 0) {
      KHZ_LOG(warn, "tls: writing to " << inner.peer_address() << " failed: " << reason_now());
      write_error = errc::tls_error;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool TlsConnection::State::encrypt_output() {
  ERR_clear_error();
  std::size_t gathered = 0;
  bool ok = true;
  conn.output_.for_each_segment([&](std::string_view s) {
    if (!ok) return;
    if (gathered + s.size() <= kRecordPlaintext) {
      std::memcpy(coalesce_scratch + gathered, s.data(), s.size());
      gathered += s.size();
      return;
    }
    if (gathered > 0) {
      ok = write_plaintext(coalesce_scratch, gathered);
      gathered = 0;
    }
    if (ok) ok = write_plaintext(s.data(), s.size());
  });
  if (ok && gathered > 0) ok = write_plaintext(coalesce_scratch, gathered);
  conn.output_.skip(conn.output_.size());
  conn.output_.release();
  return ok;
}

void TlsConnection::State::start_writer() {
  if (writing || write_error || inner.output().empty()) return;
  writing = true;
  spawn(write_loop());
}

Task<void> TlsConnection::State::write_loop() {
  std::error_code ec;
  while (!inner.output().empty()) {
    inner.set_write_timeout(conn.write_timeout_ > Duration::zero() ? conn.write_timeout_ : write_limit);
    ec = co_await inner.flush();
    if (ec) break;
  }
  writing = false;
  if (ec && !write_error) write_error = ec;
  std::coroutine_handle<> flushed = std::exchange(flush_waiter, {});
  if (flushed) conn.flush_error_ = ec ? ec : write_error;
  // Every inner flush finished at once, inside start_flush: the outer flush goes on inline
  // when start_flush returns false. Resuming it here would run the handler on top of
  // start_flush's stack, one level deeper for each flush that goes through at once.
  if (flush_on_stack) flushed = {};
  std::coroutine_handle<> internal = std::exchange(writer_done_waiter, {});
  // Resume last; an internal waiter's outer operation (or the outer flush) keeps `this` alive.
  if (internal) internal.resume();
  if (flushed) flushed.resume();
}

Task<void> TlsConnection::State::read_loop() {
  std::error_code ec;
  for (;;) {
    Duration limit{};
    if (read_deadline != kNever) {
      limit = read_deadline - Clock::now();
      if (limit <= Duration::zero()) {
        ec = errc::timed_out;
        break;
      }
    }
    inner.set_read_timeout(limit);
    ec = co_await inner.fill(inner.input().size() + 1);
    if (ec) {
      if (ec == errc::eof) read_error = ec;
      break;
    }
    decrypt_available();
    start_writer();  // alerts, key updates: what decrypting had to answer
    if (conn.input_.size() >= fill_want) break;
    if (read_error) {
      ec = read_error;
      break;
    }
    if (closed) {
      ec = errc::cancelled;
      break;
    }
  }
  // With no outer flush waiting, nothing else would keep this connection alive for the writer.
  if (writing && !flush_waiter) co_await WriterDone{*this};
  if (conn.input_.size() >= fill_want) ec.clear();
  conn.fill_error_ = ec;
  std::coroutine_handle<> filled = std::exchange(fill_waiter, {});
  filled.resume();
}

void TlsConnection::State::resume_soon(std::coroutine_handle<> h) {
  EventLoop* loop = EventLoop::current();
  KHZ_ASSERT(loop != nullptr);
  loop->post([h] { h.resume(); });
}

std::string TlsConnection::State::reason_now() {
  std::string reason = openssl_errors();
  long verify = SSL_get_verify_result(ssl.get());
  if (verify != X509_V_OK) {
    reason += (reason.empty() ? "" : "; ") + std::string("certificate: ") + X509_verify_cert_error_string(verify);
  }
  return reason.empty() ? "unknown reason" : reason;
}

// ---------------------------------------------------------------------------------- TlsConnection

TlsConnection::TlsConnection(Connection& inner, std::shared_ptr<const TlsServerContext> context)
    : Connection(&inner), state_(std::make_unique<State>(*this, inner)) {
  State& st = *state_;
  st.server = true;
  st.handshake_timeout = context->handshake_timeout();
  st.ssl.reset(SSL_new(context->default_ctx()));
  KHZ_ASSERT(st.ssl != nullptr);
  st.context = std::move(context);
  BIO* bio = BIO_new(State::bio_method());
  BIO_set_data(bio, &st);
  SSL_set_bio(st.ssl.get(), bio, bio);
  SSL_set_accept_state(st.ssl.get());
}

TlsConnection::TlsConnection(Connection& inner, std::shared_ptr<const TlsClientContext> context,
                             std::string_view server_name)
    : Connection(&inner), state_(std::make_unique<State>(*this, inner)) {
  State& st = *state_;
  st.handshake_timeout = context->handshake_timeout();
  st.ssl.reset(SSL_new(context->ctx_for_connection()));
  KHZ_ASSERT(st.ssl != nullptr);
  SSL* ssl = st.ssl.get();
  std::string name(server_name);
  if (!name.empty() && !is_ip_address(name)) SSL_set_tlsext_host_name(ssl, name.c_str());  // RFC 6066: no IPs
  if (context->verify() && !name.empty()) {
    if (is_ip_address(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, name.c_str());
    }
  }
  st.context = std::move(context);
  BIO* bio = BIO_new(State::bio_method());
  BIO_set_data(bio, &st);
  SSL_set_bio(ssl, bio, bio);
  SSL_set_connect_state(ssl);
}

TlsConnection::TlsConnection(std::unique_ptr<Connection> inner, std::shared_ptr<const TlsClientContext> context,
                             std::string_view server_name)
    : TlsConnection(*inner, std::move(context), server_name) {
  owned_inner_ = std::move(inner);
}

void TlsConnection::set_handshake_timeout(std::chrono::milliseconds timeout) noexcept {
  state_->handshake_timeout = timeout;
}

std::string_view TlsConnection::verify_error() const noexcept {
  long verify = SSL_get_verify_result(state_->ssl.get());
  if (verify == X509_V_OK) return {};
  return X509_verify_cert_error_string(verify);
}

TlsConnection::~TlsConnection() {
  // An inner operation still outstanding would resume into freed memory: a caller bug.
  KHZ_ASSERT(!state_->writing && !state_->fill_waiter && !state_->flush_waiter);
}

void TlsConnection::State::fail_handshake(std::string_view why, const std::string& reason, bool quiet) {
  if (quiet) {
    KHZ_LOG(info, "tls: handshake with " << inner.peer_address() << " failed: " << why
                                         << (reason.empty() ? "" : ": ") << reason);
  } else {
    KHZ_LOG(warn, "tls: handshake with " << inner.peer_address() << " failed: " << why
                                         << (reason.empty() ? "" : ": ") << reason);
  }
}

Task<std::error_code> TlsConnection::handshake() {
  State& st = *state_;
  const Clock::time_point deadline =
      st.handshake_timeout > Duration::zero() ? Clock::now() + st.handshake_timeout : kNever;
  st.write_limit = st.handshake_timeout;
  std::error_code ec;
  std::string reason;
  bool received = false;
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(st.ssl.get());
    st.inner.input().release();
    st.start_writer();  // this flight goes out while the next is awaited
    if (r == 1) break;
    int err = SSL_get_error(st.ssl.get(), r);
    if (err != SSL_ERROR_WANT_READ) {
      ec = errc::tls_handshake_failed;
      reason = st.reason_now();
      break;
    }
    if (st.closed) {
      ec = errc::cancelled;
      break;
    }
    Duration limit{};  // zero: no deadline
    if (deadline != kNever && (limit = deadline - Clock::now()) <= Duration::zero()) {
      ec = errc::timed_out;
      break;
    }
    st.inner.set_read_timeout(limit);
    // Nothing received yet: idle, like a plaintext connection before its first request, so a
    // graceful shutdown ends it at once instead of waiting for the handshake timeout.
    const bool silent = !received;
    if (silent) st.inner.set_idle(true);
    ec = co_await st.inner.fill(st.inner.input().size() + 1);
    if (silent) st.inner.set_idle(false);
    received = true;
    if (ec) break;
  }
  if (!ec) {
    st.handshake_done = true;
    st.decrypt_available();  // application data that came with the last flight
    st.start_writer();
  }
  co_await State::WriterDone{st};  // the last flight, tickets, or the alert
  st.write_limit = Duration::zero();
  if (!ec && st.write_error) ec = st.write_error;
  if (ec) {
    if (ec == errc::tls_handshake_failed) {
      st.fail_handshake("TLS error", reason);
    } else if (ec == errc::timed_out) {
      st.fail_handshake("timed out after " + std::to_string(st.handshake_timeout.count()) + " ms", "");
    } else {
      const bool quiet = ec == errc::eof || ec == errc::shutting_down || ec == errc::cancelled;
      st.fail_handshake(ec.message(), openssl_errors(), quiet);
    }
  }
  co_return ec;
}

Task<void> TlsConnection::shutdown() {
  State& st = *state_;
  if (!st.closed && st.handshake_done && !st.write_error) {
    ERR_clear_error();
    (void)SSL_shutdown(st.ssl.get());  // queues close_notify; we do not wait for the peer's
    ERR_clear_error();
    st.write_limit = std::chrono::seconds(1);
    st.start_writer();
  }
  co_await State::WriterDone{st};
}

std::string_view TlsConnection::alpn() const noexcept {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(state_->ssl.get(), &p, &len);
  return p == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(p), len);
}

std::string_view TlsConnection::server_name() const noexcept {
  const char* name = SSL_get_servername(state_->ssl.get(), TLSEXT_NAMETYPE_host_name);
  return name == nullptr ? std::string_view() : std::string_view(name);
}

std::string_view TlsConnection::version() const noexcept { return SSL_get_version(state_->ssl.get()); }

std::string_view TlsConnection::cipher() const noexcept {
  const char* c = SSL_get_cipher_name(state_->ssl.get());
  return c == nullptr ? std::string_view() : std::string_view(c);
}

bool TlsConnection::session_reused() const noexcept { return SSL_session_reused(state_->ssl.get()) == 1; }

bool TlsConnection::has_peer_certificate() const noexcept {
  return SSL_get0_peer_certificate(state_->ssl.get()) != nullptr &&
         SSL_get_verify_result(state_->ssl.get()) == X509_V_OK;
}

std::string TlsConnection::peer_certificate_subject() const {
  X509* cert = SSL_get0_peer_certificate(state_->ssl.get());
  if (cert == nullptr) return {};
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

void TlsConnection::close() noexcept {
  state_->closed = true;
  state_->inner.close();  // outstanding inner operations end with cancelled, and so do ours
}

std::string TlsConnection::peer_address() const { return state_->inner.peer_address(); }
std::string TlsConnection::local_address() const { return state_->inner.local_address(); }

void TlsConnection::start_fill(std::size_t n, std::coroutine_handle<> h) {
  State& st = *state_;
  st.fill_want = n;
  auto finish_soon = [&](std::error_code ec) {
    fill_error_ = ec;
    State::resume_soon(std::exchange(st.fill_waiter, {}));
  };
  st.fill_waiter = h;
  if (st.closed) return finish_soon(errc::cancelled);
  if (!st.handshake_done) return finish_soon(errc::tls_error);  // handshake() first
  if (is_idle() && is_draining() && input_.size() < n) return finish_soon(errc::shutting_down);
  // Normally the inner buffer is empty here (every read decrypts all it can) and this costs
  // nothing; OpenSSL may hold part of a record.
  if (!st.inner.input().empty() || SSL_has_pending(st.ssl.get()) == 1) st.decrypt_available();
  if (input_.size() >= n) return finish_soon({});
  if (st.read_error) return finish_soon(st.read_error);
  if (is_idle() && input_.empty()) input_.shrink();  // idle: hold no buffer while waiting
  st.read_deadline = read_timeout_ > Duration::zero() ? Clock::now() + read_timeout_ : kNever;
  spawn(st.read_loop());
}

bool TlsConnection::start_flush(std::coroutine_handle<> h) {
  State& st = *state_;
  st.flush_waiter = h;
  auto finish_soon = [&](std::error_code ec) {
    flush_error_ = ec;
    State::resume_soon(std::exchange(st.flush_waiter, {}));
    return true;
  };
  if (st.closed) return finish_soon(errc::cancelled);
  if (!st.handshake_done) return finish_soon(errc::tls_error);
  if (st.write_error) return finish_soon(st.write_error);
  if (!st.encrypt_output()) return finish_soon(st.write_error);
  if (st.writing) return true;  // the running writer takes the new records along and completes us
  st.flush_on_stack = true;
  st.start_writer();
  st.flush_on_stack = false;
  // The writer waits on the inner flush and resumes us; or the inner connection took every
  // record at once (netpoll, when the socket has room) and the coroutine goes on inline.
  return st.flush_waiter != nullptr;
}

void TlsConnection::on_idle_while_draining() noexcept {
  // Never called for a decorator (the transporter marks the inner connection, and set_idle
  // passes idleness down): the inner connection ends the reader's pending fill, and the
  // reader hands its shutting_down on.
}

}  // namespace khz::transport
