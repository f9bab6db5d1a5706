// RESP parsing: hiredis's redisReader with object functions that build core::Reply.
#pragma once

#include <cstddef>
#include <string>

#include "core/resp/reply.h"

struct redisReader;

namespace rcm::core {

class ReplyReader {
 public:
  ReplyReader();
  ~ReplyReader();
  ReplyReader(const ReplyReader &) = delete;
  ReplyReader &operator=(const ReplyReader &) = delete;

  void feed(const char *data, size_t len);
  // Next complete reply (caller owns it), nullptr when more bytes are needed.
  // Throws Error(Status::protocol) when the stream is not valid RESP.
  Reply *next();
  // Bytes buffered but not yet consumed by a complete reply.
  size_t buffered() const;

 private:
  redisReader *reader_;
};

}  // namespace rcm::core
