// SPDX-License-Identifier: Apache-2.0
// The nghttp2 callbacks of the sans-I/O HTTP/2 server session (see server_session.h): the
// client's frames becoming each stream's request (fields, trailers, body, end, reset), the
// frames sent (ACKs counted out, RFC 9113 §8.1's RST_STREAM), and the data provider that
// reads a response body.
#include <khz/common/log.h>
#include <khz/common/loop_clock.h>
#include <khz/protocol/error.h>
#include <khz/transport/error.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <span>

#include "server_session.h"

namespace khz::protocol::http2 {

// ---- requests

void ServerSession::on_request_headers(ServerStream& s, bool end_stream) {
  Exchange& ex = s.exchange;
  Request& req = ex.request;
  req.set_version(Version::http2);
  if (s.headers_too_large) {
    refuse(s, 431);
    return;
  }
  if (!s.authority.empty()) {  // RFC 9113 §8.3.1: :authority is the Host
    req.headers().remove("Host");
    req.headers().add_ref("Host", s.authority);
  }
  if (req.headers().count("Cookie") > 1) {  // RFC 9113 §8.2.3: one field again
    std::string joined;
    for (const auto& f : req.headers()) {
      if (!iequals(f.name, "Cookie")) continue;
      if (!joined.empty()) joined += "; ";
      joined += f.value;
    }
    req.headers().remove("Cookie");
    req.headers().add_ref("Cookie", req.arena().copy(joined));
  }
  if (req.method() == "CONNECT" && req.connect_protocol().empty() && req.headers().contains("Content-Length")) {
    // RFC 9110 §9.3.6: a CONNECT request has no content. nghttp2 leaves a content-length on a
    // plain CONNECT unchecked (its DATA is a tunnel's), so a handler would see a length its body
    // need not have, and a proxy could pass it on to an HTTP/1.1 upstream. A malformed request:
    // a stream error (RFC 9113 §8.1.1), as HTTP/1.1 refuses the same request with 400.
    KHZ_LOG(info, "http2 " << driver_.peer_address() << ": stream " << s.id
                           << ": CONNECT with content-length; RST_STREAM PROTOCOL_ERROR");
    s.refused = true;
    submit_rst(s, NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  if (!req.connect_protocol().empty()) {
    // RFC 8441 §4: an extended CONNECT (nghttp2 has checked :method CONNECT, :scheme, :path and
    // :authority, and that we sent SETTINGS_ENABLE_CONNECT_PROTOCOL). The handler runs now; the
    // DATA that follows is the tunnel's, kept up to the stream's window until the tunnel reads it.
    s.tunnel = true;
    s.streaming_body = true;
    s.body_limit = BodyPolicy::unlimited;
    s.request_complete = end_stream;
    queue_start(s);
    return;
  }
  if (end_stream) {
    s.request_complete = true;
    s.body_read_done = true;
    queue_start(s);
    return;
  }
  std::string_view length = req.header("Content-Length");
  if (!length.empty()) {
    std::int64_t n = -1;
    auto [p, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if (ec == std::errc() && p == length.data() + length.size()) s.announced_length = n;
  }
  BodyPolicy policy = driver_.body_policy(ex);
  s.body_limit = policy.max_bytes != 0 ? policy.max_bytes : opt_.max_body_bytes;
  if (s.announced_length >= 0 && static_cast<std::uint64_t>(s.announced_length) > s.body_limit) {
    KHZ_LOG(info, "http2 " << driver_.peer_address() << ": stream " << s.id << ": announced body of " << s.announced_length
                           << " bytes over the limit; 413");
    refuse(s, 413);
    return;
  }
  if (policy.stream) {
    s.streaming_body = true;
    ex.body_reader = &s;
    queue_start(s);
  }
}

void ServerSession::on_request_end(ServerStream& s) {
  s.request_complete = true;
  if (s.refused || s.body_too_large) return;
  if (s.streaming_body) {
    wake(s);
  } else if (s.handler == ServerStream::HandlerState::none) {
    s.body_read_done = true;
    queue_start(s);
  }
}

// ---- nghttp2 callbacks

ssize_t ServerSession::on_send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int, void* user_data) {
  // Backpressure: past kMaxBufferedOutput the frames wait in nghttp2 (a file body is then not
  // read further) until the writer has flushed; else a client with a large window would have
  // a whole file buffered here.
  if (self(user_data).output_.size() >= kMaxBufferedOutput) return NGHTTP2_ERR_WOULDBLOCK;
  self(user_data).output_.append(sv(data, length));
  return static_cast<ssize_t>(length);
}

int ServerSession::on_send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd, std::size_t length,
                                nghttp2_data_source* source, void* user_data) {
  ServerSession& session = self(user_data);
  ServerStream& s = *static_cast<ServerStream*>(source->ptr);
  // As on_send: past kMaxBufferedOutput nghttp2 asks again with the same frame later.
  if (session.output_.size() >= kMaxBufferedOutput) return NGHTTP2_ERR_WOULDBLOCK;
  // khz sets no padding callback, so a DATA frame is its 9-byte header and the bytes (RFC 9113
  // §6.1); a padded one, or one of another length than was read, is not the frame read.
  if (frame->data.padlen != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (s.file_pending != 0) return session.send_file_frame(s, framehd, length);
  if (s.out_pending.size() != length) return NGHTTP2_ERR_CALLBACK_FAILURE;
  session.output_.append(sv(framehd, 9));
  session.output_.append(s.out_pending);
  s.out_pending = {};
  return 0;
}

ssize_t ServerSession::read_response_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                          std::uint32_t* data_flags, nghttp2_data_source* source, void* user_data) {
  ServerSession& session = self(user_data);
  ServerStream& s = *static_cast<ServerStream*>(source->ptr);
  if (s.tunnel_out != nullptr) {  // an open tunnel: DATA from the front of its output
    LinkedBuffer& out = *s.tunnel_out;
    std::size_t n = 0;
    while (n < length && !out.empty()) {
      std::string_view seg = out.segment(0);
      std::size_t k = std::min(seg.size(), length - n);
      std::memcpy(buf + n, seg.data(), k);
      out.skip(k);
      n += k;
    }
    s.stall_since = {};
    if (n == 0) {
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    if (out.empty()) {
      out.release();
      session.wake(s);  // its flush is done
    }
    return static_cast<ssize_t>(n);
  }
  std::size_t n = std::min(length, s.out.size() - s.out_off);
  if (n >= kNoCopyFrom && !s.writer_started) {  // a finished handler's body: it stays put
    s.out_pending = s.out.substr(s.out_off, n);  // written by on_send_data, straight from the body
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  } else if (n != 0) {
    std::memcpy(buf, s.out.data() + s.out_off, n);
  }
  s.out_off += n;
  s.stall_since = {};
  if (s.out_off == s.out.size()) {
    if (s.body_done) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      s.eof_sent = true;
      if (!s.exchange.response.trailers().empty()) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        session.submit_trailers(s);
      }
    } else if (n == 0) {
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    } else if (s.waiting == ServerStream::WaitKind::send) {
      session.wake(s);  // the chunk is out: the writer may give the next one
    }
  }
  return static_cast<ssize_t>(n);
}

namespace {

// Copies up to `length` bytes of `body` from position `pos` (heads, file ranges and tail seen
// as one sequence) into `buf`; -1 with errno on a read error, 0 past the end or when the file
// is shorter than its range.
ssize_t read_file_body(const FileBody& body, std::uint64_t pos, std::uint8_t* buf, std::size_t length) {
  std::size_t done = 0;
  auto copy_text = [&](const std::string& text) {
    if (pos < text.size()) {
      std::size_t n = std::min<std::uint64_t>(length - done, text.size() - pos);
      std::memcpy(buf + done, text.data() + pos, n);
      done += n;
      pos += n;
    }
    pos -= text.size();
  };
  for (const FileBody::Piece& p : body.pieces) {
    if (done == length) return static_cast<ssize_t>(done);
    copy_text(p.head);
    if (done == length) return static_cast<ssize_t>(done);
    if (pos < p.length) {
      std::size_t want = std::min<std::uint64_t>(length - done, p.length - pos);
      ssize_t n;
      do {
        n = ::pread(body.fd, buf + done, want, static_cast<off_t>(p.offset + pos));
      } while (n < 0 && errno == EINTR);
      if (n < 0) return -1;
      if (n == 0) return 0;
      // A short read is passed on as it is: nghttp2 asks again for the rest.
      return static_cast<ssize_t>(done + static_cast<std::size_t>(n));
    }
    pos -= p.length;
  }
  if (done < length) copy_text(body.tail);
  return static_cast<ssize_t>(done);
}

}  // namespace

int ServerSession::send_file_frame(ServerStream& s, const std::uint8_t* framehd, std::size_t length) {
  if (s.file_pending != length) return NGHTTP2_ERR_CALLBACK_FAILURE;  // not the frame read
  // The frame's room in the output: the header, then the file's bytes read into place. A read
  // that fails or comes short leaves the output as it was and resets the stream.
  const FileBody& body = *s.exchange.response.file_body();
  const std::uint64_t from = s.file_sent - length;  // read_response_file counted the frame already
  std::span<char> room = output_.reserve(9 + length);
  auto* into = reinterpret_cast<std::uint8_t*>(room.data() + 9);
  std::size_t got = 0;
  ssize_t n = 1;
  while (got < length && n > 0) {  // read_file_body stops at the end of a piece, or a short read
    n = read_file_body(body, from + got, into + got, length - got);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  if (got != length) {
    KHZ_LOG(info, "http2 " << driver_.peer_address() << ": stream " << s.id << ": file body broke off: "
                           << (n < 0 ? std::strerror(errno) : "the file is shorter than its range") << "; RST_STREAM");
    s.file_pending = 0;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  std::memcpy(room.data(), framehd, 9);
  output_.commit(9 + length);
  s.file_pending = 0;
  return 0;
}

ssize_t ServerSession::read_response_file(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                          std::uint32_t* data_flags, nghttp2_data_source* source, void* user_data) {
  ServerSession& session = self(user_data);
  ServerStream& s = *static_cast<ServerStream*>(source->ptr);
  const FileBody& body = *s.exchange.response.file_body();
  const std::uint64_t total = body.size();
  const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length, total - s.file_sent));
  if (want >= kNoCopyFrom) {
    // Read by on_send_data straight into the output (pread into the frame's place there).
    s.file_pending = want;
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    s.file_sent += want;
    s.stall_since = {};
    if (s.file_sent == total) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      s.eof_sent = true;
    }
    return static_cast<ssize_t>(want);
  }
  ssize_t n = read_file_body(body, s.file_sent, buf, want);
  if (n <= 0 && s.file_sent < total) {
    KHZ_LOG(info, "http2 " << session.driver_.peer_address() << ": stream " << s.id << ": file body broke off: "
                           << (n < 0 ? std::strerror(errno) : "the file is shorter than its range") << "; RST_STREAM");
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  s.file_sent += static_cast<std::uint64_t>(n);
  s.stall_since = {};
  if (s.file_sent == total) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    s.eof_sent = true;
  }
  return n;
}

int ServerSession::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  ServerSession& session = self(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (session.ended_) return 0;
  ServerStream& s = session.new_stream(frame->hd.stream_id);
  nghttp2_session_set_stream_user_data(session.ng_.get(), s.id, &s);
  session.opt_.streams_opened.inc();
  return 0;
}

int ServerSession::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name_p, std::size_t name_len,
                             const std::uint8_t* value_p, std::size_t value_len, std::uint8_t, void* user_data) {
  ServerSession& session = self(user_data);
  ServerStream* s = session.stream_of(frame->hd.stream_id);
  if (s == nullptr || s->refused) return 0;
  s->header_bytes += name_len + value_len + 32;
  if (s->header_bytes > session.opt_.max_header_list_size) {
    if (!s->headers_too_large) {
      KHZ_LOG(info, "http2 " << session.driver_.peer_address() << ": stream " << s->id << ": header list over "
                             << session.opt_.max_header_list_size << " bytes; 431");
    }
    s->headers_too_large = true;
    return 0;
  }
  // nghttp2's buffers do not outlive the callback: the request keeps copies of what it keeps in
  // its arena (a method nghttp2 has checked and that is one of the common ones: a literal).
  Request& req = s->exchange.request;
  const std::string_view name = sv(name_p, name_len);
  const std::string_view sent = sv(value_p, value_len);
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {  // trailers
    req.trailers().add_parsed(name, sent);  // nghttp2 has checked it
    return 0;
  }
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") {
      const std::string_view known = sent == "GET"    ? std::string_view("GET")
                                     : sent == "POST" ? std::string_view("POST")
                                     : sent == "HEAD" ? std::string_view("HEAD")
                                                      : std::string_view();
      req.set_method_ref(known.empty() ? req.arena().copy(sent) : known);
    } else if (name == ":path") {
      req.set_target_ref(req.arena().copy(sent));
    } else if (name == ":authority") {
      s->authority = req.arena().copy(sent);
    } else if (name == ":protocol") {  // RFC 8441 §4; nghttp2 accepts it only when we enabled it
      req.set_connect_protocol_ref(req.arena().copy(sent));
    }
    return 0;  // :scheme: nothing to keep
  }
  req.headers().add_parsed(name, sent);  // copied into the map's arena (nghttp2 has checked it)
  return 0;
}

int ServerSession::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  ServerSession& session = self(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      ServerStream* s = session.stream_of(frame->hd.stream_id);
      if (s == nullptr) return 0;
      const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        session.on_request_headers(*s, end_stream);
      } else if (end_stream) {
        session.on_request_end(*s);
      }
      return 0;
    }
    case NGHTTP2_DATA:
      if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
        if (ServerStream* s = session.stream_of(frame->hd.stream_id)) session.on_request_end(*s);
      }
      return 0;
    case NGHTTP2_RST_STREAM:
      session.opt_.streams_reset.inc();
      session.count_reset();
      return 0;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
      // nghttp2 has queued the ACK (it does so before this callback); on_frame_send counts it out.
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) ++session.acks_owed_;
      return 0;
    default:
      return 0;
  }
}

int ServerSession::on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                                      std::size_t len, void* user_data) {
  ServerSession& session = self(user_data);
  nghttp2_session* ng = session.ng_.get();
  ServerStream* s = session.stream_of(stream_id);
  const bool keep = s != nullptr && !s->refused && !s->body_too_large && !session.ended_ && !s->tunnel_ended &&
                    (!s->streaming_body || s->handler == ServerStream::HandlerState::running ||
                     s->handler == ServerStream::HandlerState::queued);
  if (!keep) {
    nghttp2_session_consume(ng, stream_id, len);
    return 0;
  }
  s->body_received += len;
  if (s->body_received > s->body_limit) {
    s->body_too_large = true;
    nghttp2_session_consume(ng, stream_id, len);
    KHZ_LOG(info, "http2 " << session.driver_.peer_address() << ": stream " << s->id << ": body over " << s->body_limit << " bytes");
    if (s->streaming_body) {
      session.wake(*s);
    } else {
      s->exchange.request.body_buffer().clear();
      session.refuse(*s, 413);
    }
    return 0;
  }
  s->wait_since = LoopClock::now();
  if (s->streaming_body) {
    s->body_pending.append(sv(data, len));
    session.wake(*s);
  } else {
    s->exchange.request.body_buffer().append(sv(data, len));
    nghttp2_session_consume(ng, stream_id, len);
  }
  return 0;
}

int ServerSession::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user_data) {
  ServerSession& session = self(user_data);
  ServerStream* s = session.stream_of(stream_id);
  if (s == nullptr) return 0;
  s->closed = true;
  if (error_code != NGHTTP2_NO_ERROR) {
    KHZ_LOG(debug, "http2 " << session.driver_.peer_address() << ": stream " << stream_id << " closed: "
                            << nghttp2_http2_strerror(error_code));
  }
  session.wake(*s, error_code == NGHTTP2_NO_ERROR ? std::error_code(transport::errc::cancelled)
                                                   : std::error_code(protocol::errc::malformed_body));
  if (error_code != NGHTTP2_NO_ERROR && s->handler == ServerStream::HandlerState::running) s->cancel.trigger();
  if (s->handler == ServerStream::HandlerState::none || s->handler == ServerStream::HandlerState::done) session.release(*s);
  session.last_found_ = nullptr;  // nghttp2 knows the stream no more once this returns
  return 0;
}

int ServerSession::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  ServerSession& session = self(user_data);
  if ((frame->hd.type == NGHTTP2_PING || frame->hd.type == NGHTTP2_SETTINGS) &&
      (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0 && session.acks_owed_ != 0) {
    --session.acks_owed_;
  }
  if (frame->hd.type == NGHTTP2_RST_STREAM && frame->rst_stream.error_code != NGHTTP2_NO_ERROR) {
    session.opt_.streams_reset.inc();  // the server gave up on a stream (not §8.1's NO_ERROR)
  }
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    // RFC 9113 §8.1: the response is complete but the request is not; ask the client to stop.
    ServerStream* s = session.stream_of(frame->hd.stream_id);
    if (s != nullptr && !s->request_complete) {
      if (s->tunnel_open) {
        // RFC 8441 §4: END_STREAM is the tunnel's FIN; the client may still send and then end
        // its half. It gets tunnel_close_grace (check_deadlines).
        s->linger_since = LoopClock::now();
      } else {
        nghttp2_submit_rst_stream(session.ng_.get(), NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
      }
    }
  }
  return 0;
}

int ServerSession::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
  if (hd->type == NGHTTP2_HEADERS && (hd->stream_id & 1) == 1) self(user_data).check_stream_id(hd->stream_id);
  return 0;
}

int ServerSession::on_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user_data) {
  KHZ_LOG(debug, "http2 " << self(user_data).driver_.peer_address() << ": invalid frame (type " << int(frame->hd.type)
                          << ", stream " << frame->hd.stream_id << "): " << nghttp2_strerror(lib_error));
  return 0;
}

}  // namespace khz::protocol::http2
