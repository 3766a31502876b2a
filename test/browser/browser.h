// SPDX-License-Identifier: Apache-2.0
// Test support: headless Chromium loads a page from a test server and hands back the DOM the
// page's script left (test/browser/headless_chromium.sh does the browser side).
//
//   khz::test::TestServer s(transport);
//   s.server.get("/", page);               // the page writes its verdict into <pre id="result">
//   s.start();
//   auto run = khz::test::load_page(s.url("/"));
//   REQUIRE(run.ok());                     // else run.error says why (no Chromium, a time-out)
//   CHECK(khz::test::element_text(run.dom, "result") == "done 1,2,3");
//
// A page must close its long-lived connections (EventSource, WebSocket) once its result is in
// the DOM: Chromium's virtual time stands still while a fetch is pending, and the DOM is
// printed when the virtual-time budget is spent. A WebSocket does not hold virtual time: a page
// that uses one keeps a fetch pending until its verdict is written, but not across the socket's
// opening, which Chromium may withhold while a fetch is pending (websocket_browser_test.cc).
// A page that never finishes is killed after `timeout` and reported as such, never waited for.
#pragma once

#include <khz/app/server.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace khz::test {

struct BrowserRun {
  int status = -1;    // the script's exit status: 0, 3 (no Chromium), 124 (timed out), ...
  std::string dom;    // the serialized DOM (stdout)
  std::string error;  // the script's stderr
  bool ok() const noexcept { return status == 0; }
};

BrowserRun load_page(const std::string& url, std::chrono::milliseconds virtual_budget = std::chrono::seconds(10),
                     std::chrono::seconds timeout = std::chrono::seconds(60));

// Options for the server a page loads from: defaults, and with `tls` the test PKI's "alpha"
// certificate (localhost; Chromium then speaks h2). page_url: the page at "/" on `port`.
ServerOptions page_server_options(bool tls);
std::string page_url(bool tls, std::uint16_t port);

// The text inside the element with id `id` (<tag id="id">text</tag>, as --dump-dom writes it:
// '&', '<' and '>' escaped, which this decodes), or "" when there is none.
std::string element_text(std::string_view dom, std::string_view id);

}  // namespace khz::test
