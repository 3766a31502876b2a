// SPDX-License-Identifier: Apache-2.0
// khz::middleware::trailing_slash: one spelling per URL, with or without the trailing '/'.
//
//   server.use(khz::middleware::trailing_slash());                                      // "/a/" -> "/a"
//   server.use(khz::middleware::trailing_slash({.mode = khz::middleware::SlashMode::add}));  // "/a" -> "/a/"
//
// A request whose path is not in the chosen form is answered with a redirect to the path in
// that form, query string kept, and the chain stops: 301 for GET and HEAD, 308 for other
// methods (the method and the body are kept); `status` overrides. "/" is left alone, and so,
// with SlashMode::add, is a path whose last segment has a '.' ("/app.js"). Leading slashes of
// the Location collapse to one, so "//evil.example/" redirects to "/evil.example", a path on
// this site, never to another host.
// Unlike EngineOptions::redirect_trailing_slash (which redirects only when the other spelling
// has a route), this redirects whatever the routes are: use it on the server so that it runs
// for paths that match no route too. Where the Engine's redirect applies, it answers first
// (before any middleware runs), with its own 301/307. A plain middleware: no coroutine frame.
//
// Options (defaults):
//   mode    SlashMode::remove
//   status  0: 301 (GET, HEAD) or 308; else 301, 302, 303, 307 or 308
#pragma once

#include <khz/app/handler.h>

namespace khz::middleware {

enum class SlashMode { remove, add };

struct TrailingSlashOptions {
  SlashMode mode = SlashMode::remove;
  int status = 0;
};

Handler trailing_slash(TrailingSlashOptions options = {});

}  // namespace khz::middleware
