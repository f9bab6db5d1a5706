// Everything one I/O thread owns: the node pools, the deadline timers, the periodic tick.
// Every method runs on that thread unless it says otherwise.
#pragma once

#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "core/client/request.h"
#include "core/config/config.h"
#include "core/pool/node_pool.h"

struct event;

namespace rcm::core {

class Client;
class IoThread;
class TlsContext;

class Engine {
 public:
  Engine(Client &client, IoThread &io, const Config &cfg, const TlsContext *tls, int index);
  ~Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  // Loop thread: builds the pools and starts connecting.
  void start(const Endpoint &primary);

  const Config &config() const { return cfg_; }
  IoThread &io() { return io_; }
  const TlsContext *tls() const { return tls_; }
  int index() const { return index_; }
  int shared_connections_per_node() const;

  // Task entry points (posted from caller threads; arg is a Request* / Batch*).
  static void submit_task(void *arg);
  static void submit_batch_task(void *arg);
  static void submit_lease_task(void *arg);

  void submit(Request *r);
  void on_reply(Request *r, Reply *reply);
  void on_node_ready(NodePool &pool);
  void on_node_down(NodePool &pool, Status why, const std::string &message);
  void emit_event(int kind, const std::string &node, const std::string &detail);

  // Connections with bytes to write; flushed once per loop iteration, before the loop
  // polls again, so everything queued meanwhile leaves in one write.
  void want_flush(Connection *c);
  void forget_flush(Connection *c);
  static constexpr size_t kReadBufferSize = 64 * 1024;
  char *read_buffer() { return read_buf_.get(); }

  void acquire_lease(LeaseWaiter *w);
  void release_lease(Connection *c);
  void shutdown();
  std::vector<NodeSnapshot> snapshot() const;

 private:
  void watch_deadline(Request *r);
  void arm_deadline_timer();
  void expire(Clock::time_point now);
  static void on_deadline(int, short, void *arg);
  static void on_tick(int, short, void *arg);
  static void on_command_table(Request *r, Status status, Reply *reply);
  static void on_flush(int, short, void *arg);
  NodePool *route(Request *r);

  Client &client_;
  IoThread &io_;
  const Config &cfg_;
  const TlsContext *tls_;
  int index_;
  std::unique_ptr<NodePool> primary_;
  using Deadline = std::pair<Clock::time_point, Request *>;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<Deadline>> deadlines_;
  event *deadline_timer_ = nullptr;
  Clock::time_point armed_for_ = Clock::time_point::max();
  event *tick_ = nullptr;
  event *flush_ev_ = nullptr;
  std::vector<Connection *> dirty_;
  std::unique_ptr<char[]> read_buf_{new char[kReadBufferSize]};
  bool asked_commands_ = false;
  bool shut_ = false;
};

// A pipeline on its way to an I/O thread.
struct Batch {
  Engine *engine = nullptr;
  std::vector<Request *> requests;
};

}  // namespace rcm::core
