// Finds the one writable node of a RedisRaft group (the leader) or of a Sentinel-managed
// set (the master), and finds it again when it moves. Lives on engine 0's I/O thread.
// Like the cluster refresher: one discovery round at a time, triggers coalesced, a
// minimum interval with jitter between rounds, backoff while nothing is found.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/pool/node_pool.h"
#include "core/request/request.h"
#include "core/topology/round_scheduler.h"

struct event;

namespace rcm::core {

class Connection;
class TopologyHost;

class PrimaryTracker {
 public:
  explicit PrimaryTracker(TopologyHost &host);
  virtual ~PrimaryTracker();
  void start();
  // Look again (the primary stopped answering, said it is not the primary, ...).
  void request(const std::string &reason);
  // Someone named the primary (a follower's MOVED, a +switch-master message).
  void hint(const Endpoint &ep, const std::string &cause);
  virtual void on_subscriber(Connection *, bool) {}

 protected:
  // Starts a round; it must end with found() or not_found().
  virtual void begin_round() = 0;
  void found(const Endpoint &primary, const std::vector<Endpoint> &replicas, const std::string &cause);
  void not_found(Status status, const std::string &why);
  // One of rcm's own commands to a node; done runs on this thread with ctx = this.
  void send(const Endpoint &ep, NodePool::Kind kind, const std::vector<std::string> &args, Request::DoneFn done,
            size_t tag = 0);
  bool round_open() const { return sched_.in_flight(); }
  // True for a reply to the round in flight (stale rounds' replies are ignored).
  bool current(const Request *r) const {
    return sched_.in_flight() && reinterpret_cast<uintptr_t>(r->user) == static_cast<uintptr_t>(round_id_);
  }

  TopologyHost &host_;
  std::string last_primary_;  // "host:port" published last

 private:
  void begin();

  void publish(const Endpoint &primary, const std::vector<Endpoint> &replicas, const std::string &cause);

  RoundScheduler sched_;
  uint64_t round_id_ = 0;
  uint64_t hints_ = 0;        // hints published so far
  uint64_t round_hints_ = 0;  // ... when the round in flight began
  int failures_ = 0;
};

// RedisRaft: INFO raft (RAFT.INFO on old modules) on every known member; the leader is a
// node that answers and says raft_role:leader. Members are learned from the peer lines.
class RaftTracker : public PrimaryTracker {
 public:
  explicit RaftTracker(TopologyHost &host);

 private:
  void begin_round() override;
  static void on_info(Request *r, Status status, Reply *reply);
  void settle();

  std::vector<Endpoint> members_;
  int outstanding_ = 0;
  Endpoint leader_;
  bool have_leader_ = false;
  std::string errors_;
  Status failure_ = Status::ok;
  int answered_ = 0;  // members that answered INFO raft this round
};

// Sentinel: SENTINEL get-master-addr-by-name on every sentinel; the address most of them
// name is checked first with ROLE on the node, then the others; SENTINEL replicas for
// read_from; +switch-master subscribed on every sentinel (the seeds and those they know
// of): only the failover's leader announces the switch at once, the others up to a hello
// period (~2 s) later, and any of them may be the leader.
class SentinelTracker : public PrimaryTracker {
 public:
  explicit SentinelTracker(TopologyHost &host);
  ~SentinelTracker() override;
  void on_subscriber(Connection *c, bool ready) override;

 private:
  void begin_round() override;
  static void on_master_addr(Request *r, Status status, Reply *reply);
  void vote(const Endpoint &named, size_t sentinel);
  void rank_answers();
  void try_candidate(size_t k);
  static void on_role(Request *r, Status status, Reply *reply);
  static void on_replicas(Request *r, Status status, Reply *reply);
  static void on_push(void *ctx, Reply *reply);
  static void on_sentinels(Request *r, Status status, Reply *reply);
  void listen(const Endpoint &sentinel);
  void conclude();

  struct Candidate {
    Endpoint node;    // a master some sentinel named this round
    int votes;        // how many named it
    size_t sentinel;  // the earliest seed that named it
  };
  int asking_ = 0;                     // sentinels yet to answer this round
  std::vector<Candidate> candidates_;  // ranked once all answered: most votes first
  size_t next_candidate_ = 0;          // the one ROLE is checking
  std::vector<Endpoint> replicas_;
  int waiting_ = 0;
  bool role_ok_ = false;
  std::string errors_;
  Status failure_ = Status::ok;
  struct Listener {
    Endpoint sentinel;
    std::unique_ptr<Connection> conn;  // subscribed to +switch-master
    int failures = 0;                  // connects in a row that did not get it subscribed
  };
  std::vector<Listener> listeners_;
};

}  // namespace rcm::core
