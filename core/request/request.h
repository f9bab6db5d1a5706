// One command's life inside rcm. Created by the caller's thread, handed to an I/O thread,
// and from then on touched only there. It completes exactly once.
//
// Every layer from net/ up handles requests, so the type lives below them all (above
// route/, whose routing facts it carries). The Engine, Connection and NodePool pointers
// are opaque here: only the layer that defines each type dereferences it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/common/recycled.h"
#include "core/common/status.h"
#include "core/request/payload.h"
#include "core/resp/reply.h"
#include "core/route/command_table.h"
#include "core/route/router.h"

#include <memory>
#include <set>
#include <vector>

namespace rcm::core {

using Clock = std::chrono::steady_clock;

class Connection;
class Engine;
class NodePool;
struct NodeStats;

// A read that missed the client-side cache: the entries its reply fills (one per key;
// MGET: one per element) and each key's invalidation epoch, taken before it was sent.
struct CacheTicket {
  std::string variant;            // the command and its arguments other than the key
  std::vector<std::string> keys;
  std::vector<uint64_t> epochs;
  bool write = false;  // not a read: a write whose keys are dropped when sent and when acknowledged
  bool flush = false;  // FLUSHALL / FLUSHDB: everything is dropped
  void *flight = nullptr;  // core/cache's CacheFlight this read leads (other readers wait for its reply)
};

// Recycled: made on the caller's thread, freed on an I/O thread (common/recycled.h).
struct Request : Recycled<Request> {
  // Receives the outcome: reply is the server's reply (status ok) or an error reply rcm
  // made (status != ok). The receiver owns reply.
  using DoneFn = void (*)(Request *req, Status status, Reply *reply);

  Payload payload;              // encoded RESP
  CommandInfo cmd;
  Clock::time_point created;
  Clock::time_point deadline = Clock::time_point::max();
  Clock::time_point answered{};  // when its reply was read (net/); the epoch: not yet
  DoneFn done = nullptr;
  void *ctx = nullptr;          // for done
  void *user = nullptr;         // for done (async: the caller's userdata)
  size_t index = 0;             // index in a pipeline; a tag for rcm's own requests
  Engine *engine = nullptr;
  Connection *lease = nullptr;  // lease requests: only this connection
  NodeStats *stats = nullptr;   // the node it was sent to (I/O thread)
  NodePool *sent_to = nullptr;  // likewise
  uint64_t offset = 0;          // where its bytes start in the connection's output stream
  int attempts = 0;             // times written to a socket
  int connect_failures = 0;     // reconnects that failed while it waited unsent
  int refs = 1;                 // holders on the I/O thread (queue, deadline heap)
  int extra_replies = 0;        // SUBSCRIBE a b: confirmations after the first
  bool unsubscribe_all = false; // (P|S)UNSUBSCRIBE without arguments: one confirmation per subscription
  // A subscribe-family command of a subscriber connection: the confirmations still due,
  // each "<kind index><name>" (connection.cpp's kConfirmations); it completes when empty.
  std::unique_ptr<std::multiset<std::string>> sub_due;
  bool completed = false;
  bool pinned = false;          // never resend on another connection
  bool internal = false;        // rcm's own (handshake, health check)
  bool fanned_out = false;      // split into parts that carry its deadline (engine_fanout.cpp)

  // Client-side caching (core/cache decides; the layers below only carry it).
  bool no_cache = false;        // the caller bypasses the cache (RCM_CALL_NO_CACHE)
  bool track = false;           // its reply may be stored: its connection must track its keys
  uint64_t track_gen = 0;       // net: the node's tracking generation it was read under; 0 = untracked
  std::unique_ptr<CacheTicket> cache;  // what its reply fills, and each key's epoch before it was sent

  // A unit: requests that travel together, in order, on one connection (a pipeline's
  // requests for one node, a MULTI ... EXEC block, ASKING + its command). Members share a
  // nonzero id. While a unit is queued (a pool's waiting_, the engine's unrouted_, a
  // resend list) only its head is in the queue and holds the others here, with their
  // references: whoever dispatches the head dispatches the whole unit.
  uint64_t unit = 0;
  std::unique_ptr<std::vector<Request *>> unit_tail;

  // Cluster routing.
  RouteKind route = RouteKind::automatic;
  Aggregate agg = Aggregate::none;
  int slot = -1;
  std::string route_node;                     // RouteKind::node: "host:port"
  // A part of an every-primary fan-out: it stands for route_node's shard, so once the map
  // has that node as a replica (demoted by a failover) it goes to the shard's primary.
  bool follows_shard = false;
  std::unique_ptr<std::vector<SubCommand>> split;  // one request per slot instead of this one
  int redirects = 0;                          // MOVED/ASK followed
  int transient_retries = 0;                  // TRYAGAIN/LOADING/... retried
  int refused = 0;                            // sends answered "not executed" (MOVED, CLUSTERDOWN...)
  std::string last_error;                     // the last such answer, for the timeout message
  std::string ask_node;                       // set by ASK: send ASKING + this, once, there

  bool has_deadline() const { return deadline != Clock::time_point::max(); }
  // Sent at least once without an answer that says it did not run.
  bool maybe_executed() const { return attempts > refused; }
  // What retry.max_attempts bounds: sends and the failed reconnects waited for. Kept
  // apart so that a request that only met refused reconnects still says it was not sent.
  int tries() const { return attempts + connect_failures; }
};

// Completes r once (later calls only free the reply).
void request_complete(Request *r, Status status, Reply *reply);
void request_fail(Request *r, Status status, const std::string &message);
inline void request_ref(Request *r) { ++r->refs; }
void request_release(Request *r);

// A fresh nonzero unit id (any thread).
uint64_t unit_next_id();
// A transaction (its pinned requests) travels whole or not at all: once one of them
// ended early (its deadline), the others fail unsent; so does an ASKING whose command
// ended.
void unit_settle(const std::vector<Request *> &unit);
// Makes reqs (in order, each with the caller's reference) one queued unit: returns the
// head, which holds the others. Completed requests are dropped; nullptr if none is left.
Request *unit_pack(const std::vector<Request *> &reqs);
// The reverse: appends the head and the members it held to out, in order, each with
// one reference, and detaches them.
void unit_unpack(Request *head, std::vector<Request *> &out);
// Number of requests a queue entry stands for.
inline size_t unit_size(const Request *head) { return 1 + (head->unit_tail ? head->unit_tail->size() : 0); }

}  // namespace rcm::core
