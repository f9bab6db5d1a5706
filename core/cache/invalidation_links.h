// Client-side caching: one invalidation connection per node whose reads the cache
// stores. Each asks CLIENT ID, subscribes to __redis__:invalidate (RESP2), and only then
// publishes its id as the node's redirect, so that no tracked read can be invalidated to
// a connection that does not listen yet. Lives on engine 0's I/O thread; every member is
// touched only there.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/cache/cache.h"
#include "core/net/connection.h"
#include "core/pool/pool_owner.h"
#include "core/request/stats.h"

namespace rcm::core {

class InvalidationLinks final : public ConnectionListener {
 public:
  // owner flushes the connections' writes (its loop) and lends its I/O context.
  InvalidationLinks(Cache &cache, PoolOwner &owner);
  ~InvalidationLinks();

  // Opens node's invalidation connection unless it has one.
  void want(CacheNode *node);
  void shutdown();
  // Engine 0's tick: a health check of every listening connection, so that a server that
  // stops answering without closing (frozen, cut off) counts as lost, its entries dropped.
  void tick(Clock::time_point now);

  void on_connection_ready(Connection *c) override;
  void on_connection_down(Connection *c, Status why, const std::string &message, std::vector<Request *> &resend,
                          bool was_ready) override;
  void on_reply(Request *r, Reply *reply) override;
  void want_flush(Connection *c) override { owner_.want_flush(c); }
  void forget_flush(Connection *c) override { owner_.forget_flush(c); }

 private:
  struct Link {
    InvalidationLinks *self = nullptr;
    CacheNode *node = nullptr;
    NodeStats stats;
    ConnectionTarget target;
    std::unique_ptr<Connection> conn;
    long long id = 0;
    int failures = 0;
  };
  Link *link_of(Connection *c);
  void lost(Link &l);
  static void on_client_id(Request *r, Status status, Reply *reply);
  static void on_subscribed(Request *r, Status status, Reply *reply);
  static void on_push(void *ctx, Reply *reply);

  Cache &cache_;
  PoolOwner &owner_;
  std::map<std::string, std::unique_ptr<Link>> links_;  // by "host:port"
  bool shut_ = false;
};

}  // namespace rcm::core
