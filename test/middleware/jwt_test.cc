// SPDX-License-Identifier: Apache-2.0
#include <utility>  // before Asio's coroutine headers (Boost 1.74 with GCC 12)

#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/middleware/jwt.h>

#include <catch2/catch.hpp>

#include "middleware/jwt_signer.h"
#include "middleware/log_capture.h"
#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>

using khz::middleware::JwtAlg;
using khz::middleware::TokenFrom;
using khz::test::SigningKey;
using khz::test::sign_hmac;
using khz::testing::perform_request;

namespace {

const std::string kSecret(64, 's');  // long enough for HS512
const std::string kOtherSecret(64, 'x');

std::int64_t now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string claims(std::string extra = {}) {
  std::string out = R"({"sub":"ann","exp":)" + std::to_string(now() + 600);
  if (!extra.empty()) out += "," + extra;
  return out + "}";
}

const SigningKey& rsa() {
  static const SigningKey k = SigningKey::generate(SigningKey::Kind::rsa);
  return k;
}
const SigningKey& rsa2() {
  static const SigningKey k = SigningKey::generate(SigningKey::Kind::rsa);
  return k;
}
const SigningKey& ec() {
  static const SigningKey k = SigningKey::generate(SigningKey::Kind::ec);
  return k;
}
const SigningKey& ed() {
  static const SigningKey k = SigningKey::generate(SigningKey::Kind::ed25519);
  return k;
}

void whoami(khz::RequestContext& c) {
  const khz::Json* claims = khz::middleware::jwt_claims(c);
  const khz::Json* sub = claims != nullptr ? claims->find("sub") : nullptr;
  c.string(200, sub != nullptr && sub->string() != nullptr ? *sub->string() : std::string("?"));
}

khz::Response get_with(khz::Engine& e, const std::string& token) {
  return perform_request(e, "GET", "/me", {{"Authorization", "Bearer " + token}});
}

// Static keys of every kind, each with a kid and its own allow-list.
khz::middleware::JwtOptions every_kind() {
  return {.keys = {{.kid = "h", .algorithms = {JwtAlg::hs256, JwtAlg::hs384, JwtAlg::hs512}, .secret = kSecret},
                   {.kid = "r", .algorithms = {JwtAlg::rs256, JwtAlg::rs384, JwtAlg::rs512, JwtAlg::ps256},
                    .public_key_pem = rsa().public_pem()},
                   {.kid = "e", .algorithms = {JwtAlg::es256}, .public_key_pem = ec().public_pem()},
                   {.kid = "d", .algorithms = {JwtAlg::eddsa}, .public_key_pem = ed().public_pem()}},
          .audiences = {"orders", "billing"},
          .issuers = {"https://login.example/"}};
}

std::string good_claims() { return claims(R"("aud":"orders","iss":"https://login.example/")"); }

}  // namespace

TEST_CASE("jwt: every algorithm is accepted with its key, and the claims reach the handler") {
  khz::Engine e;
  e.use(khz::middleware::jwt(every_kind()));
  e.get("/me", whoami);
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    CAPTURE(alg);
    const std::string t = sign_hmac(alg, kSecret, std::string(R"({"alg":")") + alg + R"(","kid":"h"})", good_claims());
    auto r = get_with(e, t);
    REQUIRE(r.status() == 200);
    REQUIRE(r.body() == "ann");
  }
  struct Signed {
    const SigningKey& key;
    const char* alg;
    const char* kid;
  };
  for (const Signed& s : {Signed{rsa(), "RS256", "r"}, Signed{rsa(), "RS384", "r"}, Signed{rsa(), "RS512", "r"},
                          Signed{rsa(), "PS256", "r"}, Signed{ec(), "ES256", "e"}, Signed{ed(), "EdDSA", "d"}}) {
    CAPTURE(s.alg);
    const std::string header = std::string(R"({"alg":")") + s.alg + R"(","typ":"JWT","kid":")" + s.kid + "\"}";
    auto r = get_with(e, s.key.sign(s.alg, header, good_claims()));
    REQUIRE(r.status() == 200);
    REQUIRE(r.body() == "ann");
  }
  // aud as an array naming one of the audiences; nbf and iat in the past.
  const std::string array_aud = claims(R"("aud":["other","billing"],"iss":"https://login.example/","nbf":)" +
                                       std::to_string(now() - 10) + R"(,"iat":)" + std::to_string(now() - 10));
  REQUIRE(get_with(e, sign_hmac("HS256", kSecret, R"({"alg":"HS256","kid":"h"})", array_aud)).status() == 200);
}

TEST_CASE("jwt: bad tokens are refused with 401, an RFC 6750 challenge and a log line") {
  khz::Engine e;
  auto options = every_kind();
  options.required_claims = {"sub"};
  options.max_token_size = 2048;
  e.use(khz::middleware::jwt(options));
  bool ran = false;
  e.get("/me", [&](khz::RequestContext& c) { ran = true; whoami(c); });
  const std::string hs = R"({"alg":"HS256","kid":"h"})";
  const std::string iss_aud = R"("aud":"orders","iss":"https://login.example/")";
  const std::string good = sign_hmac("HS256", kSecret, hs, good_claims());
  const std::string good_sig = good.substr(good.rfind('.'));
  struct Case {
    const char* name;
    std::string token;
    const char* logged;
  };
  const Case cases[] = {
      {"forged signature", sign_hmac("HS256", kOtherSecret, hs, good_claims()), "bad signature"},
      {"payload swapped under a good signature",
       khz::test::base64url(hs) + "." + khz::test::base64url(claims(R"("aud":"orders","iss":"https://login.example/","admin":true)")) + good_sig,
       "bad signature"},
      {"RS256 signature by another key", rsa2().sign("RS256", R"({"alg":"RS256","kid":"r"})", good_claims()), "bad signature"},
      {"ES256 signature of the wrong length",
       ec().sign("ES256", R"({"alg":"ES256","kid":"e"})", good_claims()) + "AAAA", "bad signature"},
      {"expired", sign_hmac("HS256", kSecret, hs, R"({"sub":"ann","exp":)" + std::to_string(now() - 5) + "," + iss_aud + "}"),
       "expired"},
      {"exp not a number", sign_hmac("HS256", kSecret, hs, R"({"sub":"ann","exp":"tomorrow",)" + iss_aud + "}"),
       "exp is not a number"},
      {"no exp", sign_hmac("HS256", kSecret, hs, R"({"sub":"ann",)" + iss_aud + "}"), "no exp claim"},
      {"not yet valid", sign_hmac("HS256", kSecret, hs, claims(iss_aud + R"(,"nbf":)" + std::to_string(now() + 60))),
       "not yet valid"},
      {"issued in the future", sign_hmac("HS256", kSecret, hs, claims(iss_aud + R"(,"iat":)" + std::to_string(now() + 60))),
       "issued in the future"},
      {"wrong aud", sign_hmac("HS256", kSecret, hs, claims(R"("aud":"shipping","iss":"https://login.example/")")),
       "wrong audience"},
      {"wrong aud array", sign_hmac("HS256", kSecret, hs, claims(R"("aud":["a","b"],"iss":"https://login.example/")")),
       "wrong audience"},
      {"no aud", sign_hmac("HS256", kSecret, hs, claims(R"("iss":"https://login.example/")")), "wrong audience"},
      {"wrong iss", sign_hmac("HS256", kSecret, hs, claims(R"("aud":"orders","iss":"https://evil.example/")")),
       "wrong issuer"},
      {"required claim missing",
       sign_hmac("HS256", kSecret, hs, R"({"exp":)" + std::to_string(now() + 60) + "," + iss_aud + "}"),
       "required claim sub missing"},
      {"alg none", khz::test::base64url(R"({"alg":"none","kid":"h"})") + "." + khz::test::base64url(good_claims()) + ".",
       "alg none refused"},
      {"alg none, signature kept",
       khz::test::base64url(R"({"alg":"none","kid":"h"})") + "." + khz::test::base64url(good_claims()) + good_sig,
       "alg none refused"},
      {"alg switched: RS256 key, HS256 token signed with its public key",
       sign_hmac("HS256", rsa().public_pem(), R"({"alg":"HS256","kid":"r"})", good_claims()),
       "algorithm HS256 not allowed for this key"},
      {"alg switched: HMAC key, RS256 token", rsa().sign("RS256", R"({"alg":"RS256","kid":"h"})", good_claims()),
       "algorithm RS256 not allowed for this key"},
      {"alg outside the key's allow-list", ec().sign("ES256", R"({"alg":"ES256","kid":"d"})", good_claims()),
       "algorithm ES256 not allowed for this key"},
      {"unsupported alg", sign_hmac("HS256", kSecret, R"({"alg":"HS999","kid":"h"})", good_claims()),
       "unsupported algorithm"},
      {"oversized", sign_hmac("HS256", kSecret, hs, claims(iss_aud + R"(,"pad":")" + std::string(3000, 'p') + "\"")),
       "oversized token (over 2048 bytes)"},
      {"two segments", good.substr(0, good.rfind('.')), "malformed token (2 segments, not 3)"},
      {"four segments", good + ".e30", "malformed token (4 segments, not 3)"},
      {"one segment", "abc", "malformed token (1 segments, not 3)"},
      {"bad base64url: '+'", "eyJ+bGci." + good.substr(good.find('.') + 1), "bad base64url"},
      {"bad base64url: padding", good + "=", "bad base64url"},
      {"bad base64url: impossible length", "eyJhb." + good.substr(good.find('.') + 1), "bad base64url"},
      {"header not JSON", khz::test::base64url("{alg:HS256}") + "." + khz::test::base64url(good_claims()) + good_sig,
       "header is not a JSON object"},
      {"header duplicate member",
       sign_hmac("HS256", kSecret, R"({"alg":"HS256","alg":"none","kid":"h"})", good_claims()),
       "header is not a JSON object"},
      {"header an array", khz::test::base64url("[1]") + "." + khz::test::base64url(good_claims()) + good_sig,
       "header is not a JSON object"},
      {"payload not JSON", sign_hmac("HS256", kSecret, hs, "{\"sub\":"), "payload is not a JSON object"},
      {"no alg", sign_hmac("HS256", kSecret, R"({"kid":"h"})", good_claims()), "no alg"},
      {"crit", sign_hmac("HS256", kSecret, R"({"alg":"HS256","kid":"h","crit":["exp"]})", good_claims()), "crit header"},
      {"unknown kid", sign_hmac("HS256", kSecret, R"({"alg":"HS256","kid":"zz"})", good_claims()), "unknown kid"},
      {"kid not a string", sign_hmac("HS256", kSecret, R"({"alg":"HS256","kid":7})", good_claims()),
       "kid is not a string"},
      {"missing kid with several keys", sign_hmac("HS256", kSecret, R"({"alg":"HS256"})", good_claims()),
       "no kid, and 4 keys"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    khz::test::LogCapture log;
    auto r = get_with(e, c.token);
    REQUIRE(r.status() == 401);
    REQUIRE(r.header("WWW-Authenticate") == R"(Bearer error="invalid_token")");
    REQUIRE(r.body() == "401 unauthorized");
    REQUIRE_FALSE(ran);
    const std::string text = log.text();
    CAPTURE(text);
    REQUIRE(text.find("jwt: GET /me: ") != std::string::npos);
    REQUIRE(text.find(c.logged) != std::string::npos);
    REQUIRE(text.find("(in header Authorization); 401") != std::string::npos);
    REQUIRE(std::count(text.begin(), text.end(), '\n') == 1);  // one line
  }
  REQUIRE(get_with(e, good).status() == 200);  // the same engine accepts the good one
}

TEST_CASE("jwt: no token, the wrong scheme, leeway, cookie and query lookups, a realm") {
  khz::Engine e;
  e.use(khz::middleware::jwt({.lookups = {{.from = TokenFrom::cookie, .name = "access", .scheme = ""},
                                          {.from = TokenFrom::query, .name = "token", .scheme = ""},
                                          {}},
                              .keys = {{.algorithms = {JwtAlg::hs256}, .secret = kSecret}},
                              .leeway = std::chrono::seconds(30),
                              .realm = "api"}));
  e.get("/me", whoami);
  const std::string hs = R"({"alg":"HS256"})";  // one key without kid: a token without kid uses it
  {
    khz::test::LogCapture log;
    auto r = perform_request(e, "GET", "/me");
    REQUIRE(r.status() == 401);
    REQUIRE(r.header("WWW-Authenticate") == R"(Bearer realm="api")");
    REQUIRE(log.text().empty());  // no token: not logged
  }
  {
    khz::test::LogCapture log;
    auto r = perform_request(e, "GET", "/me", {{"Authorization", "Basic YW5uOng="}});
    REQUIRE(r.status() == 401);
    REQUIRE(r.header("WWW-Authenticate") == R"(Bearer realm="api", error="invalid_token")");
    REQUIRE(log.text().find("without the Bearer scheme") != std::string::npos);
  }
  {
    khz::test::LogCapture log;
    auto r = perform_request(e, "GET", "/me", {{"Authorization", "Bearer a.b.c"}, {"Authorization", "Bearer a.b.c"}});
    REQUIRE(r.status() == 401);
    REQUIRE(log.text().find("sent 2 times") != std::string::npos);
  }
  // Within the leeway: expired 10 s ago, valid from 10 s on.
  const std::string lenient = sign_hmac("HS256", kSecret, hs, R"({"sub":"bob","exp":)" + std::to_string(now() - 10) +
                                                                  R"(,"nbf":)" + std::to_string(now() + 10) + "}");
  REQUIRE(perform_request(e, "GET", "/me", {{"Authorization", "bearer " + lenient}}).body() == "bob");
  const std::string late = sign_hmac("HS256", kSecret, hs, R"({"sub":"bob","exp":)" + std::to_string(now() - 40) + "}");
  REQUIRE(perform_request(e, "GET", "/me", {{"Authorization", "Bearer " + late}}).status() == 401);
  const std::string good = sign_hmac("HS256", kSecret, hs, claims());
  REQUIRE(perform_request(e, "GET", "/me", {{"Cookie", "access=" + good}}).body() == "ann");
  REQUIRE(perform_request(e, "GET", "/me?token=" + good).body() == "ann");
  // The cookie is tried first and decides, even when a good header follows.
  auto r = perform_request(e, "GET", "/me", {{"Cookie", "access=" + late}, {"Authorization", "Bearer " + good}});
  REQUIRE(r.status() == 401);
  {
    khz::test::LogCapture log;
    REQUIRE(perform_request(e, "GET", "/me?token=").status() == 401);
    REQUIRE(log.text().find("malformed token (empty, in query parameter token)") != std::string::npos);
  }
}

TEST_CASE("jwt: bad setups throw") {
  using O = khz::middleware::JwtOptions;
  const auto throws = [](O o) { REQUIRE_THROWS_AS(khz::middleware::jwt(std::move(o)), std::invalid_argument); };
  throws(O{});
  throws(O{.keys = {{.algorithms = {}, .secret = kSecret}}});
  throws(O{.keys = {{.algorithms = {JwtAlg::hs256}}}});
  throws(O{.keys = {{.algorithms = {JwtAlg::hs256}, .secret = kSecret, .public_key_pem = rsa().public_pem()}}});
  throws(O{.keys = {{.algorithms = {JwtAlg::rs256}, .secret = kSecret}}});                  // RS256 on a secret
  throws(O{.keys = {{.algorithms = {JwtAlg::hs256}, .public_key_pem = rsa().public_pem()}}});  // HS256 on a PEM
  throws(O{.keys = {{.algorithms = {JwtAlg::es256}, .public_key_pem = rsa().public_pem()}}});  // wrong key type
  throws(O{.keys = {{.algorithms = {JwtAlg::rs256}, .public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n"}}});
  {
    EVP_PKEY* small = EVP_RSA_gen(1024);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), small);
    EVP_PKEY_free(small);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    throws(O{.keys = {{.algorithms = {JwtAlg::rs256}, .public_key_pem = std::string(data, static_cast<std::size_t>(n))}}});
  }
  throws(O{.keys = {{.algorithms = {JwtAlg::hs256}, .secret = "short"}}});
  throws(O{.keys = {{.algorithms = {JwtAlg::hs512}, .secret = std::string(32, 'k')}}});  // HS512 needs 64
  throws(O{.keys = {{.kid = "a", .algorithms = {JwtAlg::hs256}, .secret = kSecret},
                    {.kid = "a", .algorithms = {JwtAlg::hs256}, .secret = kOtherSecret}}});
  throws(O{.jwks = {.url = "http://127.0.0.1:1/jwks"}});  // no client
  khz::Client client;
  throws(O{.jwks = {.url = "http://127.0.0.1:1/jwks", .client = &client, .algorithms = {JwtAlg::hs256}}});
  throws(O{.lookups = {}, .keys = {{.algorithms = {JwtAlg::hs256}, .secret = kSecret}}});
  throws(O{.lookups = {{.from = TokenFrom::query, .name = "t", .scheme = "Bearer"}},
           .keys = {{.algorithms = {JwtAlg::hs256}, .secret = kSecret}}});
  throws(O{.keys = {{.algorithms = {JwtAlg::hs256}, .secret = kSecret}}, .realm = "a\"b"});
}

namespace {

// A JWKS endpoint on its own server; the document can change and fetches are counted.
struct JwksEndpoint {
  std::mutex mutex;
  std::string document;
  std::atomic<int> fetches{0};
  void set(std::string d) {
    std::lock_guard lock(mutex);
    document = std::move(d);
  }
  void serve(khz::RequestContext& c) {
    ++fetches;
    std::lock_guard lock(mutex);
    c.data(200, "application/json", document);
  }
};

std::string jwks_of(std::initializer_list<std::string> keys) {
  std::string out = R"({"keys":[)";
  for (const auto& k : keys) out += (out.back() == '[' ? "" : ",") + k;
  return out + "]}";
}

}  // namespace

TEST_CASE("jwt: keys from a JWKS on another server, refetched for an unknown kid, rate-limited") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      JwksEndpoint endpoint;
      endpoint.set(jwks_of({rsa().jwk("r1", R"("use":"sig","alg":"RS256")"), ec().jwk("e1"), ed().jwk("d1"),
                            rsa2().jwk("dup"), ec().jwk("dup"),
                            R"({"kty":"oct","kid":"o1","k":"c2VjcmV0"})",                  // skipped: symmetric
                            rsa2().jwk("enc1", R"("use":"enc")"),                           // skipped: encryption
                            R"({"kty":"EC","kid":"bad","crv":"P-256","x":"AAAA","y":"AAAA"})"}));  // skipped: malformed
      khz::test::TestServer keys_server(transport);
      keys_server.server.get("/jwks", [&](khz::RequestContext& c) { endpoint.serve(c); });
      keys_server.start();

      khz::test::TestServer s(transport);
      khz::Client client;  // after the servers: destroyed first
      s.server.use(khz::middleware::jwt({.jwks = {.url = keys_server.url("/jwks"), .client = &client,
                                                  .min_refetch = std::chrono::seconds(0)}}));
      s.server.get("/me", whoami);
      s.start();

      khz::BlockingClient caller;
      const auto call = [&](const std::string& token) {
        khz::ClientRequest req{.url = s.url("/me")};
        req.headers.set("Authorization", "Bearer " + token);
        auto r = caller.send(std::move(req));
        REQUIRE(r);
        return std::make_pair(r->status(), std::string(r->body()));
      };
      khz::test::LogCapture log;
      REQUIRE(call(rsa().sign("RS256", R"({"alg":"RS256","kid":"r1"})", claims())) == std::make_pair(200, std::string("ann")));
      REQUIRE(endpoint.fetches == 1);
      REQUIRE(log.text().find("jwt: JWKS " + keys_server.url("/jwks") + " (first fetch): 5 keys, 3 skipped") !=
              std::string::npos);
      REQUIRE(call(ec().sign("ES256", R"({"alg":"ES256","kid":"e1"})", claims())).first == 200);
      REQUIRE(call(ed().sign("EdDSA", R"({"alg":"EdDSA","kid":"d1"})", claims())).first == 200);
      REQUIRE(endpoint.fetches == 1);  // served from the cached set
      // The JWK's "alg" narrows the allow-list: r1 is RS256 only.
      REQUIRE(call(rsa().sign("PS256", R"({"alg":"PS256","kid":"r1"})", claims())).first == 401);
      // A kid two JWKs share is refused; so is a token without kid when several keys apply.
      REQUIRE(call(rsa2().sign("RS256", R"({"alg":"RS256","kid":"dup"})", claims())).first == 401);
      REQUIRE(call(rsa().sign("RS256", R"({"alg":"RS256"})", claims())).first == 401);
      REQUIRE(endpoint.fetches == 1);
      // No key from the JWKS ever verifies an HMAC token, even one made with the JWK's bytes.
      REQUIRE(call(sign_hmac("HS256", rsa().public_pem(), R"({"alg":"HS256","kid":"r1"})", claims())).first == 401);
      const std::string text = log.text();
      REQUIRE(text.find("kid shared by 2 keys") != std::string::npos);
      REQUIRE(text.find("no kid, and 5 keys") != std::string::npos);
      REQUIRE(text.find("algorithm PS256 not allowed for this key") != std::string::npos);
      REQUIRE(text.find("algorithm HS256 not allowed for this key") != std::string::npos);

      // Key rotation: a new kid is unknown until the JWKS is fetched again, which it is at once.
      endpoint.set(jwks_of({rsa().jwk("r1"), rsa2().jwk("r2")}));
      REQUIRE(call(rsa2().sign("RS256", R"({"alg":"RS256","kid":"r2"})", claims())).first == 200);
      REQUIRE(endpoint.fetches == 2);
      // An unknown kid still unknown after the refetch: refused.
      REQUIRE(call(rsa2().sign("RS256", R"({"alg":"RS256","kid":"r9"})", claims())).first == 401);
      REQUIRE(endpoint.fetches == 3);
    }
  }
}

TEST_CASE("jwt: unknown kids refetch the JWKS at most once per min_refetch; a failed fetch keeps the keys") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      JwksEndpoint endpoint;
      endpoint.set(jwks_of({ec().jwk("e1")}));
      khz::test::TestServer keys_server(transport);
      keys_server.server.get("/jwks", [&](khz::RequestContext& c) { endpoint.serve(c); });
      keys_server.start();
      khz::test::TestServer s(transport);
      khz::Client client;
      s.server.use(khz::middleware::jwt({.jwks = {.url = keys_server.url("/jwks"), .client = &client,
                                                  .min_refetch = std::chrono::seconds(3600)}}));
      s.server.get("/me", whoami);
      s.start();
      const std::string good = ec().sign("ES256", R"({"alg":"ES256","kid":"e1"})", claims());
      const std::string unknown = ec().sign("ES256", R"({"alg":"ES256","kid":"nope"})", claims());
      const auto curl = [&](const std::string& token, const char* version) {
        return khz::test::run_command("curl -s -o /dev/null -w '%{http_code}' " + std::string(version) +
                                      " -H 'Authorization: Bearer " + token + "' " + s.url("/me")).output;
      };
      for (const char* version : {"--http1.1", "--http2-prior-knowledge"}) {
        CAPTURE(version);
        REQUIRE(curl(good, version) == "200");
        for (int i = 0; i < 5; ++i) REQUIRE(curl(unknown, version) == "401");
      }
      REQUIRE(endpoint.fetches == 1);  // the first fetch only: the refetch waits an hour

      // A JWKS server answering garbage: the keys already fetched stay in use.
      khz::test::TestServer s2(transport);
      khz::Client client2;
      endpoint.set("not json");
      s2.server.use(khz::middleware::jwt({.keys = {{.kid = "h", .algorithms = {JwtAlg::hs256}, .secret = kSecret}},
                                          .jwks = {.url = keys_server.url("/jwks"), .client = &client2}}));
      s2.server.get("/me", whoami);
      s2.start();
      khz::test::LogCapture log;
      const std::string hs = sign_hmac("HS256", kSecret, R"({"alg":"HS256","kid":"h"})", claims());
      REQUIRE(khz::test::run_command("curl -s -H 'Authorization: Bearer " + hs + "' " + s2.url("/me")).output == "ann");
      REQUIRE(log.text().find("(first fetch): not JSON") != std::string::npos);
      // The clients' pooled connections live on the servers' loops: the servers stop first
      // (a Client is destroyed once the loops it used have stopped).
      s2.server.shutdown();
      s.server.shutdown();
    }
  }
}

TEST_CASE("jwt: requests that come during the first JWKS fetch wait for it") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      JwksEndpoint endpoint;
      endpoint.set(jwks_of({ed().jwk("d1")}));
      khz::test::TestServer keys_server(transport);
      keys_server.server.get("/jwks", [&](khz::RequestContext& c) -> khz::Task<> {
        khz::RequestContext& ctx = c;
        co_await khz::sleep_for(std::chrono::milliseconds(300));  // a slow identity provider
        endpoint.serve(ctx);
      });
      keys_server.start();
      khz::test::TestServer s(transport);
      khz::Client client;
      s.server.use(khz::middleware::jwt({.jwks = {.url = keys_server.url("/jwks"), .client = &client}}));
      s.server.get("/me", whoami);
      s.start();
      const std::string token = ed().sign("EdDSA", R"({"alg":"EdDSA","kid":"d1"})", claims());
      std::string urls;
      for (int i = 0; i < 6; ++i) urls += " " + s.url("/me");
      const std::string codes = khz::test::run_command(
          "curl -s --parallel --parallel-immediate --parallel-max 6 -o /dev/null -o /dev/null -o /dev/null -o /dev/null"
          " -o /dev/null -o /dev/null -w '%{http_code}\\n' -H 'Authorization: Bearer " + token + "'" + urls + " 2>/dev/null").output;
      REQUIRE(codes == "200\n200\n200\n200\n200\n200\n");
      REQUIRE(endpoint.fetches == 1);
    }
  }
}

TEST_CASE("jwt over TLS: the JWKS from an https endpoint, tokens over h2 and http/1.1") {
  for (const auto& transport : khz::test::transports()) {
    DYNAMIC_SECTION("transport " << transport) {
      const auto& pki = khz::test::TestPki::get();
      JwksEndpoint endpoint;
      endpoint.set(jwks_of({rsa().jwk("r1", R"("alg":"PS256")")}));
      khz::test::TestServer keys_server(transport, {.tls_cert_file = pki.alpha_cert, .tls_key_file = pki.alpha_key});
      keys_server.server.get("/jwks", [&](khz::RequestContext& c) { endpoint.serve(c); });
      keys_server.start();
      khz::test::TestServer s(transport, {.tls_cert_file = pki.alpha_cert, .tls_key_file = pki.alpha_key});
      khz::Client client({.tls_ca_file = pki.ca_cert});
      const std::string jwks_url = "https://127.0.0.1:" + std::to_string(keys_server.port()) + "/jwks";
      s.server.use(khz::middleware::jwt({.jwks = {.url = jwks_url, .client = &client}}));
      s.server.get("/me", whoami);
      s.start();
      const std::string token = rsa().sign("PS256", R"({"alg":"PS256","kid":"r1"})", claims());
      const std::string url = "https://127.0.0.1:" + std::to_string(s.port()) + "/me";
      for (const std::string version : {"--http1.1", "--http2"}) {
        CAPTURE(version);
        const auto run = [&](const std::string& t) {
          return khz::test::run_command("curl -s --max-time 10 --cacert " + pki.ca_cert + " " + version +
                                        " -w ' %{http_code} %{http_version}' -H 'Authorization: Bearer " + t + "' " + url)
              .output;
        };
        REQUIRE(run(token) == (version == "--http2" ? "ann 200 2" : "ann 200 1.1"));
        REQUIRE(run(token.substr(0, token.size() - 2) + "AA").find("401") != std::string::npos);  // another signature
      }
      REQUIRE(endpoint.fetches == 1);
    }
  }
}
