// SPDX-License-Identifier: Apache-2.0
// hz_e2e_test: every route of the generated Protobuf project through its generated client.
//   catalog_client <base-url>
#include "biz/client/demo/catalog/catalog_client.h"

#include <cstdio>

namespace {
int failures = 0;
#define EXPECT(...)                                                       \
  do {                                                                    \
    if (!(__VA_ARGS__)) {                                                  \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #__VA_ARGS__); \
      ++failures;                                                         \
    }                                                                     \
  } while (0)
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  khz::BlockingClient http;
  demo::catalog::client::CatalogClientBlocking api(http, argv[1]);

  demo::catalog::CreateProductRequest create;
  create.name = "lamp";
  create.tags = {"home"};
  create.price = demo::common::Money{"USD", 2500};
  create.token = "t0k";
  create.percent = 10;
  auto created = api.CreateProduct(create);
  EXPECT(created && created->ok() && created->body.name == "lamp" && created->body.note == "t0k");
  EXPECT(created && created->body.price && created->body.price->cents == 2500);
  EXPECT(created && created->body.created == std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)));
  create.cents_off = 5;  // a oneof with two members set
  auto refused = api.CreateProduct(create);
  EXPECT(refused && refused->status == 400 && refused->text.find("discount") != std::string::npos);

  demo::catalog::GetProductRequest get;
  get.id = 42;
  get.session = "s-2";
  auto got = api.GetProduct(get);
  EXPECT(got && got->ok() && got->body.id == 42 && got->body.name == "s-2");
  get.id = 0;
  auto bad_id = api.GetProduct(get);
  EXPECT(bad_id && bad_id->status == 400 && bad_id->text.find("\"id\"") != std::string::npos);

  demo::catalog::SearchRequest search;
  search.limit = 3;
  search.tag = {"a", "b"};
  search.status = demo::common::Status::STATUS_ARCHIVED;
  auto found = api.Search(search);
  EXPECT(found && found->ok() && found->body.total == 3 && found->body.products.size() == 1 &&
         found->body.products[0].status == demo::common::Status::STATUS_ARCHIVED &&
         found->body.products[0].tags == std::vector<std::string>{"a", "b"});
  std::printf("catalog_client: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
