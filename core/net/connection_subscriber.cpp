// A subscriber connection's side of the protocol: every message and confirmation goes to
// the push handler (whoever keeps the subscriptions tracks them by name, which also
// covers a server's unsolicited sunsubscribe when a slot moves away), and a
// subscribe-family request completes once the server confirmed each of its names.
// Anything else (a PING's ["pong", ""], an error) answers the request in front.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

#include "core/net/connection.h"
#include "core/net/pubsub_frames.h"
#include "core/resp/encoder.h"

namespace rcm::core {

namespace {

// Deeper than a subscriber connection is ever sent: left to the reader.
constexpr int kScanDepth = 8;

// The number ending a header line at p ("3\r\n" of "*3\r\n"); *next past its CRLF.
// 1 read, 0 incomplete, -1 not a plain number (at most 18 digits, an optional '-').
int read_number(const char *p, const char *end, long long *value, const char **next) {
  const bool neg = p < end && *p == '-';
  const char *digits = p + (neg ? 1 : 0);
  const char *q = digits;
  long long v = 0;
  for (; q < end && *q >= '0' && *q <= '9'; ++q) {
    if (q - digits == 18) return -1;
    v = v * 10 + (*q - '0');
  }
  if (q == end || q + 1 == end) return q == end || *q == '\r' ? 0 : -1;
  if (q == digits || q[0] != '\r' || q[1] != '\n') return -1;
  *value = neg ? -v : v;
  *next = q + 2;
  return 1;
}

// A simple string, error or integer line: *next past its CRLF. 1 or 0 (incomplete).
int skip_line(const char *p, const char *end, const char **next) {
  while (p < end) {
    const char *cr = static_cast<const char *>(std::memchr(p, '\r', static_cast<size_t>(end - p)));
    if (cr == nullptr || cr + 1 == end) return 0;
    if (cr[1] == '\n') {
      *next = cr + 2;
      return 1;
    }
    p = cr + 1;
  }
  return 0;
}

// One value at p: 1 (*next past it; *bulk its contents when it is a bulk string that is
// not nil, else left alone), 0 incomplete, -1 not for the scanner.
int scan_value(const char *p, const char *end, int depth, unsigned long long max_bulk, const char **next,
               std::string_view *bulk) {
  if (p == end) return 0;
  const char type = *p++;
  long long n = 0;
  int st = 0;
  switch (type) {
    case '+':
    case '-':
    case ':':
      return skip_line(p, end, next);
    case '$':
      if ((st = read_number(p, end, &n, &p)) <= 0) return st;
      if (n == -1) break;
      if (n < 0 || (max_bulk != 0 && static_cast<unsigned long long>(n) > max_bulk)) return -1;
      if (end - p < n + 2) return 0;
      if (p[n] != '\r' || p[n + 1] != '\n') return -1;
      if (bulk != nullptr) *bulk = std::string_view(p, static_cast<size_t>(n));
      p += n + 2;
      break;
    case '*':
      if (depth >= kScanDepth) return -1;
      if ((st = read_number(p, end, &n, &p)) <= 0) return st;
      if (n < -1) return -1;
      for (long long i = 0; i < n; ++i)
        if ((st = scan_value(p, end, depth + 1, max_bulk, &p, nullptr)) <= 0) return st;
      break;
    default:
      return -1;
  }
  *next = p;
  return 1;
}

// The common case, read in a row: a whole message push whose header is the server's
// usual one. 0 when it is anything else (incomplete, another shape): the general scan
// below decides then.
long long scan_message(const char *data, size_t len, unsigned long long max_bulk, PushFrame *msg) {
  struct Head {
    std::string_view bytes;
    int kind;  // as PushFrame::kind
    int bulks;
  };
  static constexpr Head kHeads[] = {{"*3\r\n$7\r\nmessage\r\n", 0, 2},
                                    {"*3\r\n$8\r\nsmessage\r\n", 2, 2},
                                    {"*4\r\n$8\r\npmessage\r\n", 1, 3}};
  for (const Head &h : kHeads) {
    if (len < h.bytes.size() || std::memcmp(data, h.bytes.data(), h.bytes.size()) != 0) continue;
    const char *p = data + h.bytes.size();
    const char *end = data + len;
    std::string_view el[3];
    for (int i = 0; i < h.bulks; ++i) {
      long long n = 0;
      if (p == end || *p != '$' || read_number(p + 1, end, &n, &p) <= 0 || n < 0) return 0;
      if ((max_bulk != 0 && static_cast<unsigned long long>(n) > max_bulk) || end - p < n + 2) return 0;
      if (p[n] != '\r' || p[n + 1] != '\n') return 0;
      el[i] = std::string_view(p, static_cast<size_t>(n));
      p += n + 2;
    }
    *msg = h.bulks == 3 ? PushFrame{h.kind, el[0], el[1], el[2]} : PushFrame{h.kind, {}, el[0], el[1]};
    return p - data;
  }
  return 0;
}

}  // namespace

long long scan_push_frame(const char *data, size_t len, unsigned long long max_bulk, PushFrame *msg, bool *is_msg) {
  *is_msg = false;
  const char *end = data + len;
  const char *p = data;
  if (len == 0) return 0;
  if (long long n = scan_message(data, len, max_bulk, msg)) {
    *is_msg = true;
    return n;
  }
  if (data[0] != '*') {
    int st = scan_value(p, end, 0, max_bulk, &p, nullptr);
    return st > 0 ? p - data : st;
  }
  long long n = 0;
  int st = read_number(p + 1, end, &n, &p);
  if (st <= 0) return st;
  if (n < -1) return -1;
  std::string_view el[4];
  long long bulks = 0;  // leading elements that are bulk strings
  for (long long i = 0; i < n; ++i) {
    std::string_view b;
    if ((st = scan_value(p, end, 1, max_bulk, &p, &b)) <= 0) return st;
    if (bulks == i && i < 4 && b.data() != nullptr) el[bulks++] = b;
  }
  if (bulks == n && n == 3 && (el[0] == "message" || el[0] == "smessage")) {
    *msg = PushFrame{el[0][0] == 's' ? 2 : 0, {}, el[1], el[2]};
    *is_msg = true;
  } else if (bulks == n && n == 4 && el[0] == "pmessage") {
    *msg = PushFrame{1, el[1], el[2], el[3]};
    *is_msg = true;
  }
  return p - data;
}

int confirmation_kind_of_command(const std::string &command) {
  std::string lower(command);
  for (char &ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (int i = 0; i < 6; ++i)
    if (lower == kConfirmations[i]) return i;
  return -1;
}

void Connection::send_subscription(const std::string &command, const std::vector<std::string> &names,
                                   Request::DoneFn done, void *ctx, size_t tag) {
  const int kind = confirmation_kind_of_command(command);
  auto due = std::make_unique<std::multiset<std::string>>();
  std::vector<const char *> argv{command.c_str()};
  std::vector<size_t> lens{command.size()};
  for (const std::string &n : names) {
    argv.push_back(n.data());
    lens.push_back(n.size());
    due->insert(static_cast<char>('0' + kind) + n);
  }
  auto *r = new Request();
  encode_command(r->payload, static_cast<int>(argv.size()), argv.data(), lens.data());
  r->internal = true;
  r->pinned = true;
  r->done = done;
  r->ctx = ctx;
  r->index = tag;
  r->created = Clock::now();
  r->sub_due = std::move(due);
  send(r);
}

// A subscriber connection's bytes, while the reply reader holds nothing: each message
// push goes to the frame handler straight from the bytes (no Reply tree, no copy before
// the one the handler makes); anything else (confirmations, a PING's answer, errors) is
// handed to the reader one whole value at a time, so the order is kept and the reader is
// empty again after it. An incomplete value waits in push_carry_ for the next slice.
bool Connection::consume_pushes(const char *data, size_t len) {
  const unsigned long long max = cfg_.max_reply_bytes > 0 ? static_cast<unsigned long long>(cfg_.max_reply_bytes) : 0;
  if (!push_carry_.empty()) {
    push_carry_.append(data, len);
    data = push_carry_.data();
    len = push_carry_.size();
  }
  size_t off = 0;
  while (off < len && state_ != State::closed) {
    PushFrame f;
    bool is_msg = false;
    long long size = scan_push_frame(data + off, len - off, max, &f, &is_msg);
    if (size == 0 && (max == 0 || len - off <= max)) break;  // wait for the rest
    const size_t n = size > 0 ? static_cast<size_t>(size) : len - off;
    if (size > 0 && is_msg && (max == 0 || n <= max)) {
      push_frame_fn_(push_ctx_, f);
    } else {
      // The reader takes it, and fails the connection with its usual message when it
      // is malformed or over max_reply_bytes.
      try {
        reader_->feed(data + off, n);
      } catch (const Error &e) {
        fail(e.status(), std::string("connection to ") + target_.endpoint.str() + ": " + e.what());
        return false;
      }
      parse_replies();
    }
    off += n;
  }
  if (state_ == State::closed) return false;
  if (data == push_carry_.data())
    push_carry_.erase(0, off);
  else
    push_carry_.assign(data + off, len - off);
  // What one large message grew it to is not kept for the small ones after it.
  constexpr size_t kKeptCarry = 64 * 1024;
  if (push_carry_.empty() && push_carry_.capacity() > kKeptCarry) std::string().swap(push_carry_);
  return true;
}

// True when the reply was a push (handed on); false when it answers the request in front.
bool Connection::subscriber_reply(Reply *reply) {
  if (is_push_message(reply)) {
    if (push_fn_) push_fn_(push_ctx_, reply);
    else delete reply;
    return true;
  }
  const int kind = confirmation_kind(reply);
  if (kind < 0) return false;
  // The server answers in order: a confirmation of the request in front's names is its
  // answer; any other (an unsolicited sunsubscribe) only goes to the handler.
  Request *front = inflight_.empty() ? nullptr : inflight_.front();
  bool finished = false;
  const Reply *name = reply->elements[1];
  if (front != nullptr && front->sub_due && name != nullptr) {
    auto it = front->sub_due->find(std::string(1, static_cast<char>('0' + kind)) + name->str);
    if (it != front->sub_due->end()) {
      front->sub_due->erase(it);
      finished = front->sub_due->empty();
    }
  }
  if (push_fn_) push_fn_(push_ctx_, reply);
  else delete reply;
  if (finished && !inflight_.empty() && inflight_.front() == front) {
    inflight_.pop_front();
    request_complete(front, Status::ok, nullptr);
    request_release(front);
  }
  return true;
}

}  // namespace rcm::core
