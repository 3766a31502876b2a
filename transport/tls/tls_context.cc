// SPDX-License-Identifier: Apache-2.0
#include "tls/tls_context.h"

#include <khz/common/log.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace khz::transport {
namespace {

constexpr unsigned char kSessionIdContext[] = "khz";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

[[noreturn]] void fail(const std::string& what) {
  std::string reason = openssl_errors();
  throw std::invalid_argument("khz tls: " + what + (reason.empty() ? "" : ": " + reason));
}

// Forward-secret AEAD suites only; AES-128-GCM first (as strong as needed, and the fastest
// with AES-NI), then AES-256-GCM, then ChaCha20 for clients without AES hardware.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Ciphers = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

void set_ciphers(SSL_CTX* ctx) {
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 || SSL_CTX_set_ciphersuites(ctx, kTls13Ciphers) != 1) {
    fail("cannot set the cipher suites");
  }
}

int version_number(TlsVersion v) { return v == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION; }

void set_versions(SSL_CTX* ctx, TlsVersion min, TlsVersion max) {
  if (version_number(min) > version_number(max)) throw std::invalid_argument("khz tls: min_version > max_version");
  if (SSL_CTX_set_min_proto_version(ctx, version_number(min)) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, version_number(max)) != 1) {
    fail("cannot set the protocol versions");
  }
}

void use_certificate(SSL_CTX* ctx, const TlsCertificate& c) {
  if (SSL_CTX_use_certificate_chain_file(ctx, c.cert_file.c_str()) != 1) fail("cannot load certificate " + c.cert_file);
  if (SSL_CTX_use_PrivateKey_file(ctx, c.key_file.c_str(), SSL_FILETYPE_PEM) != 1) fail("cannot load key " + c.key_file);
  if (SSL_CTX_check_private_key(ctx) != 1) fail("key " + c.key_file + " does not match certificate " + c.cert_file);
}

// ALPN wire format: each name prefixed by its length.
std::string alpn_wire(const std::vector<std::string>& names) {
  std::string wire;
  for (const auto& n : names) {
    if (n.empty() || n.size() > 255) throw std::invalid_argument("khz tls: bad ALPN protocol name '" + n + "'");
    wire.push_back(static_cast<char>(n.size()));
    wire += n;
  }
  return wire;
}

// The DNS names a certificate covers: subjectAltName DNS entries, else the subject CN.
std::vector<std::string> certificate_names(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = gn->d.dNSName;
      names.push_back(lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                             static_cast<std::size_t>(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256] = {};
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    if (n > 0) names.push_back(lower(std::string_view(cn, static_cast<std::size_t>(n))));
  }
  return names;
}

bool name_matches(std::string_view pattern, std::string_view name) {
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    // "*.example.com" covers exactly one label: "a.example.com", not "example.com" or "a.b.example.com".
    auto dot = name.find('.');
    return dot != std::string_view::npos && dot > 0 && name.substr(dot) == pattern.substr(1);
  }
  return pattern == name;
}

// RFC 7301: the server picks, in its own order of preference, a protocol the client offered.
// No overlap: go on without ALPN (the connection speaks HTTP/1.1).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* preferred = static_cast<const std::vector<std::string>*>(arg);
  for (const auto& want : *preferred) {
    for (unsigned int i = 0; i < inlen;) {
      unsigned int len = in[i];
      if (i + 1 + len > inlen) break;
      if (len == want.size() && want.compare(0, len, reinterpret_cast<const char*>(in + i + 1), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int select_certificate(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  const auto* context = static_cast<const TlsServerContext*>(arg);
  SSL_CTX* chosen = context->ctx_for(name);
  if (chosen != nullptr && chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return SSL_TLSEXT_ERR_OK;  // no match: the default certificate
}

}  // namespace

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    if (reason != nullptr) {
      out += reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      out += buf;
    }
  }
  return out;
}

TlsServerContext::TlsServerContext(TlsServerOptions options) : options_(std::move(options)) {
  if (options_.certificates.empty()) throw std::invalid_argument("khz tls: a server needs at least one certificate");
  (void)alpn_wire(options_.alpn);  // validates the names
  if (options_.client_cert != ClientCertMode::none && options_.client_ca_file.empty()) {
    throw std::invalid_argument("khz tls: client certificate verification needs client_ca_file");
  }
  ERR_clear_error();
  for (const auto& c : options_.certificates) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) fail("SSL_CTX_new");
    SSL_CTX* p = ctx.get();
    set_versions(p, options_.min_version, options_.max_version);
    set_ciphers(p);
    SSL_CTX_set_options(p, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                               (options_.session_tickets ? 0 : SSL_OP_NO_TICKET));
    // Records are pulled from memory: let OpenSSL take several per read.
    SSL_CTX_set_read_ahead(p, 1);
    SSL_CTX_set_session_id_context(p, kSessionIdContext, sizeof kSessionIdContext - 1);
    use_certificate(p, c);
    if (!options_.alpn.empty()) SSL_CTX_set_alpn_select_cb(p, &select_alpn, &options_.alpn);
    if (options_.client_cert != ClientCertMode::none) {
      if (SSL_CTX_load_verify_locations(p, options_.client_ca_file.c_str(), nullptr) != 1) {
        fail("cannot load client CA file " + options_.client_ca_file);
      }
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options_.client_ca_file.c_str());
      if (names == nullptr) fail("no CA names in " + options_.client_ca_file);
      SSL_CTX_set_client_CA_list(p, names);
      int mode = SSL_VERIFY_PEER;
      if (options_.client_cert == ClientCertMode::require) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      SSL_CTX_set_verify(p, mode, nullptr);
    }
    Certificate entry{std::move(ctx), certificate_names(SSL_CTX_get0_certificate(p))};
    certificates_.push_back(std::move(entry));
  }
  // The first context starts every handshake; SNI may move the SSL to another.
  SSL_CTX_set_tlsext_servername_callback(default_ctx(), &select_certificate);
  SSL_CTX_set_tlsext_servername_arg(default_ctx(), this);
}

SSL_CTX* TlsServerContext::ctx_for(std::string_view server_name) const noexcept {
  std::string name;
  try {
    name = lower(server_name);
  } catch (...) {
    return nullptr;
  }
  for (const auto& c : certificates_) {
    for (const auto& pattern : c.names) {
      if (name_matches(pattern, name)) return c.ctx.get();
    }
  }
  return nullptr;
}

TlsClientContext::TlsClientContext(TlsClientOptions options) : options_(std::move(options)) {
  std::string alpn = alpn_wire(options_.alpn);
  ERR_clear_error();
  ctx_.reset(SSL_CTX_new(TLS_client_method()));
  if (!ctx_) fail("SSL_CTX_new");
  SSL_CTX* p = ctx_.get();
  set_versions(p, options_.min_version, options_.max_version);
  set_ciphers(p);
  SSL_CTX_set_options(p, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_read_ahead(p, 1);
  // The system CA store (~150 certificates to parse, tens of milliseconds) is loaded by the
  // first connection that verifies a peer, not here: a client that never dials https (or never
  // verifies) never pays for it.
  load_system_ca_ = options_.use_system_ca && !options_.insecure_skip_verify;
  if (!options_.ca_file.empty() && SSL_CTX_load_verify_locations(p, options_.ca_file.c_str(), nullptr) != 1) {
    fail("cannot load CA file " + options_.ca_file);
  }
  SSL_CTX_set_verify(p, options_.insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  const auto& cert = options_.client_certificate;
  if (cert.cert_file.empty() != cert.key_file.empty()) {
    throw std::invalid_argument("khz tls: a client certificate needs both cert_file and key_file");
  }
  if (!cert.cert_file.empty()) use_certificate(p, cert);
  // SSL_CTX_set_alpn_protos returns 0 on success.
  if (!alpn.empty() && SSL_CTX_set_alpn_protos(p, reinterpret_cast<const unsigned char*>(alpn.data()),
                                               static_cast<unsigned int>(alpn.size())) != 0) {
    fail("cannot set the ALPN list");
  }
}

SSL_CTX* TlsClientContext::ctx_for_connection() const {
  if (load_system_ca_) {
    std::call_once(system_ca_once_, [this] {
      ERR_clear_error();
      if (SSL_CTX_set_default_verify_paths(ctx_.get()) != 1) {
        KHZ_LOG(warn, "tls: cannot load the system CA store (" << openssl_errors() << "); peers must chain to the CA file");
      }
    });
  }
  return ctx_.get();
}

std::shared_ptr<const TlsServerContext> make_tls_server_context(TlsServerOptions options) {
  return std::make_shared<const TlsServerContext>(std::move(options));
}

std::shared_ptr<const TlsClientContext> make_tls_client_context(TlsClientOptions options) {
  return std::make_shared<const TlsClientContext>(std::move(options));
}

}  // namespace khz::transport
