// SPDX-License-Identifier: Apache-2.0
// <khz/protocol/baggage.h>: the W3C Baggage specification's examples, percent-encoding both
// ways, properties, malformed members and the limits (180 members, 8192 bytes).
#include <khz/protocol/baggage.h>

#include <catch2/catch.hpp>

#include <string>

using khz::protocol::Baggage;

TEST_CASE("baggage: the specification's examples") {
  Baggage b;
  CHECK(b.add_header("userId=alice,serverNode=DF%2028,isProduction=false") == 0);
  REQUIRE(b.size() == 3);
  CHECK(b.get("userId") == "alice");
  CHECK(b.get("serverNode") == "DF 28");
  CHECK(b.get("isProduction") == "false");

  Baggage p;
  CHECK(p.add_header("key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue") == 0);
  REQUIRE(p.size() == 3);
  CHECK(p.entries()[0].properties == "property1;property2");
  CHECK(p.get("key2") == "value2");
  CHECK(p.entries()[2].properties == "propertyKey=propertyValue");
  CHECK(p.format() == "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue");

  // UTF-8 values travel percent-encoded.
  Baggage u;
  CHECK(u.add_header("name=Jos%C3%A9") == 0);
  CHECK(u.get("name") == "Jos\xc3\xa9");
  CHECK(u.format() == "name=Jos%C3%A9");
}

TEST_CASE("baggage: values are percent-encoded when formatted and round-trip") {
  Baggage b;
  REQUIRE(b.set("k", "a b,c;d\\e\"f%g=h"));
  std::string header = b.format();
  CHECK(header == "k=a%20b%2Cc%3Bd%5Ce%22f%25g=h");
  Baggage back;
  CHECK(back.add_header(header) == 0);
  CHECK(back.get("k") == "a b,c;d\\e\"f%g=h");
  CHECK_FALSE(b.set("bad key", "v"));
  CHECK_FALSE(b.set("", "v"));
  CHECK_FALSE(b.set("k", "v", "bad prop key=1"));
}

TEST_CASE("baggage: malformed members are skipped, the others kept") {
  Baggage b;
  CHECK(b.add_header("good=1,noequals,=empty,bad key=2,sp=a b,esc=%zz,trunc=%4,ok=2;=x") == 7);
  CHECK(b.size() == 1);
  CHECK(b.get("good") == "1");
  // Empty members and OWS are fine; a repeated key takes the later value.
  Baggage c;
  CHECK(c.add_header(" a = 1 , , a=2 ,b=") == 0);
  CHECK(c.size() == 2);
  CHECK(c.get("a") == "2");
  CHECK(c.get("b") == "");
}

TEST_CASE("baggage: at most 180 members and 8192 bytes") {
  std::string header;
  for (int i = 0; i < 200; ++i) header += "k" + std::to_string(i) + "=v,";
  Baggage b;
  CHECK(b.add_header(header) == 20);
  CHECK(b.size() == Baggage::max_members);

  Baggage big;
  std::string value(1000, 'x');
  std::string lines;
  for (int i = 0; i < 10; ++i) lines += "k" + std::to_string(i) + "=" + value + ",";
  CHECK(big.add_header(lines) == 2);  // eight 1003-byte members fit in 8192, not nine
  CHECK(big.size() == 8);
  CHECK(big.format().size() <= Baggage::max_bytes);

  // format() leaves out what would cross the limits, however the members were set.
  Baggage set;
  for (int i = 0; i < 200; ++i) REQUIRE(set.set("k" + std::to_string(i), "v"));
  Baggage reread;
  CHECK(reread.add_header(set.format()) == 0);
  CHECK(reread.size() == Baggage::max_members);
  Baggage large;
  for (int i = 0; i < 10; ++i) REQUIRE(large.set("k" + std::to_string(i), value));
  CHECK(large.format().size() <= Baggage::max_bytes);
}
