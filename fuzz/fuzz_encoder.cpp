// fuzz_encoder: the command encoder (core/resp/encoder). Arguments drawn from the input
// are encoded (with lengths, and for NUL-free arguments also as C strings) after what a
// buffer already holds; the reader must read back exactly those arguments, in order,
// with nothing left over.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "core/resp/encoder.h"
#include "fuzz/fuzz_util.h"

using rcm::core::Reply;
using rcm::core::ReplyKind;
using rcm::core::ReplyReader;

namespace {

void check_decodes_to(ReplyReader &reader, const std::vector<std::string> &args) {
  rcm::fuzz::ReplyPtr r(reader.next());
  FUZZ_CHECK(r != nullptr, "no reply read back from the encoding of %zu arguments", args.size());
  FUZZ_CHECK(r->kind == ReplyKind::array, "read back kind %d", static_cast<int>(r->kind));
  FUZZ_CHECK(r->elements.size() == args.size(), "%zu arguments read back as %zu", args.size(), r->elements.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const Reply *e = r->elements[i];
    FUZZ_CHECK(e->kind == ReplyKind::string && e->str == args[i], "argument %zu read back differently", i);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string before = in.ConsumeRandomLengthString(64);
  std::vector<std::string> args;
  while (in.remaining_bytes() > 0 && args.size() < 256) args.push_back(in.ConsumeRandomLengthString(512));

  std::vector<const char *> argv;
  std::vector<size_t> lens;
  bool c_strings = true;
  for (const std::string &a : args) {
    argv.push_back(a.c_str());
    lens.push_back(a.size());
    c_strings = c_strings && a.find('\0') == std::string::npos;
  }
  const int argc = static_cast<int>(args.size());

  std::string out = before;
  rcm::core::encode_command(out, argc, argv.data(), lens.data());
  FUZZ_CHECK(out.compare(0, before.size(), before) == 0, "the encoder changed what the buffer held");
  if (c_strings) rcm::core::encode_command(out, argc, argv.data(), nullptr);

  // What the buffer held before is not ours to read: start after it.
  ReplyReader reader;
  reader.feed(out.data() + before.size(), out.size() - before.size());
  check_decodes_to(reader, args);
  if (c_strings) check_decodes_to(reader, args);
  FUZZ_CHECK(reader.next() == nullptr && reader.buffered() == 0, "bytes left after the encoded commands");
  return 0;
}
