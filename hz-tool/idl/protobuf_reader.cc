// SPDX-License-Identifier: Apache-2.0
// A descriptor set to the model. Messages nested in messages become structs named
// Outer_Inner (as protoc's C++ does); map entries become std::map fields; oneof members are
// optional fields with a rule that at most one is set; google.protobuf.Timestamp is a
// time_point. Hertz's options arrive as unknown fields of the *Options messages (this binary
// does not link api.proto's generated code), read by field number.
#include "idl/protobuf_reader.h"

#include "embedded.h"
#include "idl/compiler.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace hz::idl {
namespace {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

// api.proto's field numbers.
const std::map<int, std::string>& option_names() {
  static const std::map<int, std::string> names = {
      {50101, "api.raw_body"}, {50102, "api.query"}, {50103, "api.header"}, {50104, "api.cookie"},
      {50105, "api.body"}, {50106, "api.path"}, {50107, "api.vd"}, {50108, "api.form"},
      {50109, "api.js_conv"}, {50110, "api.file_name"}, {50111, "api.none"},
      {50131, "api.form_compatible"}, {50132, "api.js_conv_compatible"},
      {50133, "api.file_name_compatible"}, {50134, "api.none_compatible"}, {51001, "api.go_tag"},
      {50201, "api.get"}, {50202, "api.post"}, {50203, "api.put"}, {50204, "api.delete"},
      {50205, "api.patch"}, {50206, "api.options"}, {50207, "api.head"}, {50208, "api.any"},
      {50301, "api.gen_path"}, {50302, "api.api_version"}, {50303, "api.tag"}, {50304, "api.name"},
      {50305, "api.api_level"}, {50306, "api.serializer"}, {50307, "api.param"},
      {50308, "api.baseurl"}, {50309, "api.handler_path"}, {50331, "api.handler_path_compatible"},
      {50401, "api.http_code"}, {50402, "api.base_domain"}, {50731, "api.base_domain_compatible"},
      {50830, "api.reserve"}};
  return names;
}

class ErrorCollector : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element, const pb::Message*,
                ErrorLocation, const std::string& message) override {
    if (text.empty()) text = filename + ": " + element + ": " + message;
  }
  std::string text;
};

std::string cpp_namespace(const std::string& package, const std::string& file_name) {
  if (package.empty()) return fs::path(file_name).stem().string();
  std::string out;
  for (char c : package) {
    if (c == '.') out += "::";
    else out += c;
  }
  return out;
}

// A message's name inside its file: Outer_Inner.
template <class D>
std::string local_name(const D* d) {
  std::string name = d->name();
  for (const pb::Descriptor* c = d->containing_type(); c != nullptr; c = c->containing_type()) {
    name = c->name() + "_" + name;
  }
  return name;
}

template <class D>
std::string comment_of(const D* d) {
  pb::SourceLocation loc;
  if (!d->GetSourceLocation(&loc)) return {};
  std::string c = loc.leading_comments.empty() ? loc.trailing_comments : loc.leading_comments;
  while (!c.empty() && (c.back() == '\n' || c.back() == ' ')) c.pop_back();
  if (!c.empty() && c.front() == ' ') c.erase(0, 1);
  return c;
}

bool skipped_file(const std::string& name) {
  return name == "google/protobuf/descriptor.proto" || name == "api.proto" ||
         name == "google/protobuf/timestamp.proto";
}

class Walker {
 public:
  Walker(Program& program, const pb::DescriptorPool& pool) : program_(program), pool_(pool) {}

  void file(const pb::FileDescriptor* f, bool main) {
    File out;
    out.path = f->name();
    out.stem = fs::path(f->name()).stem().string();
    out.ns = cpp_namespace(f->package(), f->name());
    out.main = main;
    for (int i = 0; i < f->dependency_count(); ++i) out.includes.push_back(f->dependency(i)->name());
    out.types = !skipped_file(f->name());
    program_.files.push_back(out);
    if (!out.types) return;
    for (int i = 0; i < f->enum_type_count(); ++i) enumeration(f->enum_type(i));
    for (int i = 0; i < f->message_type_count(); ++i) message(f->message_type(i));
    for (int i = 0; i < f->service_count(); ++i) service(f->service(i));
  }

 private:
  template <class Options>
  Annotations options_of(const Options& options) {
    Annotations out;
    const pb::UnknownFieldSet& unknown = options.GetReflection()->GetUnknownFields(options);
    for (int i = 0; i < unknown.field_count(); ++i) {
      const pb::UnknownField& u = unknown.field(i);
      std::string value;
      if (u.type() == pb::UnknownField::TYPE_LENGTH_DELIMITED) value = u.length_delimited();
      else if (u.type() == pb::UnknownField::TYPE_VARINT) value = std::to_string(u.varint());
      auto known = option_names().find(u.number());
      if (known != option_names().end()) {
        out.emplace_back(known->second, value);
        continue;
      }
      const pb::Descriptor* extendee = pool_.FindMessageTypeByName(Options::descriptor()->full_name());
      const pb::FieldDescriptor* ext = extendee != nullptr ? pool_.FindExtensionByNumber(extendee, u.number()) : nullptr;
      out.emplace_back(ext != nullptr ? ext->full_name() : "option " + std::to_string(u.number()), value);
    }
    return out;
  }

  void enumeration(const pb::EnumDescriptor* e) {
    Enum out;
    out.name = local_name(e);
    out.ns = cpp_namespace(e->file()->package(), e->file()->name());
    out.file = e->file()->name();
    out.schema_name = e->full_name();
    out.annotations = options_of(e->options());
    for (int i = 0; i < e->value_count(); ++i) {
      out.values.push_back({e->value(i)->name(), e->value(i)->number()});
      for (auto& [name, value] : options_of(e->value(i)->options())) {
        out.annotations.emplace_back(e->value(i)->name() + ": " + name, value);
      }
    }
    program_.enums.push_back(std::move(out));
  }

  Type type_of(const pb::FieldDescriptor* f, bool element) {
    Type t;
    if (!element && f->is_map()) {
      t.kind = Kind::map;
      t.key = std::make_shared<Type>(type_of(f->message_type()->map_key(), true));
      t.element = std::make_shared<Type>(type_of(f->message_type()->map_value(), true));
      return t;
    }
    if (!element && f->is_repeated()) {
      t.kind = Kind::list;
      t.element = std::make_shared<Type>(type_of(f, true));
      return t;
    }
    switch (f->type()) {
      case pb::FieldDescriptor::TYPE_DOUBLE: t.kind = Kind::f64; break;
      case pb::FieldDescriptor::TYPE_FLOAT: t.kind = Kind::f32; break;
      case pb::FieldDescriptor::TYPE_INT64: case pb::FieldDescriptor::TYPE_SINT64:
      case pb::FieldDescriptor::TYPE_SFIXED64: t.kind = Kind::i64; break;
      case pb::FieldDescriptor::TYPE_UINT64: case pb::FieldDescriptor::TYPE_FIXED64: t.kind = Kind::u64; break;
      case pb::FieldDescriptor::TYPE_INT32: case pb::FieldDescriptor::TYPE_SINT32:
      case pb::FieldDescriptor::TYPE_SFIXED32: t.kind = Kind::i32; break;
      case pb::FieldDescriptor::TYPE_UINT32: case pb::FieldDescriptor::TYPE_FIXED32: t.kind = Kind::u32; break;
      case pb::FieldDescriptor::TYPE_BOOL: t.kind = Kind::boolean; break;
      case pb::FieldDescriptor::TYPE_STRING: t.kind = Kind::string; break;
      case pb::FieldDescriptor::TYPE_BYTES: t.kind = Kind::binary; break;
      case pb::FieldDescriptor::TYPE_ENUM:
        t.kind = Kind::enumeration;
        t.name = cpp_namespace(f->enum_type()->file()->package(), f->enum_type()->file()->name()) + "::" + local_name(f->enum_type());
        t.schema_name = f->enum_type()->full_name();
        break;
      case pb::FieldDescriptor::TYPE_MESSAGE:
      case pb::FieldDescriptor::TYPE_GROUP:
        if (f->message_type()->full_name() == "google.protobuf.Timestamp") {
          t.kind = Kind::timestamp;
          break;
        }
        t.kind = Kind::structure;
        t.name = struct_name(f->message_type());
        t.schema_name = f->message_type()->full_name();
        break;
    }
    return t;
  }

  static std::string struct_name(const pb::Descriptor* d) {
    return cpp_namespace(d->file()->package(), d->file()->name()) + "::" + local_name(d);
  }

  void message(const pb::Descriptor* d) {
    if (d->options().map_entry()) return;
    for (int i = 0; i < d->enum_type_count(); ++i) enumeration(d->enum_type(i));
    for (int i = 0; i < d->nested_type_count(); ++i) message(d->nested_type(i));
    Struct out;
    out.name = local_name(d);
    out.ns = cpp_namespace(d->file()->package(), d->file()->name());
    out.file = d->file()->name();
    out.schema_name = d->full_name();
    out.comment = comment_of(d);
    out.annotations = options_of(d->options());
    for (int i = 0; i < d->real_oneof_decl_count(); ++i) out.oneofs.push_back(d->oneof_decl(i)->name());  // real oneofs come first
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::FieldDescriptor* f = d->field(i);
      Field field;
      field.id = f->number();
      field.name = f->name();
      field.type = type_of(f, false);
      field.comment = comment_of(f);
      field.annotations = options_of(f->options());
      if (const pb::OneofDescriptor* o = f->real_containing_oneof()) field.oneof = o->name();
      field.optional = !f->is_repeated() && f->has_presence();
      field.binding.required = f->is_required();
      if (f->has_default_value() && !f->is_repeated()) field.default_value = default_of(f);
      out.fields.push_back(std::move(field));
    }
    program_.structs.push_back(std::move(out));
  }

  static std::string default_of(const pb::FieldDescriptor* f) {
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32: return std::to_string(f->default_value_int32());
      case pb::FieldDescriptor::CPPTYPE_INT64:
        return f->default_value_int64() == INT64_MIN ? "INT64_MIN" : std::to_string(f->default_value_int64());
      case pb::FieldDescriptor::CPPTYPE_UINT32: return std::to_string(f->default_value_uint32()) + "u";
      case pb::FieldDescriptor::CPPTYPE_UINT64: return std::to_string(f->default_value_uint64()) + "u";
      case pb::FieldDescriptor::CPPTYPE_BOOL: return f->default_value_bool() ? "true" : "false";
      case pb::FieldDescriptor::CPPTYPE_STRING: {
        std::string out = "\"";
        for (unsigned char c : f->default_value_string()) {
          if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
          else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x\"\"", c);
            out += buf;
          } else out += static_cast<char>(c);
        }
        return out + "\"";
      }
      default: return {};  // floats, enums: the member's zero value
    }
  }

  void service(const pb::ServiceDescriptor* s) {
    Service out;
    out.name = s->name();
    out.ns = cpp_namespace(s->file()->package(), s->file()->name());
    out.file = s->file()->name();
    out.comment = comment_of(s);
    out.annotations = options_of(s->options());
    for (int i = 0; i < s->method_count(); ++i) {
      const pb::MethodDescriptor* m = s->method(i);
      if (m->client_streaming() || m->server_streaming()) {
        throw std::runtime_error(s->file()->name() + ": " + s->name() + "." + m->name() +
                                 ": streaming methods have no HTTP mapping in hz");
      }
      Method method;
      method.name = m->name();
      method.comment = comment_of(m);
      method.annotations = options_of(m->options());
      method.request = struct_name(m->input_type());
      method.request_schema = m->input_type()->full_name();
      method.response = struct_name(m->output_type());
      method.response_schema = m->output_type()->full_name();
      out.methods.push_back(std::move(method));
    }
    program_.services.push_back(std::move(out));
  }

  Program& program_;
  const pb::DescriptorPool& pool_;
};

}  // namespace

std::string_view api_proto() { return embedded_file("api.proto"); }

Program read_descriptor_set(std::string_view bytes, const std::vector<std::string>& main_files) {
  pb::FileDescriptorSet set;
  if (!set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    throw std::runtime_error("descriptor set: not a FileDescriptorSet");
  }
  pb::DescriptorPool pool;
  std::vector<const pb::FileDescriptor*> files;
  for (const pb::FileDescriptorProto& proto : set.file()) {
    ErrorCollector errors;
    const pb::FileDescriptor* f = pool.BuildFileCollectingErrors(proto, &errors);
    if (f == nullptr) throw std::runtime_error("descriptor set: " + (errors.text.empty() ? proto.name() : errors.text));
    files.push_back(f);
  }
  Program program;
  program.syntax = Syntax::protobuf;
  Walker walker(program, pool);
  for (const pb::FileDescriptor* f : files) {
    bool main = std::find(main_files.begin(), main_files.end(), f->name()) != main_files.end();
    walker.file(f, main);
  }
  return program;
}

Program read_protobuf(const std::vector<std::string>& idls, const std::vector<std::string>& include_paths) {
  ScratchDir scratch;
  std::string hz_include = scratch.path() + "/include";
  fs::create_directories(hz_include);
  {
    std::string api(api_proto());
    FILE* out = std::fopen((hz_include + "/api.proto").c_str(), "wb");
    if (out == nullptr) throw std::runtime_error("cannot write api.proto in " + hz_include);
    std::fwrite(api.data(), 1, api.size(), out);
    std::fclose(out);
  }
  // protoc wants each file under an include path spelled the same way: everything canonical.
  std::vector<std::string> paths;
  for (const std::string& inc : include_paths) paths.push_back(fs::weakly_canonical(fs::absolute(inc)).string());
  std::vector<std::string> main_files, files;
  for (const std::string& idl : idls) {
    fs::path p = fs::weakly_canonical(fs::absolute(idl));
    std::string name;
    for (const std::string& inc : paths) {
      fs::path rel = p.lexically_relative(inc);
      if (!rel.empty() && *rel.begin() != "..") {
        name = rel.generic_string();
        break;
      }
    }
    if (name.empty()) {  // its own folder becomes an include path
      paths.push_back(p.parent_path().string());
      name = p.filename().string();
    }
    main_files.push_back(name);
    files.push_back(p.string());
  }
  std::string set_file = scratch.path() + "/set.pb";
  std::vector<std::string> argv = {"protoc", "--include_imports", "--include_source_info", "--descriptor_set_out=" + set_file};
  for (const std::string& inc : paths) argv.push_back("-I" + inc);
  argv.push_back("-I" + hz_include);
  for (const std::string& f : files) argv.push_back(f);
  run_compiler(argv);
  return read_descriptor_set(read_file(set_file), main_files);
}

}  // namespace hz::idl
