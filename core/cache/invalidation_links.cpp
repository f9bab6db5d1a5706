#include "core/cache/invalidation_links.h"

#include <algorithm>
#include <random>

#include "core/net/pubsub_frames.h"

namespace rcm::core {

namespace {
constexpr const char kChannel[] = "__redis__:invalidate";

int backoff_ms(const Config &cfg, int failures) {
  long long d = std::max(cfg.retry_backoff_ms, 1);
  const long long cap = std::max(cfg.retry_backoff_max_ms, 1);
  for (int i = 1; i < failures && d < cap; ++i) d *= 2;
  return static_cast<int>(std::min(d, cap));
}
}  // namespace

InvalidationLinks::InvalidationLinks(Cache &cache, PoolOwner &owner) : cache_(cache), owner_(owner) {}

InvalidationLinks::~InvalidationLinks() { shutdown(); }

void InvalidationLinks::shutdown() {
  if (shut_) return;
  shut_ = true;
  for (auto &kv : links_) {
    Link &l = *kv.second;
    if (!l.conn) continue;
    l.conn->set_push_handler(nullptr, nullptr, nullptr);
    l.conn->shutdown(Status::closed, "client closed");
  }
}

void InvalidationLinks::want(CacheNode *node) {
  if (shut_ || links_.count(node->addr)) return;
  Endpoint ep;
  if (!try_parse_endpoint(node->addr, &ep)) return;
  auto l = std::make_unique<Link>();
  l->self = this;
  l->node = node;
  l->target.endpoint = ep;
  l->target.stats = &l->stats;
  l->conn = std::make_unique<Connection>(owner_.io_context(), l->target, *this, Connection::Role::subscriber);
  l->conn->set_push_handler(&InvalidationLinks::on_push, nullptr, l.get());
  Connection *c = l->conn.get();
  links_.emplace(node->addr, std::move(l));
  c->connect();
}

void InvalidationLinks::tick(Clock::time_point now) {
  if (shut_) return;
  const Config &cfg = owner_.io_context().cfg;
  const int timeout = std::max(cfg.command_timeout_ms, 1000);
  std::vector<Connection *> conns;
  for (auto &kv : links_)
    if (kv.second->conn && kv.second->conn->ready()) conns.push_back(kv.second->conn.get());
  for (Connection *c : conns) c->health_check(now, cfg.pool_health_check_ms, timeout);
}

InvalidationLinks::Link *InvalidationLinks::link_of(Connection *c) {
  for (auto &kv : links_)
    if (kv.second->conn.get() == c) return kv.second.get();
  return nullptr;
}

void InvalidationLinks::on_connection_ready(Connection *c) {
  Link *l = link_of(c);
  if (l == nullptr || shut_) return;
  const char *argv[] = {"CLIENT", "ID"};
  size_t lens[] = {6, 2};
  c->send_request(2, argv, lens, &InvalidationLinks::on_client_id, l);
}

void InvalidationLinks::on_client_id(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  Link &l = *static_cast<Link *>(r->ctx);
  if (status != Status::ok || reply == nullptr || reply->kind != ReplyKind::integer || l.self->shut_) return;
  l.id = reply->integer;
  l.conn->send_subscription("SUBSCRIBE", {kChannel}, &InvalidationLinks::on_subscribed, &l);
}

// Listening now: tracked reads may be redirected here. The new generation makes every
// connection send CLIENT TRACKING again, naming this connection.
void InvalidationLinks::on_subscribed(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  Link &l = *static_cast<Link *>(r->ctx);
  if (status != Status::ok || l.self->shut_ || l.id == 0) return;
  if (r->sub_due && !r->sub_due->empty()) return;
  l.failures = 0;
  l.node->tracking.redirect.store(l.id, std::memory_order_release);
  l.node->tracking.reset();
  l.node->subscribed.store(true, std::memory_order_release);
}

// Whatever the server tracked for us may now change unannounced: every entry of the node
// goes before any further hit, and tracking restarts once a new connection listens.
void InvalidationLinks::lost(Link &l) {
  l.id = 0;
  l.node->subscribed.store(false, std::memory_order_release);
  l.node->tracking.redirect.store(0, std::memory_order_release);
  cache_.reset_node(l.node);
}

void InvalidationLinks::on_connection_down(Connection *c, Status why, const std::string &message,
                                           std::vector<Request *> &resend, bool) {
  for (Request *r : resend) {
    request_fail(r, why, message);
    request_release(r);
  }
  resend.clear();
  Link *l = link_of(c);
  if (l == nullptr) return;
  lost(*l);
  if (shut_) return;
  l->failures++;
  c->schedule_reconnect(backoff_ms(owner_.io_context().cfg, l->failures));
}

void InvalidationLinks::on_reply(Request *r, Reply *reply) {
  delete reply;
  request_complete(r, Status::ok, nullptr);
}

// [message, __redis__:invalidate, [key...]] or, for FLUSHALL / FLUSHDB, a nil payload.
void InvalidationLinks::on_push(void *ctx, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  Link &l = *static_cast<Link *>(ctx);
  if (l.self->shut_ || reply->kind != ReplyKind::array || reply->elements.size() != 3) return;
  const Reply *kind = reply->elements[0];
  const Reply *chan = reply->elements[1];
  const Reply *payload = reply->elements[2];
  if (kind == nullptr || kind->str != "message" || chan == nullptr || chan->str != kChannel) return;
  if (payload == nullptr || payload->kind == ReplyKind::nil) {
    l.self->cache_.reset_node(l.node);
    return;
  }
  if (payload->kind == ReplyKind::string) {
    l.self->cache_.invalidate(std::string(payload->str), l.node);
    return;
  }
  for (const Reply *k : payload->elements)
    if (k != nullptr) l.self->cache_.invalidate(std::string(k->str), l.node);
}

}  // namespace rcm::core
