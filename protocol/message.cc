// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/request.h>
#include <khz/protocol/response.h>

namespace khz {

std::string_view to_string(Version v) noexcept {
  switch (v) {
    case Version::http10: return "HTTP/1.0";
    case Version::http11: return "HTTP/1.1";
    case Version::http2: return "HTTP/2";
  }
  return "HTTP/1.1";
}

Request::Request(const Request& other)
    : version_(other.version_), headers_(other.headers_), trailers_(other.trailers_), body_(other.body_) {
  set_method(other.method_);
  set_target(other.target_);
  if (!other.connect_protocol_.empty()) set_connect_protocol(other.connect_protocol_);
}

Request& Request::operator=(const Request& other) {
  if (this != &other) {
    Request copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void Request::set_target_ref(std::string_view t) noexcept {
  target_ = t;
  target_host_ = {};
  std::string_view rest = t;
  // Absolute form (RFC 9112 §3.2.2): scheme "://" authority path-abempty [ "?" query ].
  if (std::size_t scheme = rest.find("://"); scheme != std::string_view::npos && rest.front() != '/') {
    rest.remove_prefix(scheme + 3);
    std::size_t path_start = rest.find_first_of("/?");
    target_host_ = rest.substr(0, path_start);
    rest = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  }
  std::size_t q = rest.find('?');
  path_ = rest.substr(0, q);
  query_ = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
  if (path_.empty() || path_ == "*") path_ = "/";
}

void Request::own() {
  method_ = arena_.copy(method_);
  set_target_ref(arena_.copy(target_));
  if (!connect_protocol_.empty()) connect_protocol_ = arena_.copy(connect_protocol_);
  headers_.own();
  trailers_.own();
}

void Request::clear() noexcept {
  arena_.reset();
  method_ = "GET";
  target_ = path_ = "/";
  query_ = target_host_ = connect_protocol_ = {};
  version_ = Version::http11;
  headers_.clear();
  trailers_.clear();
  body_.clear();
}

void Response::set_body(std::string_view body, std::string_view content_type) {
  body_.assign(body);
  headers_.set("Content-Type", content_type);
}

void Response::clear() noexcept {
  status_ = 200;
  version_ = Version::http11;
  headers_.clear();
  trailers_.clear();
  body_.clear();
  clear_file_body();
  head_length_ = -1;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

}  // namespace khz
