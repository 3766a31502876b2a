// Handlers of NoteService (notes.thrift): generated once by hz, then yours (hz update only appends
// the handlers of new methods and never rewrites what is here).
// Filled in: an in-memory store of notes, guarded by a mutex (handlers run on several loops).
#include "biz/handler/notes/note_service.h"

#include "biz/model/notes/notes.h"

#include <algorithm>
#include <map>
#include <mutex>

namespace notes::handler {
namespace {

class Store {
 public:
  Note add(const CreateNoteRequest& req) {
    std::lock_guard lock(mutex_);
    Note n{++last_id_, req.title, req.body, req.tags};
    notes_[n.id] = n;
    return n;
  }
  std::optional<Note> find(std::int64_t id) {
    std::lock_guard lock(mutex_);
    auto it = notes_.find(id);
    return it == notes_.end() ? std::nullopt : std::optional<Note>(it->second);
  }
  std::vector<Note> list(const ListNotesRequest& req) {
    std::lock_guard lock(mutex_);
    std::vector<Note> out;
    for (const auto& [id, n] : notes_) {
      if (out.size() == static_cast<std::size_t>(req.limit)) break;
      if (!req.tag || std::find(n.tags.begin(), n.tags.end(), *req.tag) != n.tags.end()) out.push_back(n);
    }
    return out;
  }
  bool remove(std::int64_t id) {
    std::lock_guard lock(mutex_);
    return notes_.erase(id) != 0;
  }

 private:
  std::mutex mutex_;
  std::map<std::int64_t, Note> notes_;
  std::int64_t last_id_ = 0;
};

Store& store() {
  static Store s;
  return s;
}

}  // namespace

// POST /notes
void CreateNote(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<notes::CreateNoteRequest>();
  if (!req) return ctx.reject(req.errors());
  notes::Note resp = store().add(*req);
  ctx.set_header("Location", "/notes/" + std::to_string(resp.id));
  ctx.json(201, resp);
}

// GET /notes/:id
void GetNote(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<notes::NoteIdRequest>();
  if (!req) return ctx.reject(req.errors());
  auto note = store().find(req->id);
  if (!note) return ctx.json(404, khz::H{{"error", "no such note"}});
  ctx.json(200, *note);
}

// GET /notes
void ListNotes(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<notes::ListNotesRequest>();
  if (!req) return ctx.reject(req.errors());
  notes::NoteList resp;
  resp.notes = store().list(*req);
  ctx.json(200, resp);
}

// DELETE /notes/:id
void DeleteNote(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<notes::NoteIdRequest>();
  if (!req) return ctx.reject(req.errors());
  if (!store().remove(req->id)) return ctx.json(404, khz::H{{"error", "no such note"}});
  ctx.json(200, notes::Deleted{req->id});
}

}  // namespace notes::handler
