#include "core/resp/reader.h"

#include <hiredis/read.h>

#include <cstring>
#include <new>
#include <string>

namespace rcm::core {

namespace {

// Elements are attached to their parent as the reader produces them. Arrays are not
// pre-sized from the announced count: a hostile "*2147483647" must not allocate 16 GiB.
void *attach(const redisReadTask *task, Reply *r) {
  if (task->parent != nullptr) {
    auto *parent = static_cast<Reply *>(task->parent->obj);
    size_t idx = static_cast<size_t>(task->idx);
    if (parent->elements.size() <= idx) parent->elements.resize(idx + 1, nullptr);
    parent->elements[idx] = r;
  }
  return r;
}

void *create_string(const redisReadTask *task, char *str, size_t len) {
  auto *r = new (std::nothrow) Reply(static_cast<ReplyKind>(task->type));
  if (r == nullptr) return nullptr;
  r->str.assign(str, len);
  return attach(task, r);
}

void *create_array(const redisReadTask *task, int elements) {
  auto *r = new (std::nothrow) Reply(ReplyKind::array);
  if (r == nullptr) return nullptr;
  if (elements > 0) r->elements.reserve(elements < 4096 ? static_cast<size_t>(elements) : 4096);
  return attach(task, r);
}

void *create_integer(const redisReadTask *task, long long value) {
  auto *r = new (std::nothrow) Reply(ReplyKind::integer);
  if (r == nullptr) return nullptr;
  r->integer = value;
  return attach(task, r);
}

void *create_nil(const redisReadTask *task) {
  auto *r = new (std::nothrow) Reply(ReplyKind::nil);
  if (r == nullptr) return nullptr;
  return attach(task, r);
}

// hiredis frees only the root of a partial reply on error; children are owned by it.
void free_object(void *obj) { delete static_cast<Reply *>(obj); }

redisReplyObjectFunctions g_functions = {create_string, create_array, create_integer, create_nil,
                                         free_object};

}  // namespace

ReplyReader::ReplyReader(long long max_reply_bytes)
    : reader_(redisReaderCreateWithFunctions(&g_functions)),
      max_(max_reply_bytes > 0 ? static_cast<unsigned long long>(max_reply_bytes) : 0) {
  if (reader_ == nullptr) throw std::bad_alloc();
}

ReplyReader::~ReplyReader() {
  for (size_t i = ready_next_; i < ready_.size(); ++i) delete ready_[i];
  redisReaderFree(reader_);
}

void ReplyReader::feed(const char *data, size_t len) {
  if (len == 0) return;
  // Only where hiredis holds nothing (no unfinished reply) can a reply start at data.
  if (reader_->ridx < 0 && reader_->pos == reader_->len) {
    waiting_crlf_ = last_was_cr_ = false;  // nothing unfinished to wait for
    size_t used = take_simple(data, len);
    data += used;
    len -= used;
    if (len == 0) return;
  }
  feed_hiredis(data, len);
}

namespace {

// The length line of a bulk string at p (after the '$') as hiredis accepts it (string2ll):
// digits without a leading zero or sign, or "-1", then CRLF. Sets *n and returns where
// the line ends (after the CRLF); nullptr for anything else, or a line not all there
// (hiredis then decides, and reports what it rejects).
const char *bulk_length(const char *p, const char *end, long long *n) {
  if (end - p >= 4 && p[0] == '-' && p[1] == '1' && p[2] == '\r' && p[3] == '\n') {
    *n = -1;
    return p + 4;
  }
  const char *const start = p;
  long long v = 0;
  for (; p < end && p - start < 18 && *p >= '0' && *p <= '9'; ++p) v = v * 10 + (*p - '0');  // cannot overflow
  const long long digits = p - start;
  if (digits == 0 || (start[0] == '0' && digits > 1)) return nullptr;
  if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return nullptr;  // also a 19th digit
  *n = v;
  return p + 2;
}

}  // namespace

// Reads complete "$<n>\r\n<n bytes>\r\n", "$-1\r\n" and "+<line>\r\n" replies from the
// front of data into ready_, and returns the bytes they took. It stops at the first
// other or unfinished item, or one over max_reply_bytes: hiredis reads (or rejects) that
// and whatever follows, exactly as it would have.
size_t ReplyReader::take_simple(const char *data, size_t len) {
  const char *p = data;
  const char *const end = data + len;
  while (p < end && (*p == '$' || *p == '+')) {
    // First where the item ends and what it holds, then one bound for every kind (the
    // bound once checked per kind missed the nil), then the reply.
    ReplyKind kind;
    const char *text = nullptr, *next = nullptr;
    size_t text_len = 0;
    if (*p == '+') {
      const char *nl = static_cast<const char *>(std::memchr(p + 1, '\n', static_cast<size_t>(end - p - 1)));
      if (nl == nullptr || nl[-1] != '\r' || nl - 1 == p) break;
      if (std::memchr(p + 1, '\r', static_cast<size_t>(nl - 1 - (p + 1))) != nullptr) break;  // hiredis's line ends at the first CRLF
      kind = ReplyKind::status;
      text = p + 1;
      text_len = static_cast<size_t>(nl - 1 - text);
      next = nl + 1;
    } else {
      long long n = 0;
      const char *body = bulk_length(p + 1, end, &n);
      if (body == nullptr) break;
      if (n < 0) {
        kind = ReplyKind::nil;
        next = body;
      } else {
        if (static_cast<unsigned long long>(end - body) < static_cast<unsigned long long>(n) + 2) break;
        if (body[n] != '\r' || body[n + 1] != '\n') break;
        kind = ReplyKind::string;
        text = body;
        text_len = static_cast<size_t>(n);
        next = body + n + 2;
      }
    }
    if (max_ != 0 && static_cast<unsigned long long>(next - p) > max_) break;
    Reply *r = new (std::nothrow) Reply(kind);
    if (r == nullptr) break;
    if (text != nullptr) r->str.assign(text, text_len);
    try {
      ready_.push_back(r);
    } catch (const std::bad_alloc &) {
      delete r;
      throw Error(Status::protocol, "reply parser: out of memory");
    }
    p = next;
  }
  return static_cast<size_t>(p - data);
}

void ReplyReader::feed_hiredis(const char *data, size_t len) {
  if (redisReaderFeed(reader_, data, len) != REDIS_OK)
    throw Error(Status::protocol, std::string("reply parser: ") + reader_->errstr);
  partial_ += len;
  if (waiting_crlf_) {
    bool crlf = last_was_cr_ && data[0] == '\n';
    for (const char *p = data; !crlf && (p = static_cast<const char *>(std::memchr(p, '\n', len - (p - data))));) {
      crlf = p > data && p[-1] == '\r';
      ++p;
    }
    // Where the next item's type byte is still unread (between replies, or between the
    // elements of an array), hiredis checks it at once: a bad type byte fails now, as it
    // would have in one whole feed, whatever follows it.
    waiting_crlf_ = !crlf && !(reader_->ridx < 0 || reader_->rstack[reader_->ridx].type < 0);
  }
  last_was_cr_ = data[len - 1] == '\r';
}

Reply *ReplyReader::next() {
  if (ready_next_ < ready_.size()) {
    Reply *r = ready_[ready_next_++];
    if (ready_next_ == ready_.size()) {
      ready_.clear();  // keeps its capacity
      ready_next_ = 0;
    }
    return r;
  }
  if (reader_->ridx < 0 && reader_->pos == reader_->len) return nullptr;  // hiredis holds nothing
  void *out = nullptr;
  if (!waiting_crlf_ && redisReaderGetReply(reader_, &out) != REDIS_OK)
    throw Error(Status::protocol, std::string("malformed reply from server: ") + reader_->errstr);
  if (out == nullptr) {
    waiting_crlf_ = !in_bulk_body();
    if (max_ != 0) check_bound();
    return nullptr;
  }
  // What is left belongs to the replies after this one; a reply that arrived whole in
  // one slice is held to the same bound as one that is still arriving.
  unsigned long long size = partial_ - buffered();
  partial_ = buffered();
  if (max_ != 0 && size > max_) {
    delete static_cast<Reply *>(out);
    throw Error(Status::protocol, "reply too large: " + std::to_string(size) + " bytes, more than max_reply_bytes (" +
                                      std::to_string(max_) + ")");
  }
  return static_cast<Reply *>(out);
}

// hiredis is inside a bulk string whose length line it has read: what completes it is a
// byte count, not a CRLF (hiredis skips the two bytes after the payload without looking),
// and asking again costs only a reread of that short line.
bool ReplyReader::in_bulk_body() const {
  if (reader_->ridx < 0 || reader_->rstack[reader_->ridx].type != REDIS_REPLY_STRING) return false;
  size_t left = reader_->len - reader_->pos;
  return std::memchr(reader_->buf + reader_->pos, '\n', left < 24 ? left : 24) != nullptr;
}

// Without a bound a server (or anyone on the path) announcing "$2147483647" and
// trickling bytes grows the client until it dies. hiredis waits for a whole bulk before
// it consumes it, so the bulk it is stuck on starts at pos (after the '$'): its length
// header says at once whether it can fit; the bytes fed for the unfinished reply catch
// every other shape (many elements, nested arrays).
void ReplyReader::check_bound() const {
  auto too_big = [this](unsigned long long n, const char *what) {
    throw Error(Status::protocol, std::string("reply too large: ") + what + " " + std::to_string(n) +
                                      " bytes, more than max_reply_bytes (" + std::to_string(max_) + ")");
  };
  if (partial_ > max_) too_big(partial_, "already read");
  if (reader_->ridx < 0 || reader_->rstack[reader_->ridx].type != REDIS_REPLY_STRING) return;
  unsigned long long announced = 0;
  for (size_t i = reader_->pos; i < reader_->len && i < reader_->pos + 19; ++i) {
    char c = reader_->buf[i];
    if (c < '0' || c > '9') {
      if (c == '\r' && announced > max_) too_big(announced, "announced");
      return;
    }
    announced = announced * 10 + static_cast<unsigned>(c - '0');
  }
}

size_t ReplyReader::buffered() const { return reader_->len - reader_->pos; }

}  // namespace rcm::core
