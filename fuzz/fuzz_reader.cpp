// fuzz_reader: the reply reader (core/resp/reader) fed a stream in chunks whose sizes
// come from the input. Chunked parsing must give what parsing the whole buffer at once
// gives (the same replies, the same failure, the same bytes left over), and the
// max_reply_bytes bound must hold in both.
//
// Input: [limit byte][n][n chunk-size bytes][stream...]
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"

using rcm::core::Error;
using rcm::core::Reply;
using rcm::core::ReplyKind;
using rcm::core::ReplyReader;
using rcm::core::Status;
using rcm::fuzz::ReplyPtr;

namespace {

struct Outcome {
  std::vector<ReplyPtr> replies;
  bool failed = false;
  size_t left = 0;  // bytes buffered at the end, when not failed
};

void check_protocol(const Error &e) {
  FUZZ_CHECK(e.status() == Status::protocol, "reader threw status %d: %s", static_cast<int>(e.status()), e.what());
}

// The reader builds whole values: no hole in an array, only the kinds RESP2 has.
void check_shape(const Reply *r) {
  FUZZ_CHECK(r != nullptr, "null element in a reply");
  int kind = static_cast<int>(r->kind);
  FUZZ_CHECK(kind >= 1 && kind <= 6, "reply kind %d", kind);
  FUZZ_CHECK(r->origin == Status::ok, "a server reply marked as made by rcm");
  FUZZ_CHECK(r->kind == ReplyKind::array || r->elements.empty(), "a %d reply with elements", kind);
  for (const Reply *e : r->elements) check_shape(e);
}

Outcome parse_whole(const std::string &stream, long long max) {
  Outcome out;
  ReplyReader reader(max);
  reader.feed(stream.data(), stream.size());
  try {
    while (true) {
      size_t before = reader.buffered();
      Reply *r = reader.next();
      if (r == nullptr) break;
      out.replies.emplace_back(r);
      check_shape(r);
      size_t size = before - reader.buffered();
      FUZZ_CHECK(max == 0 || size <= static_cast<unsigned long long>(max),
                 "a %zu-byte reply passed max_reply_bytes=%lld", size, max);
    }
    out.left = reader.buffered();
  } catch (const Error &e) {
    check_protocol(e);
    out.failed = true;
  }
  return out;
}

Outcome parse_chunked(const std::string &stream, long long max, const std::vector<size_t> &chunks) {
  Outcome out;
  ReplyReader reader(max);
  size_t pos = 0;
  try {
    for (size_t c = 0; pos < stream.size(); ++c) {
      size_t n = std::min(chunks[c % chunks.size()], stream.size() - pos);
      reader.feed(stream.data() + pos, n);
      pos += n;
      while (Reply *r = reader.next()) out.replies.emplace_back(r);
      // What a trickling server has made the reader hold for one reply stays bounded.
      FUZZ_CHECK(max == 0 || reader.partial_bytes() <= static_cast<unsigned long long>(max),
                 "%llu bytes held for one reply, max_reply_bytes=%lld", reader.partial_bytes(), max);
    }
    out.left = reader.buffered();
  } catch (const Error &e) {
    check_protocol(e);
    out.failed = true;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  // Unlimited, or a bound small enough for fuzz inputs to cross it.
  long long max = data[0] % 4 == 0 ? 0 : 1 + data[0] / 4;
  size_t n = 1 + data[1] % 8;
  if (size < 2 + n) return 0;
  std::vector<size_t> chunks;
  for (size_t i = 0; i < n; ++i) chunks.push_back(1 + data[2 + i]);
  std::string stream(reinterpret_cast<const char *>(data) + 2 + n, size - 2 - n);

  Outcome whole = parse_whole(stream, max);
  Outcome chunked = parse_chunked(stream, max, chunks);
  FUZZ_CHECK(whole.failed == chunked.failed, "whole buffer %s, in chunks %s", whole.failed ? "failed" : "parsed",
             chunked.failed ? "failed" : "parsed");
  FUZZ_CHECK(whole.replies.size() == chunked.replies.size(), "%zu replies whole, %zu in chunks",
             whole.replies.size(), chunked.replies.size());
  for (size_t i = 0; i < whole.replies.size(); ++i)
    FUZZ_CHECK(rcm::fuzz::same_reply(whole.replies[i].get(), chunked.replies[i].get()), "reply %zu differs", i);
  FUZZ_CHECK(whole.failed || whole.left == chunked.left, "%zu bytes left whole, %zu in chunks", whole.left,
             chunked.left);
  return 0;
}
