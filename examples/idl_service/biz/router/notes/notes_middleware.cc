// Group middleware for the routes of notes.thrift: generated once by hz, then yours (hz update only
// appends the functions of new services and methods).
#include "biz/router/notes/notes_middleware.h"

#include <khz/app/request_context.h>

namespace notes::middleware {

// every route of notes.thrift
std::vector<khz::Handler> notes_idl_mw() {
  return {};
}

// the routes of service NoteService
// Filled in: every response of the service says which service answered.
std::vector<khz::Handler> note_service_mw() {
  return {[](khz::RequestContext& ctx) { ctx.set_header("X-Service", "notes"); }};
}

// NoteService.CreateNote
std::vector<khz::Handler> note_service_create_note_mw() {
  return {};
}

// NoteService.GetNote
std::vector<khz::Handler> note_service_get_note_mw() {
  return {};
}

// NoteService.ListNotes
std::vector<khz::Handler> note_service_list_notes_mw() {
  return {};
}

// NoteService.DeleteNote
std::vector<khz::Handler> note_service_delete_note_mw() {
  return {};
}

}  // namespace notes::middleware
