// SPDX-License-Identifier: Apache-2.0
// Running an IDL compiler (thrift, protoc) as a child process, and a scratch folder for its
// output. The compiler's own messages (with file:line) are passed on as they are.
#pragma once

#include <string>
#include <vector>

namespace hz::idl {

// Runs argv[0] (looked up in PATH) with argv; its stdout and stderr go to a string. Throws
// std::runtime_error when it cannot start or exits non-zero, with what it printed.
std::string run_compiler(const std::vector<std::string>& argv);

// A fresh folder under $TMPDIR, removed with everything in it by the destructor.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// The whole file, or std::runtime_error.
std::string read_file(const std::string& path);

}  // namespace hz::idl
