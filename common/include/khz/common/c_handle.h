// SPDX-License-Identifier: Apache-2.0
// khz::CHandle<T, Fn>: the one RAII owner for a C library's handle, a unique_ptr whose deleter
// calls the library's free function. Each wrapping layer names its handles with it, in a
// private header (third-party types stay out of public ones).
//
//   using SslPtr = khz::CHandle<SSL, SSL_free>;                         // transport/tls
//   using SessionPtr = khz::CHandle<nghttp2_session, nghttp2_session_del>;  // protocol/http2
//   SslPtr ssl(SSL_new(ctx));   // SSL_free(ssl) when it goes; null: nothing
//
// Threading: as std::unique_ptr.
#pragma once

#include <memory>

namespace khz {

// A deleter calling Fn(p) (never with null: unique_ptr skips it).
template <auto Fn>
struct FreeWith {
  template <class T>
  void operator()(T* p) const noexcept { Fn(p); }
};

template <class T, auto Fn>
using CHandle = std::unique_ptr<T, FreeWith<Fn>>;

}  // namespace khz
