// unit.resp: RESP replies built by rcm::core::ReplyReader, commands by encode_command.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/resp/encoder.h"
#include "core/resp/reader.h"
#include "core/resp/reply.h"
#include "tests/unit/check.h"

using rcm::core::Error;
using rcm::core::Reply;
using rcm::core::ReplyKind;
using rcm::core::ReplyReader;
using rcm::core::Status;

namespace check {
inline std::string show(ReplyKind k) { return std::to_string(static_cast<int>(k)); }
}  // namespace check

namespace {

using ReplyPtr = std::unique_ptr<Reply>;

ReplyPtr parse_one(const std::string &wire) {
  ReplyReader r;
  r.feed(wire.data(), wire.size());
  ReplyPtr reply(r.next());
  REQUIRE(reply != nullptr);
  ReplyPtr none(r.next());
  CHECK(none == nullptr);
  CHECK_EQ(r.buffered(), static_cast<size_t>(0));
  return reply;
}

// Feeds the stream one byte at a time and returns every reply in order.
std::vector<ReplyPtr> parse_bytewise(const std::string &wire) {
  ReplyReader r;
  std::vector<ReplyPtr> out;
  for (char c : wire) {
    r.feed(&c, 1);
    while (Reply *x = r.next()) out.emplace_back(x);
  }
  return out;
}

bool protocol_error(const Error &e) { return e.status() == Status::protocol; }

std::string encode(std::vector<std::string> args, bool with_lengths = true) {
  std::vector<const char *> argv;
  std::vector<size_t> lens;
  for (auto &a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  std::string out;
  rcm::core::encode_command(out, static_cast<int>(args.size()), argv.data(),
                            with_lengths ? lens.data() : nullptr);
  return out;
}

}  // namespace

TEST(test_reader__status) {
  auto r = parse_one("+OK\r\n");
  CHECK_EQ(r->kind, ReplyKind::status);
  CHECK_EQ(r->str, std::string("OK"));
  CHECK(r->origin == Status::ok);
}

TEST(test_reader__error) {
  auto r = parse_one("-ERR unknown command 'x'\r\n");
  CHECK_EQ(r->kind, ReplyKind::error);
  CHECK(r->is_error());
  CHECK_EQ(r->str, std::string("ERR unknown command 'x'"));
  CHECK(r->origin == Status::ok);  // the server's error, not rcm's
}

TEST(test_reader__integer) {
  auto zero = parse_one(":0\r\n");
  CHECK_EQ(zero->kind, ReplyKind::integer);
  CHECK_EQ(zero->integer, 0LL);
  auto neg = parse_one(":-42\r\n");
  CHECK_EQ(neg->integer, -42LL);
  auto big = parse_one(":9223372036854775807\r\n");
  CHECK_EQ(big->kind, ReplyKind::integer);
  CHECK_EQ(big->integer, 9223372036854775807LL);
  auto min = parse_one(":-9223372036854775808\r\n");
  CHECK_EQ(min->integer, (-9223372036854775807LL - 1));
}

TEST(test_reader__bulk_string_empty_and_binary) {
  auto s = parse_one("$5\r\nhello\r\n");
  CHECK_EQ(s->kind, ReplyKind::string);
  CHECK_EQ(s->str, std::string("hello"));
  auto e = parse_one("$0\r\n\r\n");
  CHECK_EQ(e->kind, ReplyKind::string);
  CHECK_EQ(e->str, std::string());
  std::string bin("a\0b\r\nc\0", 7);
  auto b = parse_one("$7\r\n" + bin + "\r\n");
  CHECK_EQ(b->kind, ReplyKind::string);
  CHECK_EQ(b->str.size(), static_cast<size_t>(7));
  CHECK_EQ(b->str, bin);
}

TEST(test_reader__nil_bulk_and_nil_array) {
  auto a = parse_one("$-1\r\n");
  CHECK_EQ(a->kind, ReplyKind::nil);
  auto b = parse_one("*-1\r\n");
  CHECK_EQ(b->kind, ReplyKind::nil);
}

TEST(test_reader__arrays_nested_and_empty) {
  auto r = parse_one("*4\r\n:1\r\n*3\r\n$1\r\nx\r\n*0\r\n$-1\r\n+s\r\n-E e\r\n");
  REQUIRE(r->kind == ReplyKind::array);
  REQUIRE(r->elements.size() == 4);
  CHECK_EQ(r->elements[0]->integer, 1LL);
  Reply *inner = r->elements[1];
  REQUIRE(inner->kind == ReplyKind::array);
  REQUIRE(inner->elements.size() == 3);
  CHECK_EQ(inner->elements[0]->str, std::string("x"));
  CHECK_EQ(inner->elements[1]->kind, ReplyKind::array);
  CHECK_EQ(inner->elements[1]->elements.size(), static_cast<size_t>(0));
  CHECK_EQ(inner->elements[2]->kind, ReplyKind::nil);
  CHECK_EQ(r->elements[2]->kind, ReplyKind::status);
  CHECK_EQ(r->elements[2]->str, std::string("s"));
  CHECK_EQ(r->elements[3]->kind, ReplyKind::error);
  CHECK_EQ(r->elements[3]->str, std::string("E e"));
  auto empty = parse_one("*0\r\n");
  CHECK_EQ(empty->kind, ReplyKind::array);
  CHECK_EQ(empty->elements.size(), static_cast<size_t>(0));
}

TEST(test_reader__deeply_nested) {
  std::string wire;
  const int depth = 6;
  for (int i = 0; i < depth; i++) wire += "*1\r\n";
  wire += ":7\r\n";
  auto r = parse_one(wire);
  Reply *p = r.get();
  for (int i = 0; i < depth; i++) {
    REQUIRE(p->kind == ReplyKind::array && p->elements.size() == 1);
    p = p->elements[0];
  }
  CHECK_EQ(p->integer, 7LL);
}

// A reply nested deeper than any server sends is refused while it is read: destroying,
// copying or converting a reply walks it recursively, and a 200000-level one would
// overflow the stack. hiredis 0.14 (what rcm builds with) stops at 7 levels; 1.0..1.3
// have no limit, so a port to them must bound the depth itself (this test says so).
TEST(test_reader__nesting_beyond_the_bound_is_a_protocol_error) {
  std::string wire;
  for (int i = 0; i < 200000; i++) wire += "*1\r\n";
  wire += ":1\r\n";
  for (size_t chunk : {wire.size(), size_t(4096)}) {
    ReplyReader r;
    CHECK_THROWS_IF(
        {
          for (size_t at = 0; at < wire.size(); at += chunk) {
            r.feed(wire.data() + at, std::min(chunk, wire.size() - at));
            ReplyPtr x(r.next());
          }
        },
        Error, protocol_error);
  }
}

// A line that never ends costs time linear in its length: hiredis rescans an
// unfinished line from its start whenever it is asked, so the reader asks again only
// once a CRLF came. 32 MiB in 1 KiB slices: about 10^7 byte looks; rescanned on every
// slice it was about 5 * 10^11 (minutes, so this test then fails by its timeout).
TEST(test_reader__endless_line_costs_linear_time) {
  ReplyReader r;
  const std::string slice(1024, 'a');
  r.feed("+", 1);
  CHECK(r.next() == nullptr);
  for (int i = 0; i < 32768; ++i) {
    r.feed(slice.data(), slice.size());
    CHECK(r.next() == nullptr);
  }
  // A CRLF split over two feeds still ends it.
  r.feed("\r", 1);
  CHECK(r.next() == nullptr);
  r.feed("\n+OK\r\n", 6);
  ReplyPtr line(r.next());
  REQUIRE(line != nullptr);
  CHECK_EQ(line->str.size(), size_t(32768) * 1024);
  ReplyPtr ok(r.next());
  REQUIRE(ok != nullptr);
  CHECK_EQ(ok->str, std::string("OK"));
}

// The reader waits for a CRLF before it asks hiredis again (above), but where the next
// item's type byte is unread -- between replies, between an array's elements -- a bad
// one must fail at once, as it does in one whole feed (found by fuzz_reader: a chunked
// feed "parsed" what a whole one refused).
TEST(test_reader__bad_type_byte_in_a_later_feed_fails_at_once) {
  {
    ReplyReader r;
    r.feed("+OK\r\n", 5);
    ReplyPtr ok(r.next());
    REQUIRE(ok != nullptr);
    CHECK(r.next() == nullptr);
    r.feed("X", 1);
    CHECK_THROWS_IF(r.next(), Error, [](const Error &e) { return e.status() == Status::protocol; });
  }
  {
    ReplyReader r;
    r.feed("*2\r\n:1\r\n", 8);
    CHECK(r.next() == nullptr);
    r.feed("?", 1);
    CHECK_THROWS_IF(r.next(), Error, [](const Error &e) { return e.status() == Status::protocol; });
  }
}

// A bulk string ends by its byte count: hiredis skips the two bytes after the payload
// without checking that they are CRLF, so the CRLF wait must not apply to a bulk body
// (found by fuzz_reader: "$5\r\nhello\rz" fed in two pieces gave one reply fewer).
TEST(test_reader__bulk_body_completes_without_a_crlf_in_the_last_feed) {
  ReplyReader r;
  r.feed("$5\r\nhel", 7);
  CHECK(r.next() == nullptr);
  r.feed("lo\rz", 4);
  ReplyPtr bulk(r.next());
  REQUIRE(bulk != nullptr);
  CHECK_EQ(bulk->str, std::string("hello"));
}

TEST(test_reader__byte_by_byte_and_several_replies) {
  std::string bin("\0\r\n", 3);
  std::string wire = "+OK\r\n:12\r\n$3\r\n" + bin + "\r\n*2\r\n$1\r\na\r\n*1\r\n$-1\r\n$-1\r\n-ERR x\r\n";
  auto all = parse_bytewise(wire);
  REQUIRE(all.size() == 6);
  CHECK_EQ(all[0]->str, std::string("OK"));
  CHECK_EQ(all[1]->integer, 12LL);
  CHECK_EQ(all[2]->str, bin);
  REQUIRE(all[3]->elements.size() == 2);
  CHECK_EQ(all[3]->elements[0]->str, std::string("a"));
  CHECK_EQ(all[3]->elements[1]->elements[0]->kind, ReplyKind::nil);
  CHECK_EQ(all[4]->kind, ReplyKind::nil);
  CHECK_EQ(all[5]->kind, ReplyKind::error);

  // the same stream in one piece gives the same replies
  ReplyReader r;
  r.feed(wire.data(), wire.size());
  int n = 0;
  while (Reply *x = r.next()) {
    delete x;
    n++;
  }
  CHECK_EQ(n, 6);
}

TEST(test_reader__incomplete_waits_for_more) {
  ReplyReader r;
  std::string part = "$10\r\nhello";
  r.feed(part.data(), part.size());
  CHECK(r.next() == nullptr);
  CHECK(r.buffered() > 0);
  std::string rest = "world\r\n";
  r.feed(rest.data(), rest.size());
  ReplyPtr x(r.next());
  REQUIRE(x != nullptr);
  CHECK_EQ(x->str, std::string("helloworld"));
}

TEST(test_reader__large_bulk) {
  std::string v(5u << 20, 'z');
  v[12345] = '\0';
  auto r = parse_one("$" + std::to_string(v.size()) + "\r\n" + v + "\r\n");
  CHECK_EQ(r->str.size(), v.size());
  CHECK(r->str == v);
}

// Reply::str keeps short texts inside the reply and longer ones in a heap block: every
// length on both sides of the boundary, and assignments that cross it either way, keep
// the bytes, the length and the NUL that rcm_reply_string's c_str() promises.
TEST(test_reply_text__inline_and_heap_lengths_keep_bytes_and_nul) {
  using rcm::core::ReplyText;
  const size_t edge = ReplyText::kInline;
  for (size_t n : {size_t(0), size_t(1), size_t(15), size_t(16), edge - 1, edge, edge + 1, size_t(1000)}) {
    std::string v(n, 'a');
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>('a' + i % 26);
    if (n > 3) v[2] = '\0';
    auto r = parse_one("$" + std::to_string(n) + "\r\n" + v + "\r\n");
    CHECK_EQ(r->str.size(), n);
    CHECK(r->str == v);
    CHECK(r->str.c_str()[n] == '\0');
    ReplyText copy(r->str);
    CHECK(copy == v);
    ReplyText other;
    other = std::string(2 * edge, 'x');  // heap first, then whatever length v has
    other = copy;
    CHECK(other == v);
    CHECK(other.c_str()[n] == '\0');
    other = std::string_view("s");
    CHECK(other == "s");
    CHECK_EQ(std::string(other), std::string("s"));
  }
}

TEST(test_reader__garbage_is_protocol_error) {
  const char *bad[] = {"?what\r\n", "!x\r\n", ":abc\r\n", "$x\r\n", "*x\r\n"};
  for (const char *b : bad) {
    ReplyReader r;
    std::string s(b);
    CHECK_THROWS_IF(
        {
          r.feed(s.data(), s.size());
          ReplyPtr x(r.next());
          ReplyPtr y(r.next());
        },
        Error, protocol_error);
  }
}

// max_reply_bytes: a bulk announced beyond it fails at once, also inside an array; a
// reply that only grows beyond it fails once its bytes do; replies within it parse,
// also many of them in a row (the bound is per reply, not per stream).
TEST(test_reader__max_reply_bytes) {
  auto names_key = [](const Error &e) {
    return e.status() == Status::protocol && std::string(e.what()).find("max_reply_bytes") != std::string::npos;
  };
  for (const char *b : {"$2000\r\n", "*2\r\n$3\r\nabc\r\n$2000\r\n"}) {
    ReplyReader r(1000);
    std::string s(b);
    CHECK_THROWS_IF(
        {
          r.feed(s.data(), s.size());
          ReplyPtr x(r.next());
        },
        Error, names_key);
  }
  {
    ReplyReader r(1000);
    std::string s = "*100\r\n";
    for (int i = 0; i < 100; ++i) s += "$10\r\n0123456789\r\n";
    CHECK_THROWS_IF(
        {
          r.feed(s.data(), s.size());
          ReplyPtr x(r.next());
        },
        Error, names_key);
  }
  ReplyReader r(1000);
  std::string one = "$900\r\n" + std::string(900, 'x') + "\r\n";
  for (int i = 0; i < 10; ++i) {
    r.feed(one.data(), one.size());
    ReplyPtr x(r.next());
    REQUIRE(x != nullptr);
    CHECK_EQ(x->str.size(), size_t(900));
  }
}

std::string describe(const Reply *r) {
  if (r == nullptr) return "null";
  switch (r->kind) {
    case ReplyKind::string: return "s:" + std::string(r->str);
    case ReplyKind::status: return "t:" + std::string(r->str);
    case ReplyKind::error: return "e:" + std::string(r->str);
    case ReplyKind::integer: return "i:" + std::to_string(r->integer);
    case ReplyKind::nil: return "n";
    case ReplyKind::array: {
      std::string out = "a[";
      for (const Reply *e : r->elements) out += describe(e) + ",";
      return out + "]";
    }
  }
  return "?";
}

// Bulk strings, nils and status lines that arrive whole are read without hiredis
// (ReplyReader::take_simple); everything else, and what follows an unfinished item, goes
// through hiredis. Whole, split at every byte into two feeds, and fed byte by byte, the
// stream gives the same replies in the same order.
TEST(test_reader__simple_replies_read_directly_match_at_every_split) {
  const std::string wire = std::string("+OK\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n:5\r\n$0\r\n\r\n-ERR x\r\n") +
                           "+a\rb\r\n$3\r\na\r\n\r\n" + "$16\r\n" + std::string(16, 'v') + "\r\n+\r\n" + std::string("$2\r\n\0\n\r\n", 8);
  const std::vector<std::string> want = {"t:OK", "s:hello", "n", "a[s:a,i:5,]", "s:", "e:ERR x", "t:a\rb",
                                         "s:a\r\n", "s:" + std::string(16, 'v'), "t:", std::string("s:\0\n", 4)};
  auto run = [&](const std::vector<size_t> &cuts) {
    ReplyReader r;
    std::vector<std::string> got;
    size_t from = 0;
    for (size_t i = 0; i <= cuts.size(); ++i) {
      size_t to = i < cuts.size() ? cuts[i] : wire.size();
      r.feed(wire.data() + from, to - from);
      from = to;
      while (Reply *x = r.next()) {
        got.push_back(describe(x));
        delete x;
      }
    }
    return got;
  };
  CHECK(run({}) == want);
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    std::vector<std::string> got = run({cut});
    if (got != want) {
      CHECK_EQ(cut, size_t(0));  // names the split that differs
      break;
    }
  }
  std::vector<size_t> bytes;
  for (size_t i = 1; i < wire.size(); ++i) bytes.push_back(i);
  CHECK(run(bytes) == want);
}

// What hiredis rejects is still rejected after replies read directly: a length with a
// leading zero or too many digits, and a bulk over max_reply_bytes, each once the
// replies before it are out.
TEST(test_reader__after_direct_replies_bad_items_still_fail) {
  for (const std::string &bad : {std::string("$016\r\n0123456789abcdef\r\n"), "$200\r\n" + std::string(200, 'x') + "\r\n",
                                 std::string("$99999999999999999999\r\nx\r\n")}) {
    ReplyReader r(100);
    std::string s = "+OK\r\n$1\r\nx\r\n" + bad;
    r.feed(s.data(), s.size());
    ReplyPtr a(r.next()), b(r.next());
    REQUIRE(a != nullptr && b != nullptr);
    CHECK_EQ(describe(a.get()) + describe(b.get()), std::string("t:OKs:x"));
    CHECK_THROWS_IF({ ReplyPtr c(r.next()); }, Error, [](const Error &e) { return e.status() == Status::protocol; });
  }
}

// Found by fuzz_reader (fresh-chroot run at 4063cc9): the direct path read a nil under a
// max_reply_bytes smaller than its 5 bytes, which hiredis's path (the same bytes in
// chunks) rejects.
TEST(test_reader__a_nil_over_max_reply_bytes_fails_read_directly_or_in_chunks) {
  const std::string s = "$-1\r\n";
  ReplyReader whole(4);
  whole.feed(s.data(), s.size());
  CHECK_THROWS_IF({ ReplyPtr a(whole.next()); }, Error, [](const Error &e) { return e.status() == Status::protocol; });
  ReplyReader chunked(4);
  chunked.feed(s.data(), 3);
  CHECK(chunked.next() == nullptr);
  chunked.feed(s.data() + 3, 2);
  CHECK_THROWS_IF({ ReplyPtr a(chunked.next()); }, Error, [](const Error &e) { return e.status() == Status::protocol; });
  ReplyReader roomy(5);  // exactly its size: read
  roomy.feed(s.data(), s.size());
  ReplyPtr n(roomy.next());
  REQUIRE(n != nullptr);
  CHECK_EQ(n->kind, ReplyKind::nil);
}

TEST(test_reader__reply_factories) {
  ReplyPtr e(Reply::make_error(Status::timeout, "timed out"));
  CHECK_EQ(e->kind, ReplyKind::error);
  CHECK(e->origin == Status::timeout);
  CHECK_EQ(e->str, std::string("timed out"));
  ReplyPtr a(Reply::make_array());
  a->elements.push_back(Reply::make_integer(3));
  a->elements.push_back(Reply::make_string(std::string("b\0c", 3)));
  a->elements.push_back(Reply::make_status("OK"));
  CHECK_EQ(a->elements[0]->integer, 3LL);
  CHECK_EQ(a->elements[1]->str.size(), static_cast<size_t>(3));
  CHECK_EQ(a->elements[2]->kind, ReplyKind::status);
}

// ---- encode_command ---------------------------------------------------------------------

TEST(test_encoder__simple_command) {
  CHECK_EQ(encode({"GET", "k"}), std::string("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"));
  CHECK_EQ(encode({"PING"}), std::string("*1\r\n$4\r\nPING\r\n"));
}

TEST(test_encoder__empty_and_binary_arguments) {
  std::string bin("a\0\r\nb", 5);
  CHECK_EQ(encode({"SET", "", bin}),
           std::string("*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\n") + bin + "\r\n");
}

TEST(test_encoder__lengths_optional) {
  CHECK_EQ(encode({"SET", "key", "value"}, false), encode({"SET", "key", "value"}, true));
}

TEST(test_encoder__appends_to_buffer) {
  std::string out = "prefix";
  const char *argv[] = {"ECHO", "x"};
  rcm::core::encode_command(out, 2, argv, nullptr);
  rcm::core::encode_command(out, 2, argv, nullptr);
  CHECK_EQ(out, std::string("prefix*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n"));
}

TEST(test_encoder__large_counts_and_lengths) {
  std::vector<std::string> args(12, "a");
  std::string v(1000000, 'v');
  args.push_back(v);
  std::string wire = encode(args);
  CHECK_EQ(wire.substr(0, 5), std::string("*13\r\n"));
  CHECK(wire.find("$1000000\r\n") != std::string::npos);
}

TEST(test_encoder__reader_round_trip) {
  // what the encoder writes is a valid RESP array the reader gives back unchanged
  std::string bin("\0\xff\r\n", 4);
  std::string wire = encode({"SET", "k", bin});
  ReplyReader r;
  r.feed(wire.data(), wire.size());
  ReplyPtr x(r.next());
  REQUIRE(x != nullptr);
  REQUIRE(x->kind == ReplyKind::array);
  REQUIRE(x->elements.size() == 3);
  CHECK_EQ(x->elements[0]->str, std::string("SET"));
  CHECK_EQ(x->elements[2]->str, bin);
}

CHECK_MAIN
