#include "core/net/connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/common/coarse_clock.h"
#include "core/common/guard.h"
#include "core/net/io_thread.h"
#include "core/net/pubsub_frames.h"
#include "core/net/raw_io.h"
#include "core/net/tls.h"
#include "core/request/stats.h"
#include "core/resp/encoder.h"

namespace rcm::core {

LeaseInbox::~LeaseInbox() {
  for (Reply *r : replies) delete r;
}

void LeaseInbox::push(Reply *r) {
  {
    std::lock_guard<std::mutex> lk(mu);
    replies.push_back(r);
  }
  cv.notify_all();
}

void LeaseInbox::close() {
  {
    std::lock_guard<std::mutex> lk(mu);
    closed = true;
  }
  cv.notify_all();
}

namespace {

enum : size_t { kTagNone = 0, kTagAuth = 1, kTagSelect = 2, kTagSetName = 3 };

// Requests handed back to the pool travel as they came: the consecutive members of one
// unit (request.h) become one queued unit again, so they leave together and in order.
void pack_units(std::vector<Request *> &resend) {
  std::vector<Request *> out;
  for (size_t i = 0; i < resend.size();) {
    size_t j = i + 1;
    while (resend[i]->unit != 0 && j < resend.size() && resend[j]->unit == resend[i]->unit) ++j;
    if (j == i + 1) {
      out.push_back(resend[i]);
    } else {
      std::vector<Request *> unit(resend.begin() + static_cast<std::ptrdiff_t>(i),
                                  resend.begin() + static_cast<std::ptrdiff_t>(j));
      if (Request *head = unit_pack(unit)) out.push_back(head);
    }
    i = j;
  }
  resend.swap(out);
}

}  // namespace

Connection::Connection(const IoContext &ctx, const ConnectionTarget &target, ConnectionListener &listener, Role role)
    : ctx_(ctx), target_(target), listener_(listener), cfg_(ctx.cfg), role_(role) {
  if (role_ == Role::lease) inbox_ = std::make_shared<LeaseInbox>();
}

Connection::~Connection() {
  if (flush_wanted_) listener_.forget_flush(this);
  close_socket();
  if (connect_timer_) event_free(connect_timer_);
  if (reconnect_timer_) event_free(reconnect_timer_);
  // Anything still queued here has already been completed by fail()/shutdown().
  for (Request *r : inflight_) request_release(r);
  if (inbox_) inbox_->close();
}

void Connection::close_socket() {
  // The server forgets what a closed connection read: its invalidations will never come.
  if (tracking_sent_ != 0 && target_.tracking != nullptr) target_.tracking->reset();
  tracking_sent_ = tracking_ok_ = 0;
  if (bev_ != nullptr) {
    bufferevent_free(bev_);
    bev_ = nullptr;
  }
  if (read_ev_) {
    event_free(read_ev_);
    read_ev_ = nullptr;
  }
  if (write_ev_) {
    event_free(write_ev_);
    write_ev_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  out_.clear();
  out_sent_ = 0;
  held_ = false;
  if (connect_timer_) event_del(connect_timer_);
  if (resolving_) {  // the lookup's result, when it comes, is dropped
    resolving_ = false;
    ++resolve_gen_;
  }
}

void Connection::on_socket_writable(int fd, short, void *arg) {
  auto *c = static_cast<Connection *>(arg);
  if (c->state_ == State::connecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      c->attempt_failed(Status::connection, std::strerror(err));
      return;
    }
    event_add(c->read_ev_, nullptr);
    c->on_connected();
    return;
  }
  c->flush();
}

// The socket is read in slices of the engine's read buffer, each parsed before the next
// is read: hiredis moves its unconsumed bytes down as it consumes them, so a whole
// backlog fed at once costs time quadratic in its size. At most kReadSlices slices, and
// no slice started after kReadBudget, per wake-up, then back to the loop (the event is
// level-triggered and fires again): one large reply must not keep every other socket
// and timer of this thread waiting. A slice of small array elements costs far more
// than its bytes (an object each: tens of ms on a loaded machine, more under ASan), so
// counting slices alone let a flood of them hold deadlines back by a second.
void Connection::on_socket_readable(int fd, short, void *arg) {
  constexpr int kReadSlices = 16;
  constexpr auto kReadBudget = std::chrono::milliseconds(2);
  auto *c = static_cast<Connection *>(arg);
  if (c->awaits_replies()) c->ctx_.io.note_activity();
  char *buf = c->ctx_.read_buffer;
  const size_t cap = c->ctx_.read_buffer_size;
  Clock::time_point woke;  // the first slice's read: the budget counts from it
  for (int slice = 0; slice < kReadSlices && c->state_ != State::closed;) {
    ssize_t n = raw_read(fd, buf, cap);
    if (n > 0) {
      c->last_activity_ = Clock::now();
      if (slice == 0) woke = c->last_activity_;
      if (!c->consume(buf, static_cast<size_t>(n))) return;
      if (static_cast<size_t>(n) < cap) return;
      if (Clock::now() - woke > kReadBudget) return;
      ++slice;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EOF or a socket error. Replies that arrived before it were parsed already.
    std::string why = n == 0 ? "connection closed by the server" : std::strerror(errno);
    if (c->state_ != State::closed)
      c->fail(Status::connection, "connection to " + c->target_.endpoint.str() + " lost: " + why);
    return;
  }
}

// Feeds one slice and hands out the replies it completes. False when the connection
// closed meanwhile.
bool Connection::consume(const char *data, size_t len) {
  if (role_ == Role::subscriber && push_frame_fn_ != nullptr && reader_->partial_bytes() == 0) {
    if (!consume_pushes(data, len)) return false;
  } else {
    try {
      reader_->feed(data, len);
    } catch (const Error &e) {
      fail(e.status(), std::string("connection to ") + target_.endpoint.str() + ": " + e.what());
      return false;
    }
    parse_replies();
  }
  if (state_ == State::closed) return false;
  // Nobody waits for the reply being read any more (its request timed out): rather than
  // read and hold a large one, drop the connection; the requests behind it are resent
  // or reported uncertain as for any broken connection.
  constexpr unsigned long long kAbandonBytes = 1024 * 1024;
  if (!inflight_.empty() && inflight_.front()->completed && reader_->partial_bytes() > kAbandonBytes) {
    fail(Status::timeout, "connection to " + target_.endpoint.str() + ": the reply to a request that timed out is over " +
                              std::to_string(kAbandonBytes) + " bytes; connection closed instead of reading it");
    return false;
  }
  return true;
}

size_t Connection::unsent() const {
  return bev_ ? evbuffer_get_length(bufferevent_get_output(bev_)) : out_.size() - out_sent_;
}

void Connection::flush() {
  flush_wanted_ = false;
  held_ = false;
  if (fd_ < 0 || state_ == State::connecting) return;
  while (out_sent_ < out_.size()) {
    ssize_t n = raw_send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      out_.erase(0, out_sent_);  // once per kernel buffer's worth
      out_sent_ = 0;
      event_add(write_ev_, nullptr);  // the kernel buffer is full: resume when writable
      return;
    }
    fail(Status::connection, "connection to " + target_.endpoint.str() + " lost while writing: " +
                                 (n < 0 ? std::strerror(errno) : "no progress"));
    return;
  }
  // All written. A large command's buffer is not kept for the connection's lifetime.
  constexpr size_t kKeepBytes = 64 * 1024;
  if (out_.capacity() > kKeepBytes) std::string().swap(out_);
  out_.clear();
  out_sent_ = 0;
}

void Connection::schedule_reconnect(int delay_ms) {
  if (reconnect_pending_ || state_ != State::closed) return;
  reconnect_pending_ = true;
  if (reconnect_timer_ == nullptr)
    reconnect_timer_ = evtimer_new(ctx_.io.base(), RCM_GUARDED(Connection::on_reconnect_timer), this);
  timeval tv{delay_ms / 1000, (delay_ms % 1000) * 1000};
  evtimer_add(reconnect_timer_, &tv);
}

void Connection::on_reconnect_timer(int, short, void *arg) {
  auto *c = static_cast<Connection *>(arg);
  c->reconnect_pending_ = false;
  c->target_.stats->reconnects++;
  c->connect();
}

namespace {

// A TLS 1.3 server that refuses the client's certificate says why in an alert sent after
// the client's side of the handshake is done; a write (AUTH, HELLO) that meets the closed
// connection first fails with ECONNRESET and no reason, though the alert was received.
// Reading it gives the reason ("alert unknown ca", "alert certificate required").
std::string peer_alert(SSL *ssl) {
  ERR_clear_error();
  char buf[512];
  if (SSL_read(ssl, buf, sizeof(buf)) > 0) return "";
  return ERR_peek_error() != 0 ? tls_error_string() : "";
}

}  // namespace

std::string Connection::describe_socket_error(short what) {
  std::string msg;
  SSL *ssl = bev_ ? bufferevent_openssl_get_ssl(bev_) : nullptr;
  if (ssl != nullptr) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) return std::string("TLS: certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  unsigned long ssl_err = bev_ ? bufferevent_get_openssl_error(bev_) : 0;
  std::string queued = ERR_peek_error() != 0 ? tls_error_string() : "";
  if (ssl_err != 0 || !queued.empty()) {
    char buf[256];
    msg = "TLS: ";
    const size_t no_reason = msg.size();
    while (ssl_err != 0) {
      if (ERR_GET_LIB(ssl_err) != 0) {  // libevent also stores bare SSL_get_error() codes
        ERR_error_string_n(ssl_err, buf, sizeof(buf));
        msg += std::string(buf) + "; ";
      }
      ssl_err = bufferevent_get_openssl_error(bev_);
    }
    if (msg.size() == no_reason && queued.empty() && ssl != nullptr && state_ == State::handshaking) queued = peer_alert(ssl);
    msg += queued.empty() ? "handshake failed" : queued;
  } else if (what & BEV_EVENT_EOF) {
    msg = ssl ? "connection closed by the server during TLS (is it a TLS port?)" : "connection closed by the server";
  } else {
    int err = EVUTIL_SOCKET_ERROR();
    msg = err ? std::strerror(err) : "socket error";
  }
  return msg;
}

void Connection::on_event_cb(bufferevent *, short what, void *arg) {
  auto *c = static_cast<Connection *>(arg);
  if (what & BEV_EVENT_CONNECTED) {
    c->on_connected();
    return;
  }
  if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
    std::string msg = c->describe_socket_error(what);
    bool tls_failure = c->bev_ && msg.compare(0, 4, "TLS:") == 0;
    const std::string where = c->target_.endpoint.str();
    if (c->state_ == State::connecting && !tls_failure) {
      c->attempt_failed(Status::connection, msg);
    } else if (c->state_ == State::connecting) {
      c->connect_failed(Status::tls, "connect to " + where + ": " + msg);
    } else if (c->state_ == State::handshaking) {
      c->connect_failed(tls_failure ? Status::tls : Status::connection, "handshake with " + where + ": " + msg);
    } else {
      c->fail(Status::connection, "connection to " + where + " lost: " + msg);
    }
  }
}

void Connection::on_connected() {
  state_ = State::handshaking;
  last_activity_ = Clock::now();
  // The handshake has what is left of connect_timeout_ms (not this address's share).
  arm_connect_timer(std::chrono::duration_cast<std::chrono::milliseconds>(connect_deadline_ - last_activity_).count());
  // AUTH, SELECT and CLIENT SETNAME go out together; the connection is ready when the
  // last of them answers.
  handshake_left_ = 0;
  const bool sentinel_node = target_.sentinel;
  const std::string &user = sentinel_node ? cfg_.sentinel_username : cfg_.username;
  const std::string &pass = sentinel_node ? cfg_.sentinel_password : cfg_.password;
  if (!pass.empty()) {
    if (!user.empty()) {
      const char *argv[] = {"AUTH", user.c_str(), pass.c_str()};
      size_t lens[] = {4, user.size(), pass.size()};
      send_internal(3, argv, lens, &Connection::on_handshake_reply, kTagAuth);
    } else {
      const char *argv[] = {"AUTH", pass.c_str()};
      size_t lens[] = {4, pass.size()};
      send_internal(2, argv, lens, &Connection::on_handshake_reply, kTagAuth);
    }
  }
  if (!sentinel_node && cfg_.db != 0) {
    std::string db = std::to_string(cfg_.db);
    const char *argv[] = {"SELECT", db.c_str()};
    size_t lens[] = {6, db.size()};
    send_internal(2, argv, lens, &Connection::on_handshake_reply, kTagSelect);
  }
  if (!cfg_.client_name.empty()) {
    const char *argv[] = {"CLIENT", "SETNAME", cfg_.client_name.c_str()};
    size_t lens[] = {6, 7, cfg_.client_name.size()};
    send_internal(3, argv, lens, &Connection::on_handshake_reply, kTagSetName);
  }
  if (target_.readonly) {
    const char *argv[] = {"READONLY"};
    size_t lens[] = {8};
    send_internal(1, argv, lens, &Connection::on_handshake_reply);
  }
  if (handshake_left_ == 0) on_ready();
}

void Connection::send_internal(int argc, const char *const *argv, const size_t *argvlen, Request::DoneFn done,
                               size_t tag) {
  if (done == &Connection::on_handshake_reply) ++handshake_left_;
  send_request(argc, argv, argvlen, done, this, tag);
}

void Connection::send_request(int argc, const char *const *argv, const size_t *argvlen, Request::DoneFn done,
                              void *ctx, size_t tag) {
  auto *r = new Request();
  r->index = tag;
  encode_command(r->payload, argc, argv, argvlen);
  r->internal = true;
  r->pinned = true;
  r->done = done;
  r->ctx = ctx;
  r->created = Clock::now();
  send(r);
}

// A read whose reply may be cached goes after CLIENT TRACKING on this socket, sent once
// per tracking generation; r->track_gen says under which (0: not tracked, not stored).
// gen is read on both sides of redirect, so a generation is never paired with an id
// from another one.
void Connection::stamp_tracking(Request *r) {
  TrackingTarget &t = *target_.tracking;
  const uint64_t gen = t.gen.load(std::memory_order_acquire);
  const long long id = t.redirect.load(std::memory_order_acquire);
  r->track_gen = 0;
  if (id == 0 || t.gen.load(std::memory_order_acquire) != gen) return;
  if (tracking_sent_ != gen) {
    tracking_sent_ = gen;
    const std::string ids = std::to_string(id);
    const char *argv[] = {"CLIENT", "TRACKING", "on", "REDIRECT", ids.c_str()};
    size_t lens[] = {6, 8, 2, 8, ids.size()};
    send_internal(5, argv, lens, &Connection::on_tracking_reply, gen);
  }
  r->track_gen = gen;
}

void Connection::on_tracking_reply(Request *r, Status status, Reply *reply) {
  auto *c = static_cast<Connection *>(r->ctx);
  std::unique_ptr<Reply> owned(reply);
  if (status == Status::ok && reply != nullptr && !reply->is_error() && c->tracking_sent_ == r->index)
    c->tracking_ok_ = r->index;
}

void Connection::on_handshake_reply(Request *r, Status status, Reply *reply) {
  auto *c = static_cast<Connection *>(r->ctx);
  std::unique_ptr<Reply> owned(reply);
  if (c->state_ != State::handshaking) return;  // failing already
  const bool is_auth = r->index == kTagAuth;
  const bool is_select = r->index == kTagSelect;
  const bool is_setname = r->index == kTagSetName;
  if (status != Status::ok) {
    if (c->handshake_status_ == Status::ok) {
      c->handshake_status_ = status;
      c->handshake_error_ = reply ? std::string(reply->str) : "handshake failed";
    }
  } else if (reply && reply->is_error() && !is_setname) {
    if (c->handshake_status_ == Status::ok) {
      const std::string where = c->target_.endpoint.str();
      if (is_auth) {
        c->handshake_status_ = Status::auth;
        c->handshake_error_ = "AUTH to " + where + " failed: " + reply->str;
      } else if (is_select) {
        c->handshake_status_ = Status::config;
        c->handshake_error_ = "db: SELECT " + std::to_string(c->cfg_.db) + " on " + where + " failed: " + reply->str;
      } else {
        c->handshake_status_ = Status::connection;
        c->handshake_error_ = "handshake with " + where + " failed: " + reply->str;
      }
    }
  } else if (reply && reply->is_error() && is_setname) {
    // NOAUTH on CLIENT SETNAME means the server wants a password we did not give.
    if (reply->str.compare(0, 6, "NOAUTH") == 0 && c->handshake_status_ == Status::ok) {
      c->handshake_status_ = Status::auth;
      c->handshake_error_ = "AUTH required by " + c->target_.endpoint.str() + ": " + reply->str;
    }
  }
  if (--c->handshake_left_ > 0) return;
  if (c->handshake_status_ != Status::ok) {
    c->connect_failed(c->handshake_status_, c->handshake_error_);
    return;
  }
  c->on_ready();
}

void Connection::on_ready() {
  if (connect_timer_) event_del(connect_timer_);
  state_ = State::ready;
  failures_ = 0;
  last_activity_ = last_reply_ = Clock::now();
  listener_.on_connection_ready(this);
}

void Connection::connect_failed(Status why, const std::string &message) {
  State was = state_;
  close_socket();
  state_ = State::closed;
  std::deque<Request *> inflight;
  inflight.swap(inflight_);
  std::vector<Request *> resend;
  for (Request *r : inflight) {
    if (r->internal) {
      request_fail(r, why, message);
      request_release(r);
    } else {
      resend.push_back(r);  // not answered while connecting: never reached a ready server
    }
  }
  (void)was;
  pack_units(resend);
  ++failures_;
  target_.stats->connect_failures++;
  listener_.on_connection_down(this, why, message, resend, false);
}

void Connection::send(Request *r) {
  if (r->track && target_.tracking != nullptr && role_ == Role::shared) stamp_tracking(r);
  if (inflight_.empty()) awaiting_since_ = coarse_now();  // for the health check's ms-scale timeouts
  r->offset = bytes_queued_;
  bytes_queued_ += r->payload.size();
  ++r->attempts;
  r->answered = {};  // a resend after a refusal (MOVED, TRYAGAIN...) waits for its own reply
  if (bev_ != nullptr)
    evbuffer_add(bufferevent_get_output(bev_), r->payload.data(), r->payload.size());
  else
    out_.append(r->payload.data(), r->payload.size());
  inflight_.push_back(r);
  if (fd_ >= 0 && !flush_wanted_) {
    if (should_hold()) {
      held_ = true;
    } else {
      flush_wanted_ = true;
      listener_.want_flush(this);
    }
  }
  if (role_ == Role::lease && !r->internal) track_lease_state(r);
}

void Connection::track_lease_state(const Request *r) {
  uint32_t f = r->cmd.flags;
  if (f & kCmdMulti) in_multi_ = true;
  if (f & kCmdExecEnd) in_multi_ = watching_ = false;
  if (f & kCmdWatch) watching_ = true;
  if (f & kCmdUnwatch) watching_ = false;
  if (f & kCmdSubscribe) subscribed_ = true;
  if (f & kCmdSelect) db_changed_ = true;
  if (f & kCmdUnclean) unclean_ = true;
}

void Connection::on_read_cb(bufferevent *, void *arg) { static_cast<Connection *>(arg)->on_read(); }

void Connection::on_read() {
  if (awaits_replies()) ctx_.io.note_activity();
  evbuffer *in = bufferevent_get_input(bev_);
  if (evbuffer_get_length(in) == 0) return;
  last_activity_ = Clock::now();
  // What the TLS bufferevent read in one go (bounded by libevent), fed in slices as the
  // plain path does (see on_socket_readable).
  char *buf = ctx_.read_buffer;
  while (state_ != State::closed && evbuffer_get_length(in) > 0) {
    int n = evbuffer_remove(in, buf, ctx_.read_buffer_size);
    if (n <= 0 || !consume(buf, static_cast<size_t>(n))) return;
  }
}

// Reply-clocked writes: while a written batch waits for its replies, what a shared
// connection is given meanwhile is held (up to kHoldBytes) and goes out in one write
// when replies come back. The server answers in order, so the held requests lose at
// most the time the batch ahead of them takes; in exchange the server reads many
// commands per wake-up instead of one (see bench/README.md).
bool Connection::should_hold() const {
  constexpr size_t kHoldBytes = 32 * 1024;
  if (role_ != Role::shared || state_ != State::ready || inflight_.size() < 2) return false;
  size_t unsent = out_.size() - out_sent_;
  if (unsent >= kHoldBytes) return false;
  // The oldest request (the front) was written when fewer bytes are unsent than were
  // queued after its offset.
  return inflight_.front()->offset < bytes_queued_ - unsent;
}

void Connection::parse_replies() {
  bool answered = false;
  try {
    while (state_ != State::closed) {
      Reply *reply = reader_->next();
      if (reply == nullptr) break;
      answered = true;
      handle_reply(reply);
    }
  } catch (const Error &e) {
    fail(e.status(), std::string("connection to ") + target_.endpoint.str() + ": " + e.what());
    return;
  }
  if (answered && held_ && state_ != State::closed && !flush_wanted_) {
    held_ = false;
    flush_wanted_ = true;
    listener_.want_flush(this);
  }
}

void Connection::send_command(int argc, const char *const *argv, const size_t *argvlen) {
  if (role_ == Role::subscriber && argc > 1 && confirmation_kind_of_command(std::string(argv[0], argvlen[0])) >= 0) {
    // Answered by one confirmation per name, which the push handler sees (see
    // connection_subscriber.cpp).
    std::vector<std::string> names;
    for (int i = 1; i < argc; ++i) names.emplace_back(argv[i], argvlen[i]);
    send_subscription(std::string(argv[0], argvlen[0]), names, &Connection::on_ignore_reply, this);
    return;
  }
  send_internal(argc, argv, argvlen, &Connection::on_ignore_reply);
}

void Connection::handle_reply(Reply *reply) {
  // A subscriber's pushes are not replies (and a clock read per message is not free).
  if (role_ == Role::subscriber && subscriber_reply(reply)) return;
  last_reply_ = last_activity_;  // set by the read that completed it (consume's callers)
  if (role_ == Role::lease && lease_inbox_bound(reply)) {
    inbox_->push(reply);
    return;
  }
  if (inflight_.empty()) {
    delete reply;
    fail(Status::protocol, "connection to " + target_.endpoint.str() + ": a reply arrived with no request waiting for it");
    return;
  }
  Request *r = inflight_.front();
  inflight_.pop_front();
  r->answered = last_reply_;
  if (r->extra_replies > 0) absorb_ += r->extra_replies;
  if (r->internal || r->lease != nullptr) {
    request_complete(r, Status::ok, reply);
  } else {
    // Stored only if the server confirmed tracking before it ran the read (in order).
    if (r->track_gen != 0 && r->track_gen != tracking_ok_) r->track_gen = 0;
    listener_.on_reply(r, reply);
  }
  request_release(r);
}

// Pub/sub messages, the confirmations of a (P|S)(UN)SUBSCRIBE after the one that answers
// it, and anything unasked for go to the inbox (rcm_lease_read), not to the next request.
// The server sends one confirmation per argument, or, without arguments, one per
// subscription of the kind it ends (at least one): counted from what the server has
// confirmed so far, as it answers in order. While subscribed, a confirmation answers
// only a subscribe-family request, whatever the count says.
bool Connection::lease_inbox_bound(const Reply *reply) {
  if (subscribed_ && is_push_message(reply)) return true;
  const int kind = confirmation_kind(reply);
  Request *front = inflight_.empty() ? nullptr : inflight_.front();
  if (kind < 0) return front == nullptr;
  const bool counted = absorb_ > 0;
  const bool answers = !counted && front != nullptr && !front->internal && (front->cmd.flags & kCmdSubscribe);
  if (!counted && !answers && !subscribed_ && front != nullptr) return false;  // an ordinary reply that looks alike
  std::set<std::string> &set = subscriptions_[kind / 2];
  if (answers && front->unsubscribe_all) absorb_ += static_cast<int>(set.size() > 1 ? set.size() - 1 : 0);
  const Reply *channel = reply->elements[1];
  if (channel != nullptr && channel->kind == ReplyKind::string) {
    if (kind % 2 == 0)
      set.emplace(channel->str);
    else
      set.erase(std::string(channel->str));
  }
  // Subscribed until no subscription is left: then the connection answers as before.
  subscribed_ = !(subscriptions_[0].empty() && subscriptions_[1].empty() && subscriptions_[2].empty()) ||
                (front != nullptr && (front->cmd.flags & kCmdSubscribe) && !answers);
  if (counted) --absorb_;
  return !answers;
}

void Connection::fail(Status why, const std::string &message) {
  if (state_ != State::ready) {
    if (state_ != State::closed) connect_failed(why, message);
    return;
  }
  uint64_t unsent = this->unsent();
  uint64_t written = bytes_queued_ - unsent;
  close_socket();
  state_ = State::closed;
  std::deque<Request *> inflight;
  inflight.swap(inflight_);
  std::vector<Request *> resend;
  const bool lease = role_ == Role::lease;
  BlockFate fate = BlockFate::none;
  size_t block_end = 0;
  for (size_t i = 0; i < inflight.size(); ++i) {
    Request *r = inflight[i];
    if (!lease && !r->internal && r->pinned && i >= block_end) fate = block_fate(inflight, i, written, &block_end);
    const bool in_block = i < block_end;
    if (r->completed) {
      request_release(r);
      continue;
    }
    bool sent = r->offset < written;
    bool safe = (r->cmd.flags & kCmdReadonly) || cfg_.retry_unsafe;
    if (in_block && fate == BlockFate::resend) {
      if (sent) target_.stats->retries++;
      resend.push_back(r);
      continue;
    }
    if (r->internal) {
      request_fail(r, why, message);
    } else if (in_block && fate == BlockFate::discarded) {
      request_fail(r, Status::connection, message + " before its transaction's EXEC was sent: the transaction did not run");
    } else if (!lease && !r->pinned && (!sent || (safe && r->tries() < cfg_.retry_max_attempts))) {
      if (sent) target_.stats->retries++;
      resend.push_back(r);
      continue;  // the pool takes our reference
    } else if (!sent) {
      request_fail(r, Status::connection, message + " (the request was not sent)");
    } else if (why == Status::protocol) {
      request_fail(r, Status::protocol, message);
    } else {
      request_fail(r, Status::uncertain, message + " after the request was sent: outcome unknown");
    }
    request_release(r);
  }
  if (inbox_) inbox_->close();
  pack_units(resend);
  listener_.on_connection_down(this, why, message, resend, true);
}

// The requests of a MULTI ... EXEC block from inflight[first] on (all pinned, ending at
// EXEC or DISCARD; its MULTI may have been answered already). A server drops a
// transaction whose connection closes before EXEC, so one whose EXEC was not written
// did not run: resent whole if it is still whole (MULTI unanswered, nothing of it ended
// yet, attempts left), else failed as not run. One whose EXEC was written may have run.
Connection::BlockFate Connection::block_fate(const std::deque<Request *> &inflight, size_t first, uint64_t written,
                                             size_t *end) const {
  size_t j = first;
  bool ended = false;
  while (j < inflight.size() && inflight[j]->pinned && !inflight[j]->internal) {
    ended = ended || inflight[j]->completed;
    if (inflight[j++]->cmd.flags & kCmdExecEnd) break;
  }
  *end = j;
  const Request *last = inflight[j - 1];
  if ((last->cmd.flags & kCmdExecEnd) && last->offset < written) return BlockFate::maybe_ran;
  const Request *head = inflight[first];
  if ((head->cmd.flags & kCmdMulti) && !ended && head->tries() < cfg_.retry_max_attempts) return BlockFate::resend;
  return BlockFate::discarded;
}

void Connection::shutdown(Status why, const std::string &message) {
  close_socket();
  state_ = State::closed;
  if (reconnect_timer_) event_del(reconnect_timer_);
  reconnect_pending_ = false;
  std::deque<Request *> inflight;
  inflight.swap(inflight_);
  for (Request *r : inflight) {
    request_fail(r, why, message);
    request_release(r);
  }
  if (inbox_) inbox_->close();
}

}  // namespace rcm::core
