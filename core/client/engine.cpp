#include "core/client/engine.h"

#include <event2/event.h>

#include <algorithm>

#include "core/client/client.h"
#include "core/net/connection.h"
#include "core/net/io_thread.h"
#include "core/resp/encoder.h"

namespace rcm::core {

namespace {
constexpr int kTickMs = 50;
}

Engine::Engine(Client &client, IoThread &io, const Config &cfg, const TlsContext *tls, int index)
    : client_(client), io_(io), cfg_(cfg), tls_(tls), index_(index) {}

Engine::~Engine() {
  shutdown();
  primary_.reset();
  while (!deadlines_.empty()) {
    request_release(deadlines_.top().second);
    deadlines_.pop();
  }
  if (deadline_timer_) event_free(deadline_timer_);
  if (tick_) event_free(tick_);
  if (flush_ev_) event_free(flush_ev_);
}

void Engine::want_flush(Connection *c) {
  dirty_.push_back(c);
  if (dirty_.size() == 1) event_active(flush_ev_, EV_TIMEOUT, 0);
}

void Engine::forget_flush(Connection *c) {
  dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end());
}

void Engine::on_flush(int, short, void *arg) {
  auto *e = static_cast<Engine *>(arg);
  // flush() may fail a connection, which resends elsewhere and dirties others: repeat.
  while (!e->dirty_.empty()) {
    std::vector<Connection *> batch;
    batch.swap(e->dirty_);
    for (Connection *c : batch) c->flush();
  }
}

int Engine::shared_connections_per_node() const {
  int n = (cfg_.pool_size + cfg_.io_threads - 1) / cfg_.io_threads;
  return n < 1 ? 1 : n;
}

void Engine::start(const Endpoint &primary) {
  deadline_timer_ = evtimer_new(io_.base(), &Engine::on_deadline, this);
  tick_ = event_new(io_.base(), -1, EV_PERSIST, &Engine::on_tick, this);
  flush_ev_ = event_new(io_.base(), -1, 0, &Engine::on_flush, this);
  timeval tv{0, kTickMs * 1000};
  event_add(tick_, &tv);
  primary_ = std::make_unique<NodePool>(*this, primary, NodePool::Kind::primary);
  primary_->start();
}

void Engine::submit_task(void *arg) {
  auto *r = static_cast<Request *>(arg);
  r->engine->submit(r);
}

void Engine::submit_batch_task(void *arg) {
  std::unique_ptr<Batch> b(static_cast<Batch *>(arg));
  Engine *e = b->engine;
  for (Request *r : b->requests) e->watch_deadline(r);
  if (e->shut_ || e->primary_ == nullptr) {
    for (Request *r : b->requests) {
      request_fail(r, Status::closed, "client closed");
      request_release(r);
    }
    return;
  }
  e->primary_->dispatch_batch(b->requests);
}

void Engine::submit_lease_task(void *arg) {
  auto *r = static_cast<Request *>(arg);
  Engine *e = r->engine;
  e->watch_deadline(r);
  Connection *c = r->lease;
  if (e->shut_) {
    request_fail(r, Status::closed, "client closed");
  } else if (!c->ready()) {
    request_fail(r, Status::connection, "the lease's connection to " + c->pool().endpoint().str() + " is closed");
  } else {
    r->stats = &c->pool().stats();
    ++r->stats->requests;
    c->send(r);
    return;
  }
  request_release(r);
}

void Engine::submit(Request *r) {
  watch_deadline(r);
  NodePool *pool = route(r);
  if (pool == nullptr) {
    request_fail(r, Status::closed, "client closed");
    request_release(r);
    return;
  }
  pool->dispatch(r);
}

NodePool *Engine::route(Request *) {
  if (shut_) return nullptr;
  return primary_.get();
}

void Engine::on_reply(Request *r, Reply *reply) { request_complete(r, Status::ok, reply); }

void Engine::watch_deadline(Request *r) {
  if (!r->has_deadline()) return;
  request_ref(r);
  deadlines_.emplace(r->deadline, r);
  if (r->deadline < armed_for_) arm_deadline_timer();
}

void Engine::arm_deadline_timer() {
  if (deadlines_.empty()) {
    armed_for_ = Clock::time_point::max();
    return;
  }
  Clock::time_point next = deadlines_.top().first;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(next - Clock::now()).count();
  if (us < 0) us = 0;
  timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
  evtimer_add(deadline_timer_, &tv);
  armed_for_ = next;
}

void Engine::expire(Clock::time_point now) {
  while (!deadlines_.empty() && deadlines_.top().first <= now) {
    Request *r = deadlines_.top().second;
    deadlines_.pop();
    if (!r->completed) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r->deadline - r->created).count();
      request_fail(r, Status::timeout,
                   std::string("command timed out after ") + std::to_string(ms) + " ms " +
                       (r->attempts > 0 ? "waiting for the reply (it was sent; outcome unknown)"
                                        : "waiting for a connection (it was not sent)"));
    }
    request_release(r);
  }
}

void Engine::on_deadline(int, short, void *arg) {
  auto *e = static_cast<Engine *>(arg);
  e->armed_for_ = Clock::time_point::max();
  e->expire(Clock::now());
  e->arm_deadline_timer();
}

void Engine::on_tick(int, short, void *arg) {
  auto *e = static_cast<Engine *>(arg);
  Clock::time_point now = Clock::now();
  if (e->primary_) e->primary_->tick(now);
}

void Engine::on_node_ready(NodePool &pool) {
  // COMMAND once per client, on the first engine: it refines the built-in command table.
  if (asked_commands_ || index_ != 0 || client_.learned_commands()) return;
  asked_commands_ = true;
  auto *r = new Request();
  const char *argv[] = {"COMMAND"};
  size_t lens[] = {7};
  encode_command(r->payload, 1, argv, lens);
  r->cmd.flags = kCmdReadonly;
  r->created = Clock::now();
  r->deadline = r->created + std::chrono::seconds(10);
  r->done = &Engine::on_command_table;
  r->ctx = this;
  r->engine = this;
  r->internal = true;
  watch_deadline(r);
  pool.dispatch(r);
}

void Engine::on_command_table(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  auto *e = static_cast<Engine *>(r->ctx);
  if (status == Status::ok && reply && reply->kind == ReplyKind::array)
    e->client_.learn_commands(*reply);
}

void Engine::on_node_down(NodePool &, Status, const std::string &) {}

void Engine::emit_event(int kind, const std::string &node, const std::string &detail) {
  client_.emit_event(kind, node, detail);
}

void Engine::acquire_lease(LeaseWaiter *w) {
  if (shut_ || !primary_) {
    w->finish(Status::closed, "client closed", nullptr);
    return;
  }
  primary_->acquire_lease(w);
}

void Engine::release_lease(Connection *c) {
  if (shut_) return;
  c->pool().release_lease(c);
}

void Engine::shutdown() {
  if (shut_) return;
  shut_ = true;
  if (primary_) primary_->shutdown(Status::closed, "client closed");
  expire(Clock::time_point::max());
  if (deadline_timer_) event_del(deadline_timer_);
  if (tick_) event_del(tick_);
}

std::vector<NodeSnapshot> Engine::snapshot() const {
  std::vector<NodeSnapshot> out;
  if (primary_) out.push_back(primary_->snapshot());
  return out;
}

}  // namespace rcm::core
