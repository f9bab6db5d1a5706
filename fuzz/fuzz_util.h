// What the fuzz targets share: a check that stops the run with a message (a finding),
// RESP parsing of the fuzz input, and a structural comparison of replies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/common/status.h"
#include "core/resp/reader.h"
#include "core/resp/reply.h"

// A broken invariant is a finding: abort() makes libFuzzer save the input as a crash.
// Checks stay on in every build type (assert() would vanish with NDEBUG).
#define FUZZ_CHECK(cond, ...)                                                         \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                              \
      std::fprintf(stderr, "\n");                                                     \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace rcm::fuzz {

using ReplyPtr = std::unique_ptr<core::Reply>;

// The first reply in data, or null when data is not (a whole) valid RESP reply; `rest`
// gets the bytes after it. Only the reader's protocol errors are expected here: any
// other exception escapes and is reported as a crash.
inline ReplyPtr parse_first_reply(const uint8_t *data, size_t size, std::string *rest = nullptr) {
  core::ReplyReader reader;
  reader.feed(reinterpret_cast<const char *>(data), size);
  ReplyPtr reply;
  try {
    reply.reset(reader.next());
  } catch (const core::Error &e) {
    FUZZ_CHECK(e.status() == core::Status::protocol, "reader threw status %d: %s", static_cast<int>(e.status()), e.what());
    return nullptr;
  }
  if (reply && rest) {
    size_t left = reader.buffered();
    rest->assign(reinterpret_cast<const char *>(data) + (size - left), left);
  }
  return reply;
}

inline bool same_reply(const core::Reply *a, const core::Reply *b) {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->kind != b->kind || a->integer != b->integer || a->str != b->str || a->origin != b->origin ||
      a->elements.size() != b->elements.size())
    return false;
  for (size_t i = 0; i < a->elements.size(); ++i)
    if (!same_reply(a->elements[i], b->elements[i])) return false;
  return true;
}

}  // namespace rcm::fuzz
