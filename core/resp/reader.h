// RESP parsing: hiredis's redisReader with object functions that build core::Reply.
// The commonest replies (a bulk string, nil, a status line), arriving whole while hiredis
// holds nothing, are read straight from the fed bytes instead: feeding and parsing them
// through hiredis cost about 300 instructions per GET, most of a pipelined GET's parse.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/resp/reply.h"

struct redisReader;

namespace rcm::core {

class ReplyReader {
 public:
  // max_reply_bytes: the largest reply accepted (0 = unlimited); see next().
  explicit ReplyReader(long long max_reply_bytes = 0);
  ~ReplyReader();
  ReplyReader(const ReplyReader &) = delete;
  ReplyReader &operator=(const ReplyReader &) = delete;

  void feed(const char *data, size_t len);
  // Next complete reply (caller owns it), nullptr when more bytes are needed.
  // Throws Error(Status::protocol) when the stream is not valid RESP, or when the reply
  // being read announces (a bulk length) or has grown beyond max_reply_bytes.
  Reply *next();
  // Bytes buffered but not yet consumed by a complete reply.
  size_t buffered() const;
  // Bytes fed so far of the reply not yet complete (its elements already parsed too).
  unsigned long long partial_bytes() const { return partial_; }

 private:
  void check_bound() const;
  size_t take_simple(const char *data, size_t len);
  void feed_hiredis(const char *data, size_t len);

  redisReader *reader_;
  std::vector<Reply *> ready_;  // complete replies take_simple read, before anything in reader_
  size_t ready_next_ = 0;       // the first of ready_ not handed out yet
  unsigned long long max_;
  unsigned long long partial_ = 0;
  // hiredis found no complete reply in what is buffered, and no CRLF came since: no
  // reply can complete before one does (every RESP item ends with CRLF), so next()
  // does not ask hiredis again. It would rescan an unfinished line from its start on
  // every call: a line that never ends would cost time quadratic in its length.
  bool waiting_crlf_ = false;
  bool in_bulk_body() const;
  bool last_was_cr_ = false;  // the last byte fed was '\r' (a CRLF may straddle feeds)
};

}  // namespace rcm::core
