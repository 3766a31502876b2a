// SPDX-License-Identifier: Apache-2.0
// khz-fetch: a curl-like command on khz::Client.
//
//   khz-fetch [-X METHOD] [-H 'Name: value']... [-d DATA|@file] [-i] [-o FILE] [-L]
//             [--http2 | --http2-prior-knowledge] [-k] [--cacert FILE] [--timeout SECONDS] URL
//
// Prints the response body as it arrives (with -i, the status line and header fields first;
// with -o, into FILE). -d sends DATA (or the contents of a file, streamed) and makes the
// default method POST, with Content-Type application/x-www-form-urlencoded unless -H sets one.
// -L follows redirects (up to 10). --timeout bounds the whole call.
// https:// URLs: the server's certificate is verified against the system CA store and the
// PEM CAs of --cacert FILE; -k (--insecure) skips verification.
// HTTP/1.1 unless asked: --http2 offers "h2" by ALPN on https:// URLs (HTTP/1.1 if the server
// declines) and speaks h2c with prior knowledge on http:// URLs (no Upgrade dance: the server
// must speak HTTP/2 there); --http2-prior-knowledge does the latter only (https:// still by
// ALPN). With -i the status line says "HTTP/2 200" or "HTTP/1.1 200 OK", as curl does.
// Exit status: 0 when a response arrived (whatever its status); 1 with a one-line reason on
// stderr when none did (transport or protocol error; "TLS: the server's certificate could not
// be verified" for a refused certificate); 2 for bad usage.
// Log lines (KHZ_LOG) are off unless KHZ_LOG_LEVEL asks for them: stderr carries the one line.
#include <khz/app/client.h>
#include <khz/common/log.h>
#include <khz/common/version.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Usage on stdout with exit 0 for --help; on stderr after the reason with exit 2 otherwise.
[[noreturn]] void usage(const char* why) {
  std::FILE* out = why == nullptr ? stdout : stderr;
  if (why != nullptr) std::fprintf(stderr, "khz-fetch: %s\n", why);
  std::fprintf(out,
               "usage: khz-fetch [-X METHOD] [-H 'Name: value']... [-d DATA|@file] [-i] [-o FILE] [-L]\n"
               "                 [--http2 | --http2-prior-knowledge] [-k] [--cacert FILE] [--timeout SECONDS] URL\n"
               "  --http2           https: offer h2 by ALPN; http: h2c with prior knowledge\n"
               "  --http2-prior-knowledge  http: h2c from the first byte (https: h2 by ALPN)\n"
               "  -k, --insecure    https: do not verify the server's certificate\n"
               "  --cacert FILE     https: also trust the PEM CA certificates in FILE\n"
               "  -h, --help        this text;  --version  the khz version\n");
  std::exit(why == nullptr ? 0 : 2);
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "khz-fetch: %s\n", why.c_str());
  std::exit(1);
}

struct Args {
  std::string method;
  std::vector<std::pair<std::string, std::string>> headers;
  bool has_data = false;
  std::string data;
  std::string data_file;
  bool include = false;
  std::string output;
  bool follow = false;
  double timeout = 0;
  bool insecure = false;
  bool http2 = false;
  bool http2_prior_knowledge = false;
  std::string cacert;
  std::string url;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + std::string(arg)).c_str());
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      usage(nullptr);
    } else if (arg == "--version") {
      std::printf("khz-fetch %s\n", khz::version().data());
      std::exit(0);
    } else if (arg == "-X" || arg == "--request") {
      a.method = value();
    } else if (arg == "-H" || arg == "--header") {
      std::string h = value();
      std::size_t colon = h.find(':');
      if (colon == std::string::npos || colon == 0) usage(("bad header '" + h + "' (want 'Name: value')").c_str());
      std::string v = h.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
      a.headers.emplace_back(h.substr(0, colon), v);
    } else if (arg == "-d" || arg == "--data") {
      std::string d = value();
      a.has_data = true;
      if (!d.empty() && d.front() == '@') a.data_file = d.substr(1); else a.data = d;
    } else if (arg == "-i" || arg == "--include") {
      a.include = true;
    } else if (arg == "-o" || arg == "--output") {
      a.output = value();
    } else if (arg == "-L" || arg == "--location") {
      a.follow = true;
    } else if (arg == "-k" || arg == "--insecure") {
      a.insecure = true;
    } else if (arg == "--cacert") {
      a.cacert = value();
    } else if (arg == "--http2") {
      a.http2 = true;
    } else if (arg == "--http2-prior-knowledge") {
      a.http2_prior_knowledge = true;
    } else if (arg == "--timeout" || arg == "-m" || arg == "--max-time") {
      std::string t = value();
      char* end = nullptr;
      a.timeout = std::strtod(t.c_str(), &end);
      if (end == t.c_str() || *end != '\0' || a.timeout < 0) usage(("bad timeout '" + t + "'").c_str());
    } else if (!arg.empty() && arg.front() == '-') {
      usage(("unknown option " + std::string(arg)).c_str());
    } else if (a.url.empty()) {
      a.url = arg;
    } else {
      usage("more than one URL");
    }
  }
  if (a.url.empty()) usage("no URL");
  if (a.url.find("://") == std::string::npos) a.url = "http://" + a.url;
  if (a.method.empty()) a.method = a.has_data ? "POST" : "GET";
  return a;
}

khz::Task<void> fetch(khz::Client& client, const Args& a, std::FILE* out, std::string& error) {
  khz::ClientRequest req;
  req.method = a.method;
  req.url = a.url;
  for (const auto& [n, v] : a.headers) req.headers.add(n, v);
  if (a.has_data) {
    if (!a.data_file.empty()) req.body_file = a.data_file; else req.body = a.data;
    if (!req.headers.contains("Content-Type")) req.headers.set("Content-Type", "application/x-www-form-urlencoded");
  }
  auto stream = co_await client.stream(std::move(req));
  if (!stream) {
    error = stream.error().message();
    co_return;
  }
  const khz::Response& resp = stream->response();
  if (a.include) {
    if (resp.version() == khz::Version::http2) {
      std::fprintf(out, "HTTP/2 %d\r\n", resp.status());
    } else {
      std::fprintf(out, "HTTP/1.1 %d %s\r\n", resp.status(), std::string(khz::reason_phrase(resp.status())).c_str());
    }
    for (const auto& f : resp.headers()) {
      std::fwrite(f.name.data(), 1, f.name.size(), out);
      std::fputs(": ", out);
      std::fwrite(f.value.data(), 1, f.value.size(), out);
      std::fputs("\r\n", out);
    }
    std::fputs("\r\n", out);
  }
  for (;;) {
    auto piece = co_await stream->read();
    if (!piece) {
      error = piece.error().message();
      co_return;
    }
    if (piece->empty()) break;
    if (std::fwrite(piece->data(), 1, piece->size(), out) != piece->size()) {
      error = "write failed: " + std::string(std::strerror(errno));
      co_return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  std::FILE* out = stdout;
  if (!a.output.empty()) {
    out = std::fopen(a.output.c_str(), "wb");
    if (out == nullptr) fail("cannot open " + a.output + ": " + std::strerror(errno));
  }
  if (std::getenv("KHZ_LOG_LEVEL") == nullptr) khz::log::set_level(khz::log::Level::off);
  khz::ClientOptions options;
  options.insecure_skip_verify = a.insecure;
  options.http2 = a.http2 || a.http2_prior_knowledge;
  options.http2_prior_knowledge = a.http2_prior_knowledge || a.http2;
  options.tls_ca_file = a.cacert;
  options.max_redirects = a.follow ? 10 : 0;
  options.max_body_bytes = std::numeric_limits<std::uint64_t>::max();  // streamed, never held whole
  options.user_agent = "khz-fetch";
  if (a.timeout > 0) {
    options.total_timeout = std::chrono::milliseconds(static_cast<long>(a.timeout * 1000));
  }
  std::string error;
  {
    std::unique_ptr<khz::BlockingClient> made;
    try {
      made = std::make_unique<khz::BlockingClient>(options);
    } catch (const std::exception& e) {
      usage(e.what());  // e.g. an unreadable --cacert file
    }
    khz::BlockingClient& client = *made;
    client.run([&]() -> khz::Task<void> { co_await fetch(client.client(), a, out, error); });
  }
  if (out != stdout && std::fclose(out) != 0 && error.empty()) error = "cannot write " + a.output;
  std::fflush(stdout);
  if (!error.empty()) fail(error);
  return 0;
}
