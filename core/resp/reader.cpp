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

ReplyReader::~ReplyReader() { redisReaderFree(reader_); }

void ReplyReader::feed(const char *data, size_t len) {
  if (len == 0) return;
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
