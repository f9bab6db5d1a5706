// The engine's fan-outs: one request sent to every primary (or node), or split by slot,
// and its parts' replies combined into one (Aggregate). I/O thread of the engine only.
#include <memory>
#include <string>
#include <vector>

#include "core/client/client.h"
#include "core/client/engine.h"

namespace rcm::core {

struct Engine::FanOut {
  Request *parent = nullptr;  // holds a reference
  Aggregate agg = Aggregate::none;
  size_t left = 0;
  size_t keys = 0;
  std::vector<Reply *> parts;
  std::vector<std::string> nodes;
  std::vector<std::vector<uint32_t>> key_index;
  Status failure = Status::ok;
  std::string failure_message;
};

void Engine::fan_out(Request *r) {
  auto *f = new FanOut();
  f->parent = r;  // our reference
  f->keys = 0;
  std::vector<std::pair<std::string, int>> targets;  // payload owner: node or slot
  std::vector<Request *> parts;
  auto make_part = [&](const Payload &payload) {
    auto *p = new Request();
    p->payload = payload;
    p->cmd = r->cmd;
    p->created = r->created;
    p->deadline = r->deadline;
    p->engine = this;
    p->done = &Engine::on_fanout_part;
    p->ctx = f;
    p->slot = -1;
    p->pinned = r->pinned;
    p->user = reinterpret_cast<void *>(parts.size());
    parts.push_back(p);
    return p;
  };
  if (r->split) {
    f->agg = r->agg;
    for (SubCommand &sc : *r->split) {
      Payload payload;
      payload.append(sc.payload.data(), sc.payload.size());
      Request *p = make_part(payload);
      p->route = RouteKind::slot;
      p->slot = sc.slot;
      f->key_index.push_back(std::move(sc.key_index));
      f->keys += f->key_index.back().size();
    }
    r->split.reset();
  } else if (!topo_) {
    f->agg = r->agg == Aggregate::none ? Aggregate::per_node : r->agg;
    Request *p = make_part(r->payload);
    p->route = RouteKind::node;
    p->route_node = primary_->endpoint().str();
    f->nodes.push_back(p->route_node);
  } else {
    f->agg = r->agg == Aggregate::none ? Aggregate::per_node : r->agg;
    for (const Shard &s : topo_->shards) {
      if (s.ranges.empty()) continue;
      Request *p = make_part(r->payload);
      p->route = RouteKind::node;
      p->route_node = s.primary.endpoint.str();
      // Every primary: the shard's primary wherever a failover puts it (not so for every
      // node, whose parts name each node of the shard already).
      p->follows_shard = r->route != RouteKind::all_nodes;
      f->nodes.push_back(p->route_node);
      if (r->route == RouteKind::all_nodes) {
        for (const ClusterNode &n : s.replicas) {
          Request *q = make_part(r->payload);
          q->route = RouteKind::node;
          q->route_node = n.endpoint.str();
          f->nodes.push_back(q->route_node);
          pool_for(n.endpoint, NodePool::Kind::replica);
        }
      }
    }
  }
  f->parts.assign(parts.size(), nullptr);
  f->left = parts.size();
  if (parts.empty()) {
    finish_fanout(f);
    return;
  }
  r->fanned_out = true;
  for (Request *p : parts) {
    watch_deadline(p);
    dispatch(p);
  }
}

// A part sent to a primary that a failover demoted meanwhile is refused (READONLY) and
// retried; without this it would be retried on the same node until its deadline even
// after the refresh that READONLY asked for has named the shard's new primary.
void Engine::follow_shard(Request *part) {
  Endpoint ep;
  if (!topo_ || !try_parse_endpoint(part->route_node, &ep)) return;
  for (const Shard &s : topo_->shards) {
    if (s.ranges.empty()) continue;
    for (const ClusterNode &n : s.replicas) {
      if (n.endpoint != ep) continue;
      part->route_node = s.primary.endpoint.str();
      return;
    }
  }
}

void Engine::on_fanout_part(Request *part, Status status, Reply *reply) {
  auto *f = static_cast<FanOut *>(part->ctx);
  size_t i = reinterpret_cast<size_t>(part->user);
  if (i < f->nodes.size()) f->nodes[i] = part->route_node;  // the node that answered (follow_shard)
  if (status != Status::ok) {
    if (f->failure == Status::ok) {
      f->failure = status;
      f->failure_message = reply ? std::string(reply->str) : status_name(status);
      // which of the nodes failed: the others may have applied the command
      if (!part->route_node.empty()) f->failure_message = part->route_node + ": " + f->failure_message;
    }
    delete reply;
  } else {
    f->parts[i] = reply;
  }
  if (--f->left == 0) finish_fanout(f);
}

void Engine::finish_fanout(FanOut *f) {
  std::unique_ptr<FanOut> owned(f);
  Request *parent = f->parent;
  auto free_parts = [&] {
    for (Reply *p : f->parts) delete p;
    f->parts.clear();
  };
  if (f->failure != Status::ok) {
    free_parts();
    request_fail(parent, f->failure, f->failure_message);
    request_release(parent);
    return;
  }
  Reply *out = nullptr;
  if (f->agg != Aggregate::per_node) {
    for (Reply *&p : f->parts) {
      if (p && p->is_error()) {  // one part's server error is the answer
        out = p;
        p = nullptr;
        break;
      }
    }
  }
  if (out == nullptr) {
    switch (f->agg) {
      case Aggregate::none:
      case Aggregate::first:
        out = f->parts.empty() ? Reply::make_status("OK") : f->parts[0];
        if (!f->parts.empty()) f->parts[0] = nullptr;
        break;
      case Aggregate::sum: {
        long long sum = 0;
        for (Reply *p : f->parts)
          if (p) sum += p->integer;
        out = Reply::make_integer(sum);
        break;
      }
      case Aggregate::concat:
        out = Reply::make_array();
        for (Reply *p : f->parts) {
          if (!p) continue;
          for (Reply *e : p->elements) out->elements.push_back(e);
          p->elements.clear();
        }
        break;
      case Aggregate::key_order:
        out = Reply::make_array();
        out->elements.assign(f->keys, nullptr);
        for (size_t i = 0; i < f->parts.size(); ++i) {
          Reply *p = f->parts[i];
          if (!p) continue;
          for (size_t j = 0; j < p->elements.size() && j < f->key_index[i].size(); ++j) {
            out->elements[f->key_index[i][j]] = p->elements[j];
            p->elements[j] = nullptr;
          }
        }
        for (Reply *&e : out->elements)
          if (e == nullptr) e = new Reply(ReplyKind::nil);
        break;
      case Aggregate::all_ok:
        out = Reply::make_status("OK");
        break;
      case Aggregate::per_node:
        out = Reply::make_array();
        for (size_t i = 0; i < f->parts.size(); ++i) {
          Reply *pair = Reply::make_array();
          pair->elements.push_back(Reply::make_string(i < f->nodes.size() ? f->nodes[i] : ""));
          pair->elements.push_back(f->parts[i] ? f->parts[i] : new Reply(ReplyKind::nil));
          f->parts[i] = nullptr;
          out->elements.push_back(pair);
        }
        break;
    }
  }
  free_parts();
  if (parent->cache && !parent->completed) parent->engine->client().cache_reply(parent, out);
  request_complete(parent, Status::ok, out);
  request_release(parent);
}

}  // namespace rcm::core
