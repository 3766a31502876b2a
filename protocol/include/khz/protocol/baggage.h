// SPDX-License-Identifier: Apache-2.0
// The W3C Baggage codec (https://www.w3.org/TR/baggage/): the `baggage` header field, a list
// of key=value pairs with optional properties, parsed (values percent-decoded) and formatted
// (values percent-encoded). Sans-I/O, shared by server and client.
//
//   khz::protocol::Baggage b;
//   b.add_header("userId=alice, serverNode=DF%2028;ttl=60, isProduction=false");
//   b.get("serverNode");                 // "DF 28"
//   b.set("tenant", "acme corp");        // replaces a member of that key
//   std::string header = b.format();     // "userId=alice,serverNode=DF%2028;ttl=60,...,tenant=acme%20corp"
//
// Grammar (§3.3.1): list-member = key OWS "=" OWS value *(OWS ";" OWS property); key a token
// (RFC 9110 §5.6.2); value baggage-octets, percent-encoded UTF-8. A malformed member (no '=',
// a bad key, a byte outside baggage-octet, a bad %-escape) is skipped and counted; the others
// are kept, as OpenTelemetry's propagators do. Properties are kept as written (the text after
// the first ';', trimmed) and sent back unchanged.
// Limits (§3.3.2): at most 180 members and 8192 bytes of header. Parsing stops taking members
// past either limit (counted as dropped); format() leaves out members that would cross them.
// Every function is pure and never throws on bad input (bad_alloc aside); any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace khz::protocol {

struct BaggageEntry {
  std::string key;
  std::string value;       // decoded
  std::string properties;  // as sent, without the leading ';' ("" when none)
};

class Baggage {
 public:
  static constexpr std::size_t max_members = 180;
  static constexpr std::size_t max_bytes = 8192;

  // Adds the members of one `baggage` field value (call once per field line); a key seen again
  // replaces the earlier value. Returns how many members were skipped (malformed or over a
  // limit).
  std::size_t add_header(std::string_view value);

  // Sets a member; false, and nothing changed, when key is not a token.
  bool set(std::string_view key, std::string_view value, std::string_view properties = {});
  std::optional<std::string_view> get(std::string_view key) const noexcept;
  void erase(std::string_view key) noexcept;
  void clear() noexcept { entries_.clear(); }

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  const std::vector<BaggageEntry>& entries() const noexcept { return entries_; }

  // The header value, members in insertion order, within max_members and max_bytes.
  std::string format() const;

 private:
  std::vector<BaggageEntry> entries_;
};

// RFC 9110 tchar; a baggage key is 1*tchar.
bool valid_baggage_key(std::string_view key) noexcept;

}  // namespace khz::protocol
