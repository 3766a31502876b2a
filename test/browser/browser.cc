// SPDX-License-Identifier: Apache-2.0
#include "browser/browser.h"

#include "support/raw_client.h"
#include "support/tls_support.h"

#include <fstream>
#include <sstream>

#ifndef KHZ_BROWSER_DIR
#error "KHZ_BROWSER_DIR: the folder of headless_chromium.sh"
#endif

namespace khz::test {

ServerOptions page_server_options(bool tls) {
  ServerOptions options;
  if (tls) {
    const auto& pki = TestPki::get();
    options.tls_cert_file = pki.alpha_cert;
    options.tls_key_file = pki.alpha_key;
  }
  return options;
}

std::string page_url(bool tls, std::uint16_t port) {
  return std::string(tls ? "https" : "http") + "://localhost:" + std::to_string(port) + "/";
}

BrowserRun load_page(const std::string& url, std::chrono::milliseconds virtual_budget, std::chrono::seconds timeout) {
  TempDir dir;
  const std::string err = dir.path + "/stderr";
  BrowserRun run;
  auto r = run_command("bash '" KHZ_BROWSER_DIR "/headless_chromium.sh' '" + url + "' " +
                       std::to_string(virtual_budget.count()) + " " + std::to_string(timeout.count()) + " 2>'" + err + "'");
  run.status = r.status;
  run.dom = std::move(r.output);
  std::ifstream in(err);
  std::stringstream text;
  text << in.rdbuf();
  run.error = text.str();
  return run;
}

std::string element_text(std::string_view dom, std::string_view id) {
  const std::string marker = "id=\"" + std::string(id) + "\"";
  std::size_t at = dom.find(marker);
  if (at == std::string_view::npos) return {};
  std::size_t open_end = dom.find('>', at);
  if (open_end == std::string_view::npos) return {};
  std::size_t close = dom.find("</", open_end);
  if (close == std::string_view::npos) return {};
  std::string_view raw = dom.substr(open_end + 1, close - open_end - 1);
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '&') {
      std::size_t semi = raw.find(';', i);
      std::string_view entity = semi == std::string_view::npos ? std::string_view() : raw.substr(i, semi - i + 1);
      if (entity == "&amp;") out += '&';
      else if (entity == "&lt;") out += '<';
      else if (entity == "&gt;") out += '>';
      else if (entity == "&quot;") out += '"';
      else if (entity == "&nbsp;") out += ' ';
      else {
        out += '&';
        continue;
      }
      i = semi;
    } else {
      out += raw[i];
    }
  }
  return out;
}

}  // namespace khz::test
