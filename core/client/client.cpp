#include "core/client/client.h"

#include <pthread.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/client/engine.h"
#include "core/common/baton.h"
#include "core/client/json.h"
#include "core/net/connection.h"
#include "core/net/io_thread.h"
#include "core/net/tls.h"
#include "core/resp/encoder.h"

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

Status wait_sync(SyncCall &call, Reply **out, std::string *err) {
  call.baton.wait();
  if (call.status == Status::ok) {
    *out = call.reply;
    return Status::ok;
  }
  if (err) *err = call.reply ? call.reply->str : status_name(call.status);
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
  (*call->replies)[r->slot] = reply;
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

EventDispatcher::EventDispatcher(EventCallback cb, void *userdata) : cb_(cb), userdata_(userdata) {
  thread_ = std::thread([this] { run(); });
}

EventDispatcher::~EventDispatcher() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void EventDispatcher::push(int kind, std::string node, std::string detail) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.push_back(Event{kind, std::move(node), std::move(detail)});
  }
  cv_.notify_one();
}

void EventDispatcher::run() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left to deliver
    Event e = std::move(queue_.front());
    queue_.pop_front();
    lk.unlock();  // never call user code with our lock held
    cb_(e.kind, e.node.c_str(), e.detail.c_str(), userdata_);
    lk.lock();
  }
}

// ---- client -------------------------------------------------------------------------

Client::Client(const Config &cfg) : cfg_(cfg), table_(&CommandTable::builtin()) {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, &on_fork_child); });
  fork_generation_ = g_fork_generation.load();
}

Client::~Client() { close(); }

bool Client::forked() const { return g_fork_generation.load(std::memory_order_relaxed) != fork_generation_; }

std::shared_ptr<Client> Client::open(const Config &cfg) {
  cfg.validate();
  switch (cfg.mode) {
    case Mode::cluster:
    case Mode::raft:
    case Mode::sentinel:
      throw Error(Status::unsupported, std::string("mode=") + mode_name(cfg.mode) +
                                           " is not built yet in this version of rcm (only standalone and auto)");
    case Mode::standalone:
    case Mode::auto_detect:
      break;
  }
  if (cfg.seeds.size() > 1)
    throw Error(Status::unsupported, "seeds: " + std::to_string(cfg.seeds.size()) +
                                         " addresses given; several seeds mean a cluster, and cluster mode is not "
                                         "built yet in this version of rcm");
  std::shared_ptr<Client> c(new Client(cfg));
  c->start();
  try {
    c->detect_mode();
  } catch (...) {
    c->close();
    throw;
  }
  return c;
}

void Client::start() {
  if (cfg_.tls) tls_ = std::make_unique<TlsContext>(cfg_);
  if (cfg_.event_cb) events_ = std::make_unique<EventDispatcher>(cfg_.event_cb, cfg_.event_userdata);
  for (int i = 0; i < cfg_.io_threads; ++i) {
    io_.push_back(std::make_unique<IoThread>(i));
    engines_.push_back(std::make_unique<Engine>(*this, *io_.back(), cfg_, tls_.get(), i));
  }
  for (int i = 0; i < cfg_.io_threads; ++i) {
    io_[i]->start();
    Engine *e = engines_[i].get();
    Endpoint ep = cfg_.seeds.front();
    io_[i]->post([e, ep] { e->start(ep); });
  }
}

void Client::detect_mode() {
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
  const std::string &info = reply->str;
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
  std::string server_mode = field("redis_mode");
  if (server_mode == "cluster" && cfg_.mode == Mode::auto_detect)
    throw Error(Status::unsupported, "the server at " + cfg_.seeds.front().str() +
                                         " is a cluster node; mode=cluster is not built yet in this version of rcm");
  if (server_mode == "sentinel")
    throw Error(Status::unsupported, "the server at " + cfg_.seeds.front().str() +
                                         " is a Sentinel; mode=sentinel is not built yet in this version of rcm");
  mode_ = Mode::standalone;
}

void Client::close() {
  std::lock_guard<std::mutex> lk(close_mu_);
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  if (forked()) {
    // The I/O threads live in the parent; here their memory is only a copy. Leak it.
    for (auto &io : io_) io.release();
    for (auto &e : engines_) e.release();
    return;
  }
  for (size_t i = 0; i < io_.size(); ++i) {
    Engine *e = engines_[i].get();
    io_[i]->stop([e] { e->shutdown(); });
  }
  engines_.clear();
  io_.clear();
  events_.reset();
}

Engine &Client::pick_engine() {
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
  size_t len0 = argvlen ? argvlen[0] : std::strlen(argv[0]);
  if (len0 == 0) throw Error(Status::arg, "argv[0] (the command name) is empty");
  CommandInfo info = commands().classify(argc, argv, argvlen);
  if (!for_lease) {
    std::string name(argv[0], len0);
    if (info.flags & kCmdBlocking)
      throw Error(Status::arg, name + " blocks its connection: send it on a lease (rcm_lease_acquire)");
    bool pipeline_ok = in_pipeline && (info.flags & (kCmdMulti | kCmdExecEnd));
    if ((info.flags & kCmdStateful) && !pipeline_ok)
      throw Error(Status::arg, name + " changes the connection's state: send it on a lease (rcm_lease_acquire)");
  }
  auto *r = new Request();
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
  if (info.flags & kCmdSubscribe) {
    std::string n = lower_name(argv[0], len0);
    if (n.find("unsubscribe") == std::string::npos && argc > 2) r->extra_replies = argc - 2;
    if (n.find("unsubscribe") != std::string::npos && argc > 2) r->extra_replies = argc - 2;
  }
  return r;
}

Status Client::execute(Request *r, Reply **out, std::string *err) {
  SyncCall call;
  r->done = &sync_done;
  r->ctx = &call;
  Engine &e = pick_engine();
  r->engine = &e;
  if (closed() || !e.io().post(&Engine::submit_task, r)) {
    delete r;
    *out = nullptr;
    if (err) *err = "client closed";
    return Status::closed;
  }
  return wait_sync(call, out, err);
}

Status Client::execute_async(Request *r, std::string *err) {
  Engine &e = pick_engine();
  r->engine = &e;
  if (closed() || !e.io().post(&Engine::submit_task, r)) {
    delete r;
    if (err) *err = "client closed";
    return Status::closed;
  }
  return Status::ok;
}

Status Client::execute_batch(std::vector<Request *> &reqs, std::vector<Reply *> &out, std::string *err) {
  out.assign(reqs.size(), nullptr);
  if (reqs.empty()) return Status::ok;
  BatchCall call;
  call.left = reqs.size();
  call.replies = &out;
  bool has_multi = false;
  for (Request *r : reqs)
    if (r->cmd.flags & kCmdMulti) has_multi = true;
  auto *batch = new Batch();
  Engine &e = pick_engine();
  batch->engine = &e;
  for (size_t i = 0; i < reqs.size(); ++i) {
    Request *r = reqs[i];
    r->slot = i;
    r->done = &batch_done;
    r->ctx = &call;
    r->engine = &e;
    // A transaction must not be split over connections by a resend.
    r->pinned = has_multi;
  }
  batch->requests = reqs;
  reqs.clear();
  if (closed() || !e.io().post(&Engine::submit_batch_task, batch)) {
    for (Request *r : batch->requests) delete r;
    delete batch;
    if (err) *err = "client closed";
    return Status::closed;
  }
  call.baton.wait();
  return Status::ok;
}

std::unique_ptr<Lease> Client::acquire_lease(const char *, size_t, Status *status, std::string *err) {
  Engine &e = pick_engine();
  LeaseWaiter w;
  if (closed() || !e.io().post([&e, &w] { e.acquire_lease(&w); })) {
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

std::string Client::stats_json() {
  std::vector<NodeSnapshot> all;
  for (size_t i = 0; i < engines_.size(); ++i) {
    Engine *e = engines_[i].get();
    std::vector<NodeSnapshot> part;
    if (closed() || !io_[i]->run_sync([&] { part = e->snapshot(); })) throw Error(Status::closed, "client closed");
    for (auto &s : part) {
      auto it = std::find_if(all.begin(), all.end(), [&](const NodeSnapshot &x) { return x.address == s.address; });
      if (it == all.end()) {
        all.push_back(std::move(s));
        continue;
      }
      it->connections += s.connections;
      it->connected += s.connected;
      it->in_flight += s.in_flight;
      it->queued += s.queued;
      it->leases_total += s.leases_total;
      it->leases_in_use += s.leases_in_use;
      it->lease_waiters += s.lease_waiters;
      it->up = it->up || s.up;
      it->stats.merge(s.stats);
    }
  }
  JsonWriter j;
  j.begin_object();
  j.key("mode").value(mode_name(mode_));
  j.key("io_threads").value(static_cast<long long>(io_.size()));
  j.key("servers").begin_array();
  for (const NodeSnapshot &s : all) {
    j.begin_object();
    j.key("address").value(s.address);
    j.key("role").value(s.role);
    j.key("up").value(s.up);
    j.key("connections").value(static_cast<long long>(s.connections));
    j.key("connected").value(static_cast<long long>(s.connected));
    j.key("in_flight").value(static_cast<long long>(s.in_flight));
    j.key("queued").value(static_cast<long long>(s.queued));
    j.key("leases_total").value(static_cast<long long>(s.leases_total));
    j.key("leases_in_use").value(static_cast<long long>(s.leases_in_use));
    j.key("lease_waiters").value(static_cast<long long>(s.lease_waiters));
    j.key("requests").value(static_cast<long long>(s.stats.requests));
    j.key("replies").value(static_cast<long long>(s.stats.replies));
    j.key("server_errors").value(static_cast<long long>(s.stats.server_errors));
    j.key("retries").value(static_cast<long long>(s.stats.retries));
    j.key("reconnects").value(static_cast<long long>(s.stats.reconnects));
    j.key("connect_failures").value(static_cast<long long>(s.stats.connect_failures));
    j.key("errors").begin_object();
    for (const auto &kv : s.stats.errors) j.key(status_name(kv.first)).value(static_cast<long long>(kv.second));
    j.end_object();
    j.key("latency_us").begin_object();
    j.key("count").value(static_cast<long long>(s.stats.latency.count()));
    j.key("p50").value(static_cast<long long>(s.stats.latency.percentile(50)));
    j.key("p99").value(static_cast<long long>(s.stats.latency.percentile(99)));
    j.end_object();
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return j.str();
}

std::string Client::topology_json() {
  std::vector<NodeSnapshot> nodes;
  if (engines_.empty() || closed() || !io_[0]->run_sync([&] { nodes = engines_[0]->snapshot(); }))
    throw Error(Status::closed, "client closed");
  JsonWriter j;
  j.begin_object();
  j.key("mode").value(mode_name(mode_));
  j.key("server_version").value(server_version_);
  j.key("nodes").begin_array();
  for (const NodeSnapshot &s : nodes) {
    j.begin_object();
    j.key("address").value(s.address);
    j.key("role").value(s.role);
    j.key("state").value(s.up ? "up" : "down");
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return j.str();
}

// ---- lease --------------------------------------------------------------------------

Lease::Lease(std::shared_ptr<Client> client, Engine *engine, Connection *conn)
    : client_(std::move(client)), engine_(engine), conn_(conn), inbox_(conn->inbox()) {}

Lease::~Lease() { release(); }

Status Lease::command(int argc, const char *const *argv, const size_t *argvlen, Reply **out) {
  *out = nullptr;
  if (released_) throw Error(Status::state, "the lease was released");
  if (client_->closed()) throw Error(Status::closed, "client closed");
  Request *r = client_->make_request(argc, argv, argvlen, true);
  SyncCall call;
  r->done = &sync_done;
  r->ctx = &call;
  r->engine = engine_;
  r->lease = conn_;
  r->pinned = true;
  if (!engine_->io().post(&Engine::submit_lease_task, r)) {
    delete r;
    throw Error(Status::closed, "client closed");
  }
  std::string err;
  Status st = wait_sync(call, out, &err);
  if (st != Status::ok) throw Error(st, err);
  return st;
}

Status Lease::read(int timeout_ms, Reply **out) {
  *out = nullptr;
  if (released_) throw Error(Status::state, "the lease was released");
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
  if (client_->closed()) return;
  Engine *e = engine_;
  Connection *c = conn_;
  e->io().post([e, c] { e->release_lease(c); });
}

}  // namespace rcm::core
