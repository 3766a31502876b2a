// SPDX-License-Identifier: Apache-2.0
#include "support/tls_support.h"
#include "support/raw_client.h"

#include <khz/common/event_loop.h>
#include <khz/transport/error.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace khz::test {
namespace {

struct Key {
  EVP_PKEY* p = EVP_EC_gen("P-256");
  ~Key() { EVP_PKEY_free(p); }
};
struct Cert {
  X509* p = X509_new();
  ~Cert() { X509_free(p); }
};

void add_ext(X509* x, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error(std::string("bad extension ") + value);
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

// `issuer` null: self-signed CA. `san` and `eku` for leaves.
void make_cert(Cert& cert, Key& key, const char* cn, Cert* issuer, Key* issuer_key, const char* san, const char* eku) {
  static long serial = 1;
  X509* x = cert.p;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400);
  X509_set_pubkey(x, key.p);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer->p) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->p : x, x, nullptr, nullptr, 0);
  if (issuer == nullptr) {
    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x, &ctx, NID_subject_key_identifier, "hash");
  } else {
    add_ext(x, &ctx, NID_basic_constraints, "CA:FALSE");
    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
    add_ext(x, &ctx, NID_ext_key_usage, eku);
    add_ext(x, &ctx, NID_authority_key_identifier, "keyid");
    if (san != nullptr) add_ext(x, &ctx, NID_subject_alt_name, san);
  }
  if (X509_sign(x, issuer_key != nullptr ? issuer_key->p : key.p, EVP_sha256()) == 0) {
    throw std::runtime_error("X509_sign failed");
  }
}

void write_cert(const std::string& path, const Cert& cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  PEM_write_X509(f, cert.p);
  std::fclose(f);
}

void write_key(const std::string& path, const Key& key) {
  FILE* f = std::fopen(path.c_str(), "w");
  PEM_write_PrivateKey(f, key.p, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

struct PkiHolder {
  TestPki pki;
  PkiHolder() {
    char tmpl[] = "/tmp/khz-tls-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    pki.dir = tmpl;
    auto file = [&](const char* name) { return pki.dir + "/" + name; };
    Key ca_key, alpha_key, beta_key, client_key, rogue_key, rogue_client_key;
    Cert ca, alpha, beta, client, rogue, rogue_client;
    make_cert(ca, ca_key, "khz test CA", nullptr, nullptr, nullptr, nullptr);
    make_cert(alpha, alpha_key, "alpha.test", &ca, &ca_key, "DNS:alpha.test,DNS:localhost,IP:127.0.0.1", "serverAuth");
    make_cert(beta, beta_key, "beta.test", &ca, &ca_key, "DNS:beta.test,DNS:*.beta.test", "serverAuth");
    make_cert(client, client_key, "khz test client", &ca, &ca_key, nullptr, "clientAuth");
    make_cert(rogue, rogue_key, "rogue CA", nullptr, nullptr, nullptr, nullptr);
    make_cert(rogue_client, rogue_client_key, "rogue client", &rogue, &rogue_key, nullptr, "clientAuth");
    write_cert(pki.ca_cert = file("ca.crt"), ca);
    write_cert(pki.alpha_cert = file("alpha.crt"), alpha);
    write_key(pki.alpha_key = file("alpha.key"), alpha_key);
    write_cert(pki.beta_cert = file("beta.crt"), beta);
    write_key(pki.beta_key = file("beta.key"), beta_key);
    write_cert(pki.client_cert = file("client.crt"), client);
    write_key(pki.client_key = file("client.key"), client_key);
    write_cert(pki.rogue_ca_cert = file("rogue-ca.crt"), rogue);
    write_cert(pki.rogue_client_cert = file("rogue-client.crt"), rogue_client);
    write_key(pki.rogue_client_key = file("rogue-client.key"), rogue_client_key);
  }
  ~PkiHolder() {
    std::error_code ec;
    std::filesystem::remove_all(pki.dir, ec);
  }
};

}  // namespace

const TestPki& TestPki::get() {
  static PkiHolder holder;
  return holder.pki;
}

// ---------------------------------------------------------------------------- SocketConnection

SocketConnection::SocketConnection(std::uint16_t port) : port_(port) {
  fd_ = connect_loopback(port);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

SocketConnection::~SocketConnection() { close(); }

void SocketConnection::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;  // pending operations notice on their next poll and end with cancelled
}

void SocketConnection::start_fill(std::size_t n, std::coroutine_handle<> h) {
  fill_want_ = n;
  fill_waiter_ = h;
  fill_deadline_ = read_timeout_ > Duration::zero() ? Clock::now() + read_timeout_ : Clock::time_point::max();
  EventLoop::current()->post([this] { poll_fill(); });
}

bool SocketConnection::start_flush(std::coroutine_handle<> h) {
  flush_waiter_ = h;
  flush_deadline_ = write_timeout_ > Duration::zero() ? Clock::now() + write_timeout_ : Clock::time_point::max();
  EventLoop::current()->post([this] { poll_flush(); });
  return true;
}

void SocketConnection::poll_fill() {
  auto finish = [this](std::error_code ec) {
    fill_error_ = ec;
    std::exchange(fill_waiter_, {}).resume();
  };
  if (fd_ < 0) return finish(transport::errc::cancelled);
  if (eof_) return finish(transport::errc::eof);
  for (;;) {
    std::span<char> room = input_.reserve(1);
    ssize_t n = ::recv(fd_, room.data(), room.size(), 0);
    if (n > 0) {
      input_.commit(static_cast<std::size_t>(n));
      if (input_.size() >= fill_want_) return finish({});
      continue;
    }
    if (n == 0) {
      eof_ = true;
      return finish(transport::errc::eof);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return finish(std::error_code(errno, std::system_category()));
    break;
  }
  if (Clock::now() >= fill_deadline_) return finish(transport::errc::timed_out);
  pollfd p{fd_, POLLIN, 0};
  ::poll(&p, 1, 1);
  EventLoop::current()->post([this] { poll_fill(); });
}

void SocketConnection::poll_flush() {
  auto finish = [this](std::error_code ec) {
    flush_error_ = ec;
    std::exchange(flush_waiter_, {}).resume();
  };
  if (fd_ < 0) return finish(transport::errc::cancelled);
  while (!output_.empty()) {
    std::string_view s = output_.segment(0);
    ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
    if (n > 0) {
      output_.skip(static_cast<std::size_t>(n));
      output_.release();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return finish(std::error_code(errno, std::system_category()));
    break;
  }
  if (output_.empty()) return finish({});
  if (Clock::now() >= flush_deadline_) return finish(transport::errc::timed_out);
  pollfd p{fd_, POLLOUT, 0};
  ::poll(&p, 1, 1);
  EventLoop::current()->post([this] { poll_flush(); });
}

// ---------------------------------------------------------------------------- StderrCapture

StderrCapture::StderrCapture() {
  char tmpl[] = "/tmp/khz-stderr-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  path_ = tmpl;
  std::fflush(stderr);
  saved_ = ::dup(2);
  ::dup2(fd, 2);
  ::close(fd);
}

StderrCapture::~StderrCapture() {
  std::fflush(stderr);
  ::dup2(saved_, 2);
  ::close(saved_);
  ::unlink(path_.c_str());
}

std::string StderrCapture::text() const {
  std::ifstream in(path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace khz::test
