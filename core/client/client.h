// The client: configuration, I/O threads and their engines, and the calls the C API
// makes (sync, async, pipeline, lease, introspection). Thread-safe unless stated.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/cache/cache.h"
#include "core/request/request.h"
#include "core/config/config.h"
#include "core/pubsub/pubsub.h"
#include "core/route/command_table.h"
#include "core/topology/cluster_topology.h"

namespace rcm::core {

class Engine;
class IoThread;
class TlsContext;
class Connection;
struct LeaseInbox;

// Delivers events on a thread of its own, so the callback may block and no I/O thread
// ever waits for user code.
class EventDispatcher {
 public:
  EventDispatcher(EventCallback cb, void *userdata);
  // Delivers what is queued, then joins the thread. On the event thread itself (the
  // callback closed its client) it cannot join: it drops what is queued and detaches, and
  // the thread ends when the callback returns.
  ~EventDispatcher();
  void push(int kind, std::string node, std::string detail);

 private:
  struct Event {
    int kind;
    std::string node, detail;
  };
  // Shared with the thread, which may outlive the dispatcher (see the destructor).
  struct State {
    EventCallback cb;
    void *userdata;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Event> queue;  // guarded by mu
    bool stop = false;        // guarded by mu
  };
  static void run(const std::shared_ptr<State> &state);
  std::shared_ptr<State> state_;
  std::thread thread_;
};

class Client;

// An exclusive connection. One thread at a time.
class Lease {
 public:
  Lease(std::shared_ptr<Client> client, Engine *engine, Connection *conn);
  ~Lease();
  Status command(int argc, const char *const *argv, const size_t *argvlen, Reply **out);
  // Queues one command on the lease; done(r, status, reply) runs once on the I/O thread.
  // Throws Error (released, forked, closed, bad argv) when nothing was queued.
  void submit(int argc, const char *const *argv, const size_t *argvlen, Request::DoneFn done, void *ctx,
              void *user);
  Status read(int timeout_ms, Reply **out);
  void release();
  const Client &client() const { return *client_; }

 private:
  std::shared_ptr<Client> client_;
  Engine *engine_;
  Connection *conn_;
  std::shared_ptr<LeaseInbox> inbox_;
  bool released_ = false;
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  using AsyncDone = Request::DoneFn;

  // Connects, handshakes and recognises the deployment. Throws Error.
  static std::shared_ptr<Client> open(const Config &cfg);
  ~Client();
  void close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  // True on one of this client's I/O threads (inside a callback).
  bool on_io_thread() const;
  // True in a child process forked after open: the I/O threads do not exist there.
  bool forked() const;
  // Throws Error(state) on one of this client's I/O threads: a call that waits for a
  // reply there waits for the thread it blocks, forever. `what` names the call.
  void check_may_block(const char *what) const;
  // Throws Status::state on an I/O thread: a snapshot waits for every I/O thread.
  void check_snapshot_allowed(const char *what) const;

  // The most one command may carry (all arguments together): 4 GiB, above what any
  // server's proto-max-bulk-len and client-query-buffer-limit let through in practice.
  static constexpr size_t kMaxCommandBytes = size_t{1} << 32;

  // A request for argv, classified and encoded. Throws Error(arg) for commands that must
  // not run on a shared connection (for_lease false) or bad argv (a NULL argument, a
  // total length above kMaxCommandBytes, a key count larger than the arguments).
  Request *make_request(int argc, const char *const *argv, const size_t *argvlen, bool for_lease,
                        bool in_pipeline = false) const;

  // Sends r and waits. On ok *out is the reply; otherwise *out is null and err says why.
  Status execute(Request *r, Reply **out, std::string *err);
  // Sends r; done(r, status, reply) runs once on an I/O thread with r->ctx/r->user as given.
  Status execute_async(Request *r, std::string *err);
  // Sends a pipeline and waits for every reply (failures become error replies).
  Status execute_batch(std::vector<Request *> &reqs, std::vector<Reply *> &out, std::string *err);

  std::unique_ptr<Lease> acquire_lease(const char *key, size_t keylen, Status *status, std::string *err);

  // Cluster topology, from engine 0's refresher (its thread).
  void publish_topology(std::shared_ptr<const ClusterTopology> topo, std::shared_ptr<const ClusterTopology> previous,
                        bool changed);
  void topology_failed(Status status, const std::string &message);
  // Raft / Sentinel, from engine 0's tracker (its thread).
  void publish_primary(const Endpoint &ep, const std::vector<Endpoint> &replicas, const std::string &old,
                       const std::string &cause);
  void primary_not_found(Status status, const std::string &message);
  void primary_hint(const Endpoint &ep, const std::string &cause);  // any I/O thread
  void request_refresh(const std::string &reason);  // any I/O thread
  Mode mode() const { return mode_; }

  // Pub/Sub: a subscriber (fn null: pull mode). Throws Error(closed) once closed.
  std::shared_ptr<Subscriber> open_subscriber(Subscriber::DeliverFn fn, void *ctx);
  std::shared_ptr<PubSub> pubsub() const { return pubsub_; }

  // Client-side caching (client_cache.cpp); cache() is null when cache.max_bytes is 0.
  Cache *cache() const { return cache_.get(); }
  // Caller's thread: a copy of the cached reply r asks for (r is then not sent), or null;
  // on a miss, r is marked to store its reply.
  // fill_only: not answered from the cache, only marked to store its reply.
  Reply *cache_serve(Request *r, bool fill_only = false);
  // Caller's thread, before any request is made (rcm_command): a hit, or null. Never in
  // a forked child: no invalidation reaches its copy of the cache.
  Reply *cache_fast(int argc, const char *const *argv, const size_t *argvlen) {
    return cache_ && !closed() && !forked() ? cache_->get_argv(argc, argv, argvlen) : nullptr;
  }
  // I/O thread, before r completes with the server's reply: stores a read's reply, or
  // drops a write's keys again now that it is acknowledged.
  void cache_reply(Request *r, const Reply *reply);
  // Any thread: engine 0 opens node's invalidation connection.
  void cache_want_link(CacheNode *node);
  // Single-flight (client_cache.cpp). Caller's thread, a missed read about to be sent:
  // false when it joined a read of its entry in flight (it is then answered with that
  // reply and must not be touched); true to send it (it may lead a flight).
  bool cache_fly(Request *r);
  // The flight r leads is over: its waiters get copies of reply (status ok) or are sent
  // on their own. r gets its own done back.
  void cache_land(Request *r, Status status, const Reply *reply);
  // r leads a flight but will not be sent (the client closed): its waiters fail so.
  void cache_ground(Request *r);

  std::string stats_json();
  std::string topology_json();

  const Config &config() const { return cfg_; }
  const CommandTable &commands() const { return *table_.load(std::memory_order_acquire); }
  bool learned_commands() const { return learned_.get() != nullptr; }
  void learn_commands(const Reply &command_reply);  // I/O thread of engine 0
  void emit_event(int kind, const std::string &node, const std::string &detail);

 private:
  Client(const Config &cfg, Mode mode);
  static Mode probe_mode(const Config &cfg);
  void start();
  void check_server();
  void wait_topology();
  // Hands reqs to one engine as a batch and waits until every one completed.
  Status run_batch(std::vector<Request *> &reqs, std::vector<Reply *> &out, std::string *err);
  // run_batch with the cache's hits answered in place and only the misses sent.
  Status run_batch_cached(std::vector<Request *> &reqs, std::vector<Reply *> &out, std::string *err);
  Engine &pick_engine();
  std::string role_of(const std::string &address, const std::string &fallback);

  Config cfg_;
  Mode mode_ = Mode::standalone;
  // Thread-safe; null when off. Before the engines: their connections point into it.
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<TlsContext> tls_;
  std::vector<std::unique_ptr<IoThread>> io_;
  std::vector<std::unique_ptr<Engine>> engines_;
  std::unique_ptr<EventDispatcher> events_;
  std::shared_ptr<PubSub> pubsub_;  // thread-safe; its manager lives on engine 0's thread
  std::atomic<const CommandTable *> table_;
  std::unique_ptr<const CommandTable> learned_;  // written once by engine 0's thread
  std::atomic<bool> closed_{false};
  std::mutex close_mu_;
  unsigned fork_generation_;
  std::string server_version_;
  std::string server_mode_;  // redis_mode from INFO (standalone, cluster, sentinel)

  std::mutex topo_mu_;
  std::condition_variable topo_cv_;
  std::shared_ptr<const ClusterTopology> topo_;  // guarded by topo_mu_
  std::string primary_addr_;                     // guarded by topo_mu_ (raft / sentinel)
  Status topo_status_ = Status::ok;              // guarded by topo_mu_
  std::string topo_error_;                       // guarded by topo_mu_
  bool topo_failed_once_ = false;                // guarded by topo_mu_
  std::atomic<uint64_t> refreshes_{0};
  // make_request's part: what r reads from or drops in the cache.
  void cache_plan(Request *r, int argc, const char *const *argv, const size_t *argvlen, bool for_lease) const;
  // Topology: the nodes whose slots changed owner lose their entries.
  void cache_topology_changed(const ClusterTopology *previous, const ClusterTopology &topo);
};

}  // namespace rcm::core
