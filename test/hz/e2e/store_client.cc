// SPDX-License-Identifier: Apache-2.0
// hz_e2e_test: every route of the generated Thrift project through its generated client, blocking
// and awaitable.  store_client <base-url>
#include "biz/client/demo/store/item_service_client.h"

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
  demo::store::client::ItemServiceClientBlocking api(http, argv[1]);

  demo::store::GetItemRequest get;
  get.id = 7;
  get.fields = "name,tags";
  get.session = "s-1";
  auto got = api.GetItem(get);
  EXPECT(got && got->ok() && got->body.id == 7 && got->body.name == "name,tags" && got->body.tags == std::vector<std::string>{"s-1"});

  demo::store::CreateItemRequest create;
  create.name = "pen";
  create.tags = {"red", "blue"};
  create.price = demo::common::Money{"EUR", 150};
  create.email = "ada@example.org";
  create.token = "t0k";
  auto created = api.CreateItem(create);
  EXPECT(created && created->ok() && created->body.name == "pen" && created->body.tags.size() == 2);
  EXPECT(created && created->body.price && created->body.price->currency == "EUR" && created->body.price->cents == 150);
  EXPECT(created && created->body.featured);  // the token arrived in X-Token
  create.name = "";
  create.price = demo::common::Money{"EURO", 1};
  auto refused = api.CreateItem(create);
  EXPECT(refused && refused->status == 400 && refused->text.find("\"name\"") != std::string::npos &&
         refused->text.find("currency") != std::string::npos);

  demo::store::ListItemsRequest list;
  list.limit = 5;
  list.tag = {"x", "y z"};
  list.order = "rating";
  auto listed = api.ListItems(list);
  EXPECT(listed && listed->ok() && listed->body.total == 5 && listed->body.items.size() == 2 &&
         listed->body.items[1].name == "y z" && listed->body.items[0].tags == std::vector<std::string>{"rating"});
  list.order = "price";
  auto bad_order = api.ListItems(list);
  EXPECT(bad_order && bad_order->status == 400 && bad_order->text.find("order") != std::string::npos);

  demo::store::RenameRequest rename;
  rename.id = 3;
  rename.name = "quill";
  auto renamed = api.Rename(rename);
  EXPECT(renamed && renamed->ok() && renamed->body.ok && renamed->body.detail == "3:quill");

  demo::store::NoteRequest note;
  note.id = 3;
  note.text = "a note, as sent";
  auto noted = api.AddNote(note);
  EXPECT(noted && noted->ok() && noted->body.detail == "a note, as sent");

  auto pong = api.Ping({});
  EXPECT(pong && pong->ok() && pong->body.ok);

  // The awaitable client, on the blocking client's loop.
  http.run([&]() -> khz::Task<> {
    demo::store::client::ItemServiceClient async_api(http.client(), argv[1]);
    auto r = co_await async_api.GetItem(get);
    EXPECT(r && r->ok() && r->body.id == 7);
  });
  std::printf("store_client: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
