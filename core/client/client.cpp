#include "core/client/client.h"

#include <pthread.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/client/engine.h"
#include "core/common/baton.h"
#include "core/net/connection.h"
#include "core/net/io_thread.h"
#include "core/net/tls.h"
#include "core/resp/encoder.h"
#include "core/route/slot.h"

#include <algorithm>
#include <set>

namespace rcm::core {

namespace {

std::atomic<unsigned> g_fork_generation{0};
void on_fork_child() { g_fork_generation.fetch_add(1); }
std::once_flag g_atfork_once;

// Waits for one request on the caller's thread.
struct SyncCall {
  Baton baton;
  Status status = Status::ok;  // written before baton.post()
  Reply *reply = nullptr;      // written before baton.post()
};

void sync_done(Request *r, Status status, Reply *reply) {
  auto *call = static_cast<SyncCall *>(r->ctx);
  call->status = status;
  call->reply = reply;
  call->baton.post();  // the waiter may destroy call from here on
}

Status wait_sync(SyncCall &call, int spin_us, Reply **out, std::string *err) {
  call.baton.wait(spin_us);
  if (call.status == Status::ok) {
    *out = call.reply;
    return Status::ok;
  }
  if (err) *err = call.reply ? std::string(call.reply->str) : status_name(call.status);
  delete call.reply;
  *out = nullptr;
  return call.status;
}

// A pipeline's requests all complete on the one I/O thread they were sent from.
struct BatchCall {
  Baton baton;
  size_t left = 0;                // I/O thread
  std::vector<Reply *> *replies;  // slot i written by the I/O thread before baton.post()
};

void batch_done(Request *r, Status status, Reply *reply) {
  auto *call = static_cast<BatchCall *>(r->ctx);
  if (status != Status::ok && reply == nullptr) reply = Reply::make_error(status, status_name(status));
  (*call->replies)[r->index] = reply;
  if (--call->left == 0) call->baton.post();
}

bool ieq(const char *a, size_t alen, const char *b) {
  size_t n = std::strlen(b);
  if (alen != n) return false;
  for (size_t i = 0; i < n; ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

// Milliseconds a blocking command may legitimately wait on its own: -1 for "forever".
long long blocking_ms(int argc, const char *const *argv, const size_t *argvlen) {
  auto len = [&](int i) { return argvlen ? argvlen[i] : std::strlen(argv[i]); };
  auto seconds = [&](int i) -> long long {
    std::string s(argv[i], len(i));
    char *end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || v < 0) return 0;
    if (v == 0) return -1;
    return static_cast<long long>(std::ceil(v * 1000.0));
  };
  auto millis = [&](int i) -> long long {
    std::string s(argv[i], len(i));
    long long v = std::atoll(s.c_str());
    return v == 0 ? -1 : v;
  };
  const char *n = argv[0];
  size_t nl = len(0);
  if (argc >= 3 && (ieq(n, nl, "blpop") || ieq(n, nl, "brpop") || ieq(n, nl, "bzpopmin") ||
                    ieq(n, nl, "bzpopmax") || ieq(n, nl, "brpoplpush") || ieq(n, nl, "blmove")))
    return seconds(argc - 1);
  if (argc >= 2 && (ieq(n, nl, "blmpop") || ieq(n, nl, "bzmpop"))) return seconds(1);
  if (argc >= 3 && (ieq(n, nl, "wait") || ieq(n, nl, "waitaof"))) return millis(argc - 1);
  if (ieq(n, nl, "xread") || ieq(n, nl, "xreadgroup")) {
    for (int i = 1; i + 1 < argc; ++i)
      if (ieq(argv[i], len(i), "block")) return millis(i + 1);
  }
  return 0;
}

}  // namespace

// ---- events -----------------------------------------------------------------------

EventDispatcher::EventDispatcher(EventCallback cb, void *userdata) : state_(std::make_shared<State>()) {
  state_->cb = cb;
  state_->userdata = userdata;
  thread_ = std::thread([s = state_] { run(s); });
}

EventDispatcher::~EventDispatcher() {
  const bool self = std::this_thread::get_id() == thread_.get_id();
  {
    std::lock_guard<std::mutex> lk(state_->mu);
    state_->stop = true;
    // The callback that closes its client gets no event after that close.
    if (self) state_->queue.clear();
  }
  state_->cv.notify_one();
  if (self)
    thread_.detach();
  else
    thread_.join();
}

void EventDispatcher::push(int kind, std::string node, std::string detail) {
  {
    std::lock_guard<std::mutex> lk(state_->mu);
    state_->queue.push_back(Event{kind, std::move(node), std::move(detail)});
  }
  state_->cv.notify_one();
}

void EventDispatcher::run(const std::shared_ptr<State> &state) {
  State &s = *state;
  std::unique_lock<std::mutex> lk(s.mu);
  for (;;) {
    s.cv.wait(lk, [&s] { return s.stop || !s.queue.empty(); });
    if (s.queue.empty()) return;  // stop and nothing left to deliver
    Event e = std::move(s.queue.front());
    s.queue.pop_front();
    lk.unlock();  // never call user code with our lock held
    s.cb(e.kind, e.node.c_str(), e.detail.c_str(), s.userdata);
    lk.lock();
  }
}

// ---- client -------------------------------------------------------------------------

Client::Client(const Config &cfg, Mode mode)
    : cfg_(cfg), mode_(mode), pubsub_(std::make_shared<PubSub>(cfg_)), table_(&CommandTable::builtin()) {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, &on_fork_child); });
  fork_generation_ = g_fork_generation.load();
  if (cfg_.cache_max_bytes > 0 && !cfg_.cache_commands.empty()) cache_ = std::make_unique<Cache>(cfg_);
}

Client::~Client() { close(); }

bool Client::on_io_thread() const {
  for (const auto &io : io_)
    if (io && io->on_loop_thread()) return true;
  return false;
}

bool Client::forked() const { return g_fork_generation.load(std::memory_order_relaxed) != fork_generation_; }

void Client::check_may_block(const char *what) const {
  if (on_io_thread())
    throw Error(Status::state, std::string(what) +
                                   " called from an rcm_callback would block the I/O thread that must deliver its "
                                   "reply: use rcm_command_async there");
}

std::shared_ptr<Client> Client::open(const Config &cfg) {
  cfg.validate();
  Mode mode = cfg.mode;
  if (mode == Mode::auto_detect) mode = probe_mode(cfg);
  if (mode == Mode::standalone && cfg.seeds.size() > 1)
    throw Error(Status::config, "seeds: mode=standalone takes one address, got " + std::to_string(cfg.seeds.size()));
  std::shared_ptr<Client> c(new Client(cfg, mode));
  try {
    c->start();
    if (mode == Mode::standalone)
      c->check_server();
    else
      c->wait_topology();
  } catch (...) {
    c->close();
    throw;
  }
  return c;
}

// mode=auto: ask the seeds, one at a time, what they are.
Mode Client::probe_mode(const Config &cfg) {
  Error last(Status::connection, "no seed answered");
  for (const Endpoint &seed : cfg.seeds) {
    Config one = cfg;
    one.mode = Mode::standalone;
    one.seeds = {seed};
    one.pool_size = 1;
    one.io_threads = 1;
    one.event_cb = nullptr;
    try {
      std::shared_ptr<Client> probe(new Client(one, Mode::standalone));
      probe->start();
      probe->check_server();
      std::string server_mode = probe->server_mode_;
      probe->close();
      // RedisRaft claims cluster_enabled:1 and emulates CLUSTER SLOTS: ask it first.
      if (server_mode == "raft") return Mode::raft;
      if (server_mode == "cluster") return Mode::cluster;
      if (server_mode == "sentinel") {
        if (cfg.sentinel_master.empty())
          throw Error(Status::config, "the server at " + seed.str() +
                                          " is a Sentinel: give the master name (sentinel.master or redis+sentinel://host:port/name)");
        return Mode::sentinel;
      }
      if (cfg.seeds.size() > 1)
        throw Error(Status::config, "seeds: " + std::to_string(cfg.seeds.size()) + " addresses given but " +
                                        seed.str() + " is not a cluster node (give one address for a standalone server)");
      return Mode::standalone;
    } catch (const Error &e) {
      if (e.status() == Status::auth || e.status() == Status::tls || e.status() == Status::unsupported ||
          e.status() == Status::config)
        throw;
      last = e;
    }
  }
  throw last;
}

void Client::wait_topology() {
  std::unique_lock<std::mutex> lk(topo_mu_);
  auto limit = std::chrono::milliseconds(cfg_.connect_timeout_ms) +
               std::chrono::milliseconds(cfg_.command_timeout_ms > 0 ? cfg_.command_timeout_ms : 1000);
  // "No leader yet" during an election is worth waiting for; a refused connection or a
  // wrong password is not.
  auto settled = [this] {
    return topo_ != nullptr || !primary_addr_.empty() ||
           (topo_failed_once_ && topo_status_ != Status::no_leader && topo_status_ != Status::clusterdown);
  };
  bool done = topo_cv_.wait_for(lk, limit, settled);
  if (topo_ || !primary_addr_.empty()) return;
  const char *what = mode_ == Mode::cluster ? "cluster topology" : mode_ == Mode::raft ? "Raft leader" : "Sentinel master";
  if (!done && !topo_failed_once_)
    throw Error(Status::timeout, std::string("no ") + what + " within " + std::to_string(limit.count()) + " ms");
  throw Error(topo_status_, std::string(what) + ": " + topo_error_);
}

void Client::publish_primary(const Endpoint &ep, const std::vector<Endpoint> &replicas, const std::string &old,
                             const std::string &cause) {
  refreshes_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(topo_mu_);
    primary_addr_ = ep.str();
  }
  topo_cv_.notify_all();
  // A new primary: what the old one's invalidations covered is no longer known true.
  if (cache_ && !old.empty() && old != ep.str()) cache_->reset_all();
  for (size_t i = 0; i < engines_.size(); ++i) {
    Engine *e = engines_[i].get();
    if (io_[i]->on_loop_thread()) {
      e->apply_primary(ep, replicas);
    } else {
      io_[i]->post([e, ep, replicas] { e->apply_primary(ep, replicas); });
    }
  }
  if (!old.empty() && old != ep.str())
    emit_event(4 /* primary changed */, ep.str(), old + " -> " + ep.str() + ": " + cause);
}

void Client::primary_not_found(Status status, const std::string &message) { topology_failed(status, message); }

void Client::primary_hint(const Endpoint &ep, const std::string &cause) {
  if (engines_.empty() || closed()) return;
  Engine *e0 = engines_[0].get();
  if (io_[0]->on_loop_thread()) {
    e0->primary_hint(ep, cause);
    return;
  }
  io_[0]->post([e0, ep, cause] { e0->primary_hint(ep, cause); });
}

void Client::publish_topology(std::shared_ptr<const ClusterTopology> topo,
                              std::shared_ptr<const ClusterTopology> previous, bool changed) {
  refreshes_.fetch_add(1, std::memory_order_relaxed);
  if (cache_) cache_topology_changed(previous.get(), *topo);
  {
    std::lock_guard<std::mutex> lk(topo_mu_);
    topo_ = topo;
  }
  topo_cv_.notify_all();
  for (size_t i = 0; i < engines_.size(); ++i) {
    Engine *e = engines_[i].get();
    if (io_[i]->on_loop_thread()) {
      e->apply_topology(topo);
    } else {
      io_[i]->post([e, topo] { e->apply_topology(topo); });
    }
  }
  if (!changed || !events_) return;
  emit_event(3 /* topology changed */, "", std::to_string(topo->shards.size()) + " shards, " +
                                               std::to_string(topo->covered_slots()) + " slots covered");
  if (!previous) return;
  std::set<std::pair<std::string, std::string>> moves;
  for (int slot = 0; slot < kSlots; ++slot) {
    int a = previous->slot_shard[slot], b = topo->slot_shard[slot];
    if (a < 0 || b < 0) continue;
    const std::string from = previous->shards[a].primary.endpoint.str(), to = topo->shards[b].primary.endpoint.str();
    if (from != to) moves.emplace(from, to);
  }
  for (const auto &m : moves) {
    bool promoted = false;
    for (const Shard &s : previous->shards)
      if (s.primary.endpoint.str() == m.first)
        for (const ClusterNode &n : s.replicas)
          if (n.endpoint.str() == m.second) promoted = true;
    emit_event(4 /* primary changed */, m.second,
               m.first + " -> " + m.second + ": " + (promoted ? "replica promoted" : "slots moved"));
  }
}

void Client::topology_failed(Status status, const std::string &message) {
  {
    std::lock_guard<std::mutex> lk(topo_mu_);
    topo_status_ = status;
    topo_error_ = message;
    topo_failed_once_ = true;
  }
  topo_cv_.notify_all();
}

void Client::request_refresh(const std::string &reason) {
  if (engines_.empty() || closed()) return;
  Engine *e0 = engines_[0].get();
  io_[0]->post([e0, reason] { e0->request_refresh(reason); });
}

void Client::start() {
  if (cfg_.tls) tls_ = std::make_unique<TlsContext>(cfg_);
  if (cfg_.event_cb) events_ = std::make_unique<EventDispatcher>(cfg_.event_cb, cfg_.event_userdata);
  for (int i = 0; i < cfg_.io_threads; ++i) {
    io_.push_back(std::make_unique<IoThread>(i, cfg_.io_spin_us));
    engines_.push_back(std::make_unique<Engine>(*this, *io_.back(), cfg_, tls_.get(), i, mode_));
  }
  pubsub_->attach(io_[0].get(), engines_[0]->pubsub());
  for (int i = 0; i < cfg_.io_threads; ++i) {
    io_[i]->start();
    Engine *e = engines_[i].get();
    io_[i]->post([e] { e->start(); });
  }
}

void Client::check_server() {
  // One round trip proves the connection and handshake, and tells what the server is.
  const char *argv[] = {"INFO", "server"};
  Request *r = make_request(2, argv, nullptr, false);
  r->deadline = r->created + std::chrono::milliseconds(cfg_.connect_timeout_ms) +
                std::chrono::milliseconds(cfg_.command_timeout_ms > 0 ? cfg_.command_timeout_ms : 1000);
  Reply *reply = nullptr;
  std::string err;
  Status st = execute(r, &reply, &err);
  if (st != Status::ok) throw Error(st, err);
  std::unique_ptr<Reply> owned(reply);
  if (reply->is_error()) {
    if (reply->str.compare(0, 6, "NOAUTH") == 0)
      throw Error(Status::auth, cfg_.seeds.front().str() + " requires a password: " + reply->str);
    throw Error(Status::connection, "INFO on " + cfg_.seeds.front().str() + " failed: " + reply->str);
  }
  const std::string info(reply->str);
  auto field = [&info](const char *name) -> std::string {
    std::string key = std::string("\n") + name + ":";
    size_t p = info.find(key);
    if (p == std::string::npos) return "";
    p += key.size();
    size_t e = info.find_first_of("\r\n", p);
    return info.substr(p, e == std::string::npos ? std::string::npos : e - p);
  };
  server_version_ = field("valkey_version");
  if (server_version_.empty()) server_version_ = field("redis_version");
  server_mode_ = field("server_mode");  // valkey
  if (server_mode_.empty()) server_mode_ = field("redis_mode");
  if (server_mode_ != "sentinel") {
    const char *raft_argv[] = {"INFO", "raft"};
    Request *rr = make_request(2, raft_argv, nullptr, false);
    Reply *raft = nullptr;
    std::string raft_err;
    if (execute(rr, &raft, &raft_err) == Status::ok) {
      if (raft && !raft->is_error() && raft->str.find("raft_role:") != std::string::npos) server_mode_ = "raft";
      delete raft;
    }
  }
}

void Client::close() {
  std::lock_guard<std::mutex> lk(close_mu_);
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  if (forked()) {
    // The I/O threads live in the parent; here their memory is only a copy. Leak it.
    for (auto &io : io_) io.release();
    for (auto &e : engines_) e.release();
    // So is the event thread: joining it here would wait for a thread that does not exist.
    events_.release();
    pubsub_->abandon_delivery();
    return;
  }
  for (size_t i = 0; i < io_.size(); ++i) {
    Engine *e = engines_[i].get();
    io_[i]->stop([e] { e->shutdown(); });
  }
  // The engines and loops stay allocated (stopped) until the Client itself goes: a lease
  // still held elsewhere may post to them, which now fails cleanly with "closed".
  // Subscribers were closed by engine 0's shutdown; their callbacks end here.
  pubsub_->stop_delivery();
  events_.reset();
}

std::shared_ptr<Subscriber> Client::open_subscriber(Subscriber::DeliverFn fn, void *ctx) {
  if (closed()) throw Error(Status::closed, "client closed");
  return pubsub_->open(fn, ctx);
}

Engine &Client::pick_engine() {
  if (engines_.size() == 1) return *engines_.front();  // io_threads=1: no thread_local to reach
  static std::atomic<unsigned> next{0};
  thread_local unsigned mine = next.fetch_add(1);
  return *engines_[mine % engines_.size()];
}

Request *Client::make_request(int argc, const char *const *argv, const size_t *argvlen, bool for_lease,
                              bool in_pipeline) const {
  if (argc <= 0) throw Error(Status::arg, "argc must be > 0 (got " + std::to_string(argc) + ")");
  if (argv == nullptr) throw Error(Status::arg, "argv is NULL");
  for (int i = 0; i < argc; ++i)
    if (argv[i] == nullptr && (argvlen == nullptr || argvlen[i] != 0))
      throw Error(Status::arg, "argv[" + std::to_string(i) + "] is NULL");
  if (argvlen != nullptr) {
    // A length no buffer can have (SIZE_MAX, a negative int cast): refused before it
    // reaches an allocation, where it would surface as an internal error.
    size_t total = 0;
    for (int i = 0; i < argc; ++i) {
      if (argvlen[i] > kMaxCommandBytes - total)
        throw Error(Status::arg, "argvlen[" + std::to_string(i) + "] = " + std::to_string(argvlen[i]) +
                                     ": the command would exceed " + std::to_string(kMaxCommandBytes >> 20) +
                                     " MiB, more than a server accepts");
      total += argvlen[i];
    }
  }
  size_t len0 = argvlen ? argvlen[0] : std::strlen(argv[0]);
  if (len0 == 0) throw Error(Status::arg, "argv[0] (the command name) is empty");
  CommandInfo info = commands().classify(argc, argv, argvlen);
  if (!for_lease) {
    if (info.flags & kCmdBlocking)
      throw Error(Status::arg, std::string(argv[0], len0) + " blocks its connection: send it on a lease (rcm_lease_acquire)");
    bool pipeline_ok = in_pipeline && (info.flags & (kCmdMulti | kCmdExecEnd));
    if ((info.flags & kCmdStateful) && !pipeline_ok)
      throw Error(Status::arg,
                  std::string(argv[0], len0) + " changes the connection's state: send it on a lease (rcm_lease_acquire)");
  }
  // Default-initialized, not value-initialized (make_unique): every member has its
  // initializer, and value-initialization zeroed the whole object first, the payload's
  // 112-byte inline buffer included.
  std::unique_ptr<Request> owned(new Request);
  Request *r = owned.get();
  // argv[i] may be NULL with length 0: encode it as an empty string.
  static const char empty[] = "";
  const char *const *args = argv;
  std::vector<const char *> fixed;
  for (int i = 0; i < argc; ++i) {
    if (argv[i] == nullptr) {
      fixed.assign(argv, argv + argc);
      for (auto &a : fixed)
        if (a == nullptr) a = empty;
      args = fixed.data();
      break;
    }
  }
  encode_command(r->payload, argc, args, argvlen);
  r->cmd = info;
  r->created = Clock::now();
  long long timeout = cfg_.command_timeout_ms;
  if (for_lease && timeout > 0) {
    long long block = blocking_ms(argc, args, argvlen);
    timeout = block < 0 ? 0 : timeout + block;
  }
  if (timeout > 0) r->deadline = r->created + std::chrono::milliseconds(timeout);
  if (mode_ == Mode::cluster) {
    RoutePlan plan = plan_route(info, argc, args, argvlen);
    r->route = plan.kind == RouteKind::automatic && plan.split.empty() ? RouteKind::slot : plan.kind;
    r->slot = plan.slot;
    r->agg = plan.agg;
    if (!plan.split.empty()) {
      r->route = RouteKind::automatic;
      r->split = std::make_unique<std::vector<SubCommand>>(std::move(plan.split));
    }
  }
  // SUBSCRIBE a b c: one confirmation answers the request, the others are pushed.
  if ((info.flags & kCmdSubscribe) && argc > 2) r->extra_replies = argc - 2;
  // ... and without arguments (only UNSUBSCRIBE's kinds allow that) one per subscription,
  // which the lease's connection counts.
  if ((info.flags & kCmdSubscribe) && argc == 1) r->unsubscribe_all = true;
  if (cache_) cache_plan(r, argc, args, argvlen, for_lease);
  return owned.release();
}

Status Client::execute(Request *r, Reply **out, std::string *err) {
  SyncCall call;
  *out = nullptr;
  if (r->cache) {
    if (Reply *hit = cache_serve(r)) {
      delete r;
      *out = hit;
      return Status::ok;
    }
  }
  r->done = &sync_done;
  r->ctx = &call;
  Status st = execute_async(r, err);
  return st == Status::ok ? wait_sync(call, cfg_.sync_spin_us, out, err) : st;
}

Status Client::execute_async(Request *r, std::string *err) {
  Engine &e = pick_engine();
  r->engine = &e;
  if (r->cache && !r->track && !r->cache->write) {
    // A hit completes on the I/O thread, as every async call does, without a round trip.
    if (Reply *hit = cache_serve(r)) {
      if (closed() || !e.io().post([r, hit] {
            r->done(r, Status::ok, hit);
            delete r;
          })) {
        delete hit;
        delete r;
        if (err) *err = "client closed";
        return Status::closed;
      }
      return Status::ok;
    }
  }
  // A miss of an entry another caller is reading already waits for that reply.
  if (r->cache && r->track && !r->cache->write && !cache_fly(r)) return Status::ok;
  if (closed() || !e.io().post(&Engine::submit_task, r)) {
    cache_ground(r);
    delete r;
    if (err) *err = "client closed";
    return Status::closed;
  }
  return Status::ok;
}

namespace {

// A copy of a request that was never sent, to send a transaction again.
Request *unsent_copy(const Request &r) {
  auto *c = new Request();
  c->payload = r.payload;
  c->cmd = r.cmd;
  c->created = r.created;
  c->deadline = r.deadline;
  c->extra_replies = r.extra_replies;
  c->route = r.route;
  c->agg = r.agg;
  c->slot = r.slot;
  c->route_node = r.route_node;
  return c;
}

bool error_starts(const Reply *r, const char *prefix) {
  return r != nullptr && r->is_error() && r->str.compare(0, std::strlen(prefix), prefix) == 0;
}

}  // namespace

Status Client::execute_batch(std::vector<Request *> &reqs, std::vector<Reply *> &out, std::string *err) {
  out.assign(reqs.size(), nullptr);
  if (reqs.empty()) return Status::ok;
  bool has_multi = false;
  for (Request *r : reqs)
    if (r->cmd.flags & kCmdMulti) has_multi = true;
  // MULTI ... EXEC blocks: [first, last] and copies of their requests.
  struct TxBlock {
    size_t first, last;
    std::vector<std::unique_ptr<Request>> copies;
  };
  std::vector<TxBlock> blocks;
  if (has_multi) {
    // Each MULTI ... EXEC block runs on one connection, never split by a resend (pinned);
    // in a cluster its keys must share a slot, and its MULTI/EXEC go where its keys go.
    // Commands outside the blocks route (and follow redirects) as usual.
    const bool cluster = mode_ == Mode::cluster;
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (!(reqs[i]->cmd.flags & kCmdMulti)) continue;
      size_t j = i + 1;
      while (j < reqs.size() && !(reqs[j]->cmd.flags & kCmdExecEnd)) ++j;
      const size_t last = std::min(j, reqs.size() - 1);
      int slot = -1;
      for (size_t k = i; cluster && k <= last; ++k) {
        Request *r = reqs[k];
        if (r->split) throw Error(Status::crossslot, "a transaction's keys must all be in one slot");
        if (r->slot < 0) continue;
        if (slot >= 0 && r->slot != slot) throw Error(Status::crossslot, "a transaction's keys must all be in one slot");
        slot = r->slot;
      }
      TxBlock b{i, last, {}};
      for (size_t k = i; k <= last; ++k) {
        reqs[k]->pinned = true;
        if (!cluster) continue;
        reqs[k]->route = RouteKind::slot;
        reqs[k]->slot = slot >= 0 ? slot : 0;  // a keyless transaction: any one node
        b.copies.emplace_back(unsent_copy(*reqs[k]));
      }
      if (cluster) blocks.push_back(std::move(b));
      i = j;
    }
  }
  Status st = cache_ ? run_batch_cached(reqs, out, err) : run_batch(reqs, out, err);
  if (st != Status::ok) return st;
  // A slot that moved under a transaction: the command queued for it got MOVED, so the
  // server aborted the EXEC (EXECABORT) and nothing of the block ran. The map now names
  // the new owner: send the whole block again, there, within its deadline.
  for (TxBlock &b : blocks) {
    for (int round = 0; round < cfg_.cluster_max_redirects; ++round) {
      bool moved = false;
      for (size_t k = b.first + 1; k < b.last && !moved; ++k) moved = error_starts(out[k], "MOVED ");
      if (!moved || !error_starts(out[b.last], "EXECABORT")) break;
      if (b.copies.front()->has_deadline() && Clock::now() >= b.copies.front()->deadline) break;
      std::vector<Request *> again;
      for (const auto &c : b.copies) again.push_back(unsent_copy(*c));
      std::vector<Reply *> sub(again.size(), nullptr);
      for (Request *r : again) r->pinned = true;
      if (run_batch(again, sub, err) != Status::ok) break;
      for (size_t k = 0; k < sub.size(); ++k) {
        delete out[b.first + k];
        out[b.first + k] = sub[k];
      }
    }
  }
  return Status::ok;
}

Status Client::run_batch(std::vector<Request *> &reqs, std::vector<Reply *> &out, std::string *err) {
  BatchCall call;
  call.left = reqs.size();
  call.replies = &out;
  auto *batch = new Batch();
  Engine &e = pick_engine();
  batch->engine = &e;
  for (size_t i = 0; i < reqs.size(); ++i) {
    Request *r = reqs[i];
    r->index = i;
    r->done = &batch_done;
    r->ctx = &call;
    r->engine = &e;
  }
  batch->requests = reqs;
  reqs.clear();
  if (closed() || !e.io().post(&Engine::submit_batch_task, batch)) {
    for (Request *r : batch->requests) delete r;
    delete batch;
    if (err) *err = "client closed";
    return Status::closed;
  }
  call.baton.wait(cfg_.sync_spin_us);
  return Status::ok;
}

std::unique_ptr<Lease> Client::acquire_lease(const char *key, size_t keylen, Status *status, std::string *err) {
  // Every lease lives on the first I/O thread, so that pool.max_leases bounds a server's
  // exclusive connections whatever io_threads is (one pool of leases per server).
  Engine &e = *engines_.front();
  LeaseWaiter w;
  int slot = key != nullptr && mode_ == Mode::cluster ? key_slot(key, keylen) : -1;
  if (closed() || !e.io().post([&e, &w, slot] { e.acquire_lease(&w, slot); })) {
    *status = Status::closed;
    *err = "client closed";
    return nullptr;
  }
  *status = w.wait();
  if (*status != Status::ok) {
    *err = w.message;
    return nullptr;
  }
  return std::make_unique<Lease>(shared_from_this(), &e, w.conn);
}

void Client::learn_commands(const Reply &command_reply) {
  if (learned_) return;
  learned_.reset(CommandTable::from_command_reply(command_reply));
  table_.store(learned_.get(), std::memory_order_release);
}

void Client::emit_event(int kind, const std::string &node, const std::string &detail) {
  if (events_) events_->push(kind, node, detail);
}

// Each I/O thread makes its own part of the snapshot. From an rcm_callback that would
// mean waiting for the other loops, one of which may be inside a callback waiting for
// this one: refused there rather than risking that deadlock.
// ---- lease --------------------------------------------------------------------------

Lease::Lease(std::shared_ptr<Client> client, Engine *engine, Connection *conn)
    : client_(std::move(client)), engine_(engine), conn_(conn), inbox_(conn->inbox()) {}

Lease::~Lease() { release(); }

void Lease::submit(int argc, const char *const *argv, const size_t *argvlen, Request::DoneFn done, void *ctx,
                   void *user) {
  if (released_) throw Error(Status::state, "the lease was released");
  if (client_->forked()) throw Error(Status::fork, "this lease was taken in another process (before fork)");
  if (client_->closed()) throw Error(Status::closed, "client closed");
  Request *r = client_->make_request(argc, argv, argvlen, true);
  r->done = done;
  r->ctx = ctx;
  r->user = user;
  r->engine = engine_;
  r->lease = conn_;
  r->pinned = true;
  if (!engine_->io().post(&Engine::submit_lease_task, r)) {
    delete r;
    throw Error(Status::closed, "client closed");
  }
}

Status Lease::command(int argc, const char *const *argv, const size_t *argvlen, Reply **out) {
  *out = nullptr;
  SyncCall call;
  submit(argc, argv, argvlen, &sync_done, &call, nullptr);
  std::string err;
  Status st = wait_sync(call, client_->config().sync_spin_us, out, &err);
  if (st != Status::ok) throw Error(st, err);
  return st;
}

Status Lease::read(int timeout_ms, Reply **out) {
  *out = nullptr;
  if (released_) throw Error(Status::state, "the lease was released");
  if (client_->forked()) throw Error(Status::fork, "this lease was taken in another process (before fork)");
  std::unique_lock<std::mutex> lk(inbox_->mu);
  auto ready = [&] { return !inbox_->replies.empty() || inbox_->closed; };
  if (timeout_ms < 0) {
    inbox_->cv.wait(lk, ready);
  } else if (!inbox_->cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), ready)) {
    throw Error(Status::timeout, "no message within " + std::to_string(timeout_ms) + " ms");
  }
  if (inbox_->replies.empty()) throw Error(Status::connection, "the lease's connection is closed");
  *out = inbox_->replies.front();
  inbox_->replies.pop_front();
  return Status::ok;
}

void Lease::release() {
  if (released_) return;
  released_ = true;
  if (client_->closed() || client_->forked()) return;
  Engine *e = engine_;
  Connection *c = conn_;
  e->io().post([e, c] { e->release_lease(c); });
}

}  // namespace rcm::core
