// The notes service: an IDL-first khz service. `hz new` generated the project around it
// (examples/idl_service/README.md); the handlers in biz/handler are filled in by hand.
namespace cpp notes

/** A note. */
struct Note {
  1: i64 id
  2: string title
  3: string body
  4: list<string> tags
}

struct CreateNoteRequest {
  1: required string title (api.body = "title", api.vd = "len($) > 0 && len($) <= 80")
  2: string body (api.body = "body", api.vd = "len($) <= 4096")
  3: list<string> tags (api.body = "tags", api.vd = "len($) <= 8")
}

struct NoteIdRequest {
  1: i64 id (api.path = "id", api.vd = "$ > 0")
}

struct ListNotesRequest {
  1: optional string tag (api.query = "tag")
  2: i32 limit = 20 (api.query = "limit", api.vd = "$ >= 1 && $ <= 100")
}

struct NoteList {
  1: list<Note> notes
}

struct Deleted {
  1: i64 id
}

service NoteService {
  Note CreateNote(1: CreateNoteRequest req) (api.post = "/notes")
  Note GetNote(1: NoteIdRequest req) (api.get = "/notes/:id")
  NoteList ListNotes(1: ListNotesRequest req) (api.get = "/notes")
  Deleted DeleteNote(1: NoteIdRequest req) (api.delete = "/notes/:id")
}
