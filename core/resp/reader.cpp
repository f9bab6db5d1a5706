#include "core/resp/reader.h"

#include <hiredis/read.h>

#include <new>

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

ReplyReader::ReplyReader() : reader_(redisReaderCreateWithFunctions(&g_functions)) {
  if (reader_ == nullptr) throw std::bad_alloc();
}

ReplyReader::~ReplyReader() { redisReaderFree(reader_); }

void ReplyReader::feed(const char *data, size_t len) {
  if (redisReaderFeed(reader_, data, len) != REDIS_OK)
    throw Error(Status::protocol, std::string("reply parser: ") + reader_->errstr);
}

Reply *ReplyReader::next() {
  void *out = nullptr;
  if (redisReaderGetReply(reader_, &out) != REDIS_OK)
    throw Error(Status::protocol, std::string("malformed reply from server: ") + reader_->errstr);
  return static_cast<Reply *>(out);
}

size_t ReplyReader::buffered() const { return reader_->len - reader_->pos; }

}  // namespace rcm::core
