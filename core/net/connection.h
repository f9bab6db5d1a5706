// One socket to one server, owned by its pool's I/O thread. Requests written to it are
// answered in order; the bytes of every request are tracked so that, when the socket
// breaks, rcm knows which requests may have reached the server and which surely did not.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "core/config/config.h"
#include "core/net/connection_listener.h"
#include "core/net/pubsub_frames.h"
#include "core/net/resolver.h"
#include "core/request/request.h"
#include "core/resp/reader.h"
#include <vector>

struct bufferevent;
struct event;
struct evbuffer;

namespace rcm::core {

// Messages a server pushes on a lease without a request (pub/sub). Shared between the
// I/O thread (producer) and the lease's owner (consumer).
struct LeaseInbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Reply *> replies;  // guarded by mu
  bool closed = false;          // guarded by mu
  ~LeaseInbox();
  void push(Reply *r);
  void close();
};

class Connection {
 public:
  enum class State { closed, connecting, handshaking, ready };
  enum class Role { shared, lease, subscriber };
  // Receives what a subscriber connection is pushed (I/O thread); owns the reply.
  using PushHandler = void (*)(void *ctx, Reply *reply);
  // Receives a subscriber connection's published messages, read without a Reply (I/O
  // thread); the frame's views are valid for the call only.
  using PushFrameHandler = void (*)(void *ctx, const PushFrame &frame);

  // ctx, target and listener outlive the connection.
  Connection(const IoContext &ctx, const ConnectionTarget &target, ConnectionListener &listener, Role role);
  ~Connection();
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  void connect();
  // Queues r's bytes (state ready, or internal requests while handshaking). They are
  // written together with everything else queued in this loop iteration (flush()).
  void send(Request *r);
  // Writes what send() queued (plain TCP; TLS writes through its bufferevent).
  void flush();
  // Closes the socket: requests not yet sent are handed back to the owner (or failed when
  // pinned), requests sent are retried when safe or completed as uncertain.
  void fail(Status why, const std::string &message);
  // Closes for good (client closing): every request completes with `why`.
  void shutdown(Status why, const std::string &message);
  void schedule_reconnect(int delay_ms);

  State state() const { return state_; }
  bool ready() const { return state_ == State::ready; }
  Role role() const { return role_; }
  ConnectionListener &listener() { return listener_; }
  const Endpoint &endpoint() const { return target_.endpoint; }
  NodeStats &stats() { return *target_.stats; }
  size_t in_flight() const { return inflight_.size(); }
  Clock::time_point last_activity() const { return last_activity_; }
  bool reconnect_scheduled() const { return reconnect_pending_; }
  // Has bytes queued for this loop iteration's write, or held for the next one.
  bool flush_pending() const { return flush_wanted_ || held_; }
  // Has bytes held until the replies of the batch already written come back.
  bool writes_held() const { return held_ && !flush_wanted_; }
  int failures() const { return failures_; }
  void set_failures(int n) { failures_ = n; }

  // Health check: PING when idle; break when a PING goes unanswered too long, or when
  // requests wait with nothing read for pool.stall_timeout_ms (stalled()).
  void health_check(Clock::time_point now, int idle_ms, int timeout_ms);
  bool stalled(Clock::time_point now) const;
  void fail_stalled();

  // Lease state: can the connection be handed to the next caller after cleaning?
  bool reusable() const;
  // Sends what returns it to a clean state (DISCARD, UNWATCH, SELECT db).
  void clean();
  const std::shared_ptr<LeaseInbox> &inbox() const { return inbox_; }
  void set_push_handler(PushHandler fn, PushFrameHandler frame_fn, void *ctx) {
    push_fn_ = fn;
    push_frame_fn_ = frame_fn;
    push_ctx_ = ctx;
  }
  // Sends one of rcm's own commands whose reply is ignored (SUBSCRIBE on a subscriber).
  void send_command(int argc, const char *const *argv, const size_t *argvlen);
  // Subscriber connections: sends `command` (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE or their
  // UN- forms) for names. Every confirmation and message goes to the push handler; the
  // request completes (done(r, ok, nullptr)) once each name is confirmed, or with the
  // error reply (MOVED, CROSSSLOT, NOPERM) or the connection's failure. r->sub_due then
  // holds the names not confirmed. ctx goes to r->ctx, tag to r->index.
  // Sends one of rcm's own commands; done(r, status, reply) gets ctx as r->ctx, tag as
  // r->index (CLIENT ID on an invalidation connection).
  void send_request(int argc, const char *const *argv, const size_t *argvlen, Request::DoneFn done, void *ctx,
                    size_t tag = 0);
  void send_subscription(const std::string &command, const std::vector<std::string> &names, Request::DoneFn done,
                         void *ctx, size_t tag = 0);

 private:
  static void on_read_cb(bufferevent *bev, void *arg);
  static void on_event_cb(bufferevent *bev, short what, void *arg);
  static void on_socket_readable(int fd, short what, void *arg);
  static void on_socket_writable(int fd, short what, void *arg);
  size_t unsent() const;  // bytes queued and not yet written (to the socket or to TLS)
  void parse_replies();
  bool consume(const char *data, size_t len);
  bool should_hold() const;
  bool connect_plain(const SockAddr &a, std::string &error);
  bool connect_tls(const SockAddr &a, std::string &error);
  void on_resolved(std::vector<SockAddr> addrs, const std::string &error);
  void try_next_address();
  void attempt_failed(Status why, const std::string &error);
  std::string attempt_summary() const;
  void arm_connect_timer(long long ms);
  static void on_connect_timeout(int, short, void *arg);
  static void on_reconnect_timer(int, short, void *arg);
  static void on_handshake_reply(Request *r, Status status, Reply *reply);
  static void on_ping_reply(Request *r, Status status, Reply *reply);
  static void on_ignore_reply(Request *r, Status status, Reply *reply);
  static void on_tracking_reply(Request *r, Status status, Reply *reply);
  void stamp_tracking(Request *r);

  void on_read();
  void on_connected();
  void on_ready();
  void handle_reply(Reply *reply);
  bool subscriber_reply(Reply *reply);
  bool consume_pushes(const char *data, size_t len);
  // Reads keep the I/O loop polling for what follows them (IoThread::loop_spinning)
  // when a request waits for its reply; a subscriber connection's pushes answer nobody,
  // and polling between them only burns the CPU the next push needs.
  bool awaits_replies() const { return role_ != Role::subscriber || !inflight_.empty(); }
  void send_internal(int argc, const char *const *argv, const size_t *argvlen, Request::DoneFn done,
                     size_t tag = 0);
  void track_lease_state(const Request *r);
  // Lease: true when reply goes to the inbox rather than to the request in front.
  bool lease_inbox_bound(const Reply *reply);
  void close_socket();
  void connect_failed(Status why, const std::string &message);
  enum class BlockFate { none, resend, discarded, maybe_ran };
  BlockFate block_fate(const std::deque<Request *> &inflight, size_t first, uint64_t written, size_t *end) const;
  std::string describe_socket_error(short what);

  const IoContext &ctx_;
  const ConnectionTarget &target_;
  ConnectionListener &listener_;
  const Config &cfg_;
  Role role_;
  State state_ = State::closed;
  bufferevent *bev_ = nullptr;      // TLS connections
  int fd_ = -1;                     // plain TCP connections
  event *read_ev_ = nullptr;
  event *write_ev_ = nullptr;
  // Plain TCP output: out_[out_sent_..] is not written yet. A string that keeps its
  // capacity: an evbuffer allocated and freed a chain for nearly every write (about 150
  // instructions per request when requests come one at a time).
  std::string out_;
  size_t out_sent_ = 0;
  bool flush_wanted_ = false;
  bool held_ = false;               // bytes queued, written when replies come back
  event *connect_timer_ = nullptr;   // this address's share, then the handshake's rest
  std::vector<SockAddr> addrs_;      // what the host resolved to, tried in order
  size_t addr_next_ = 0;             // next address to try
  std::string attempt_errors_;       // why each address tried so far failed
  Clock::time_point connect_deadline_;
  bool resolving_ = false;           // a lookup is under way for this connect
  uint64_t resolve_gen_ = 0;         // tells a lookup's result from an abandoned one's
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);  // expires with the connection
  event *reconnect_timer_ = nullptr;
  std::unique_ptr<ReplyReader> reader_;
  std::deque<Request *> inflight_;  // written, in order
  uint64_t bytes_queued_ = 0;       // everything ever appended to the output stream
  int handshake_left_ = 0;
  Status handshake_status_ = Status::ok;
  std::string handshake_error_;
  bool reconnect_pending_ = false;
  int failures_ = 0;                // consecutive failed connects
  Clock::time_point last_activity_;  // last bytes read
  Clock::time_point last_reply_;     // last complete reply
  Clock::time_point awaiting_since_; // when inflight_ last went from empty to non-empty
  Clock::time_point ping_sent_;
  bool ping_outstanding_ = false;
  // Client-side caching, this socket: the tracking generation CLIENT TRACKING was sent
  // for, and the one the server confirmed (0 = none).
  uint64_t tracking_sent_ = 0;
  uint64_t tracking_ok_ = 0;

  // Lease state, from the commands sent.
  bool in_multi_ = false;
  bool watching_ = false;
  bool subscribed_ = false;
  bool db_changed_ = false;
  bool unclean_ = false;
  int absorb_ = 0;  // confirmations still due for an earlier request, bound for the inbox
  // What the server confirmed this lease is subscribed to: channels, patterns, shard
  // channels. An UNSUBSCRIBE without arguments is confirmed once per member of its set.
  std::set<std::string> subscriptions_[3];
  std::shared_ptr<LeaseInbox> inbox_;
  PushHandler push_fn_ = nullptr;
  PushFrameHandler push_frame_fn_ = nullptr;
  void *push_ctx_ = nullptr;
  std::string push_carry_;  // subscriber: the start of a value the next read completes
};

}  // namespace rcm::core
