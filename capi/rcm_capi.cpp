// The C ABI: checks arguments, maps handles, and stops every C++ exception at the wall.
#include "rcm/rcm.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/client/client.h"
#include "core/common/status.h"
#include "core/config/config.h"
#include "core/resp/reply.h"
#include "core/route/slot.h"

using rcm::core::Client;
using rcm::core::Config;
using rcm::core::Error;
using rcm::core::Lease;
using rcm::core::Reply;
using rcm::core::ReplyKind;
using rcm::core::Request;
using rcm::core::Status;

static_assert(static_cast<int>(Status::arg) == RCM_ERR_ARG, "status values are pinned");
static_assert(static_cast<int>(Status::uncertain) == RCM_ERR_UNCERTAIN, "status values are pinned");
static_assert(static_cast<int>(Status::no_leader) == RCM_ERR_NO_LEADER, "status values are pinned");
static_assert(static_cast<int>(Status::internal) == RCM_ERR_INTERNAL, "status values are pinned");
static_assert(static_cast<int>(ReplyKind::error) == RCM_REPLY_ERROR, "reply kinds are pinned");
static_assert(static_cast<int>(ReplyKind::nil) == RCM_REPLY_NIL, "reply kinds are pinned");

struct rcm_config {
  Config cfg;
};

struct rcm_client {
  std::shared_ptr<Client> client;
};

struct rcm_pipeline {
  // Shared, as a lease's is: a pipeline used after rcm_client_close finds its client
  // closed instead of freed.
  std::shared_ptr<Client> client;
  std::vector<Request *> requests;
  ~rcm_pipeline() {
    for (Request *r : requests) delete r;
  }
};

struct rcm_lease {
  std::unique_ptr<Lease> lease;
};

namespace {

thread_local std::string t_last_error;

rcm_status fail(Status s, const std::string &message) {
  t_last_error = message;
  return static_cast<rcm_status>(s);
}

rcm_status fail_arg(const char *what) { return fail(Status::arg, std::string(what) + " is NULL"); }

// The one exception wall every entry point goes through.
template <class F>
rcm_status guarded(F &&body) noexcept {
  try {
    return body();
  } catch (const Error &e) {
    return fail(e.status(), e.what());
  } catch (const std::bad_alloc &) {
    return fail(Status::nomem, "out of memory");
  } catch (const std::exception &e) {
    return fail(Status::internal, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(Status::internal, "internal error: unknown exception");
  }
}

rcm_status check_client(const Client &c) {
  if (c.forked())
    return fail(Status::fork, "this client was opened in another process (before fork); open a new one here");
  if (c.closed()) return fail(Status::closed, "client closed");
  return RCM_OK;
}

rcm_status check_client(rcm_client *c) {
  if (c == nullptr) return fail_arg("client");
  return check_client(*c->client);
}

// For the calls that wait for a reply: refused on the client's own I/O thread.
rcm_status check_may_block(const Client &c, const char *what) {
  return guarded([&] {
    c.check_may_block(what);
    return RCM_OK;
  });
}

rcm_status check_flags(unsigned flags) {
  if (flags & ~static_cast<unsigned>(RCM_CALL_NO_CACHE))
    return fail(Status::arg, "flags 0x" + [flags] {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%x", flags);
      return std::string(buf);
    }() + " has bits that are no RCM_CALL_* flag");
  return RCM_OK;
}

rcm_status check_argv(int argc, const char *const *argv) {
  if (argc <= 0) return fail(Status::arg, "argc must be > 0 (got " + std::to_string(argc) + ")");
  if (argv == nullptr) return fail_arg("argv");
  return RCM_OK;
}

Reply *as_core(rcm_reply *r) { return reinterpret_cast<Reply *>(r); }
const Reply *as_core(const rcm_reply *r) { return reinterpret_cast<const Reply *>(r); }
rcm_reply *as_c(Reply *r) { return reinterpret_cast<rcm_reply *>(r); }

void async_done(Request *r, Status status, Reply *reply) {
  auto cb = reinterpret_cast<rcm_callback>(r->ctx);
  cb(static_cast<rcm_status>(status), as_c(reply), r->user);
}

char *copy_string(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size() + 1);
  return p;
}

}  // namespace

extern "C" {

const char *rcm_status_name(rcm_status status) {
  // A C caller may pass any int; loading an out-of-range enum is undefined in C++.
  int value = 0;
  std::memcpy(&value, &status, sizeof(value) < sizeof(status) ? sizeof(value) : sizeof(status));
  return rcm::core::status_name(static_cast<Status>(value));
}

const char *rcm_last_error(void) { return t_last_error.c_str(); }

const char *rcm_version(void) {
#define RCM_STR2(x) #x
#define RCM_STR(x) RCM_STR2(x)
  return RCM_STR(RCM_VERSION_MAJOR) "." RCM_STR(RCM_VERSION_MINOR) "." RCM_STR(RCM_VERSION_PATCH);
}

void rcm_free(void *ptr) { std::free(ptr); }

rcm_config *rcm_config_new(void) {
  auto *c = new (std::nothrow) rcm_config();
  if (c == nullptr) fail(Status::nomem, "out of memory");
  return c;
}

void rcm_config_free(rcm_config *config) { delete config; }

rcm_status rcm_config_set(rcm_config *config, const char *key, const char *value) {
  if (config == nullptr) return fail_arg("config");
  if (key == nullptr) return fail_arg("key");
  if (value == nullptr) return fail(Status::arg, std::string("value for '") + key + "' is NULL");
  return guarded([&] {
    config->cfg.set(key, value);
    return RCM_OK;
  });
}

rcm_status rcm_config_get(const rcm_config *config, const char *key, char **value) {
  if (value != nullptr) *value = nullptr;
  if (config == nullptr) return fail_arg("config");
  if (key == nullptr) return fail_arg("key");
  if (value == nullptr) return fail_arg("value");
  return guarded([&] {
    *value = copy_string(config->cfg.get(key));
    return RCM_OK;
  });
}

rcm_status rcm_config_from_url(rcm_config *config, const char *url) {
  if (config == nullptr) return fail_arg("config");
  if (url == nullptr) return fail_arg("url");
  return guarded([&] {
    config->cfg.apply_url(url);
    return RCM_OK;
  });
}

rcm_status rcm_config_set_event_callback(rcm_config *config, rcm_event_callback cb, void *userdata) {
  if (config == nullptr) return fail_arg("config");
  config->cfg.event_cb = reinterpret_cast<rcm::core::EventCallback>(cb);
  config->cfg.event_userdata = userdata;
  return RCM_OK;
}

rcm_status rcm_client_open(const rcm_config *config, rcm_client **out) {
  if (out == nullptr) return fail_arg("out");
  *out = nullptr;
  if (config == nullptr) return fail_arg("config");
  return guarded([&] {
    auto handle = std::make_unique<rcm_client>();
    handle->client = Client::open(config->cfg);
    *out = handle.release();
    return RCM_OK;
  });
}

void rcm_client_close(rcm_client *client) {
  if (client == nullptr) return;
  if (client->client->on_io_thread()) {
    // Joining the I/O thread from itself cannot work; refuse rather than abort.
    fail(Status::state, "rcm_client_close called from an rcm callback: close the client from another thread");
    return;
  }
  guarded([&] {
    client->client->close();
    return RCM_OK;
  });
  delete client;
}

rcm_status rcm_client_shutdown(rcm_client *client) {
  if (client == nullptr) return fail_arg("client");
  if (client->client->on_io_thread())
    return fail(Status::state, "rcm_client_shutdown called from an rcm callback: shut the client down from another thread");
  // Only the core client's close: the handle (and the Client it holds) stays allocated, so
  // threads still inside calls on it see "closed" instead of freed memory.
  return guarded([&] {
    client->client->close();
    return RCM_OK;
  });
}

rcm_status rcm_command(rcm_client *client, int argc, const char *const *argv, const size_t *argvlen,
                       rcm_reply **out) {
  return rcm_command_flags(client, 0, argc, argv, argvlen, out);
}

rcm_status rcm_command_flags(rcm_client *client, unsigned flags, int argc, const char *const *argv,
                             const size_t *argvlen, rcm_reply **out) {
  if (out == nullptr) return fail_arg("out");
  *out = nullptr;
  if (rcm_status s = check_client(client)) return s;
  if (rcm_status s = check_may_block(*client->client, "rcm_command")) return s;
  if (rcm_status s = check_flags(flags)) return s;
  if (rcm_status s = check_argv(argc, argv)) return s;
  return guarded([&] {
    if (!(flags & RCM_CALL_NO_CACHE)) {
      if (Reply *hit = client->client->cache_fast(argc, argv, argvlen)) {
        *out = as_c(hit);
        return RCM_OK;
      }
    }
    Request *r = client->client->make_request(argc, argv, argvlen, false);
    r->no_cache = (flags & RCM_CALL_NO_CACHE) != 0;
    Reply *reply = nullptr;
    std::string err;
    Status st = client->client->execute(r, &reply, &err);
    if (st != Status::ok) return fail(st, err);
    *out = as_c(reply);
    return RCM_OK;
  });
}

rcm_status rcm_cache_get(rcm_client *client, int argc, const char *const *argv, const size_t *argvlen,
                         rcm_reply **out) {
  if (out == nullptr) return fail_arg("out");
  *out = nullptr;
  if (rcm_status s = check_client(client)) return s;
  if (rcm_status s = check_argv(argc, argv)) return s;
  return guarded([&] {
    // A miss (and a closed or forked client, the cache off, a command it does not
    // answer this way) is RCM_OK with *out NULL: the caller's ordinary call says the rest.
    if (Reply *hit = client->client->cache_fast(argc, argv, argvlen)) *out = as_c(hit);
    return RCM_OK;
  });
}

rcm_status rcm_command_routed(rcm_client *client, const rcm_route *route, int argc, const char *const *argv,
                              const size_t *argvlen, rcm_reply **out) {
  if (out == nullptr) return fail_arg("out");
  *out = nullptr;
  if (rcm_status s = check_client(client)) return s;
  if (rcm_status s = check_may_block(*client->client, "rcm_command_routed")) return s;
  if (route == nullptr) return fail_arg("route");
  if (rcm_status s = check_argv(argc, argv)) return s;
  return guarded([&] {
    std::unique_ptr<Request> r(client->client->make_request(argc, argv, argvlen, false));
    if (r->cache && !r->cache->write) r->cache.reset();  // a routed read asks that node, not the cache
    r->split.reset();
    r->agg = rcm::core::Aggregate::none;
    // A C caller may pass any int; loading an out-of-range enum is undefined in C++.
    int kind = 0;
    std::memcpy(&kind, &route->kind, sizeof(kind) < sizeof(route->kind) ? sizeof(kind) : sizeof(route->kind));
    switch (kind) {
      case RCM_ROUTE_SLOT:
        if (route->slot < 0 || route->slot >= rcm::core::kSlots)
          return fail(Status::arg, "route.slot " + std::to_string(route->slot) + " is not in 0..16383");
        r->route = rcm::core::RouteKind::slot;
        r->slot = route->slot;
        break;
      case RCM_ROUTE_KEY:
        if (route->key == nullptr && route->keylen != 0) return fail_arg("route.key");
        r->route = rcm::core::RouteKind::slot;
        r->slot = rcm::core::key_slot(route->key ? route->key : "", route->keylen);
        break;
      case RCM_ROUTE_NODE:
        if (route->node == nullptr) return fail_arg("route.node");
        r->route = rcm::core::RouteKind::node;
        r->route_node = rcm::core::parse_endpoint(route->node, "route.node").str();
        break;
      case RCM_ROUTE_ALL_PRIMARIES:
        r->route = rcm::core::RouteKind::all_primaries;
        r->agg = rcm::core::Aggregate::per_node;
        break;
      case RCM_ROUTE_ALL_NODES:
        r->route = rcm::core::RouteKind::all_nodes;
        r->agg = rcm::core::Aggregate::per_node;
        break;
      case RCM_ROUTE_RANDOM:
        r->route = rcm::core::RouteKind::random;
        break;
      default:
        return fail(Status::arg, "route.kind " + std::to_string(kind) + " is not a route");
    }
    Reply *reply = nullptr;
    std::string err;
    Status st = client->client->execute(r.release(), &reply, &err);
    if (st != Status::ok) return fail(st, err);
    *out = as_c(reply);
    return RCM_OK;
  });
}

rcm_status rcm_command_async(rcm_client *client, int argc, const char *const *argv, const size_t *argvlen,
                             rcm_callback cb, void *userdata) {
  return rcm_command_async_flags(client, 0, argc, argv, argvlen, cb, userdata);
}

rcm_status rcm_command_async_flags(rcm_client *client, unsigned flags, int argc, const char *const *argv,
                                   const size_t *argvlen, rcm_callback cb, void *userdata) {
  if (rcm_status s = check_client(client)) return s;
  if (rcm_status s = check_flags(flags)) return s;
  if (rcm_status s = check_argv(argc, argv)) return s;
  if (cb == nullptr) return fail_arg("cb");
  return guarded([&] {
    Request *r = client->client->make_request(argc, argv, argvlen, false);
    r->no_cache = (flags & RCM_CALL_NO_CACHE) != 0;
    r->done = &async_done;
    r->ctx = reinterpret_cast<void *>(cb);
    r->user = userdata;
    std::string err;
    Status st = client->client->execute_async(r, &err);
    if (st != Status::ok) return fail(st, err);
    return RCM_OK;
  });
}

rcm_status rcm_pipeline_new(rcm_client *client, rcm_pipeline **out) {
  if (out == nullptr) return fail_arg("out");
  *out = nullptr;
  if (rcm_status s = check_client(client)) return s;
  return guarded([&] {
    *out = new rcm_pipeline{client->client, {}};
    return RCM_OK;
  });
}

rcm_status rcm_pipeline_append(rcm_pipeline *pipeline, int argc, const char *const *argv, const size_t *argvlen) {
  if (pipeline == nullptr) return fail_arg("pipeline");
  if (rcm_status s = check_client(*pipeline->client)) return s;
  if (rcm_status s = check_argv(argc, argv)) return s;
  return guarded([&] {
    pipeline->requests.push_back(pipeline->client->make_request(argc, argv, argvlen, false, true));
    return RCM_OK;
  });
}

size_t rcm_pipeline_length(const rcm_pipeline *pipeline) { return pipeline ? pipeline->requests.size() : 0; }

rcm_status rcm_pipeline_exec(rcm_pipeline *pipeline, rcm_reply ***replies, size_t *n) {
  if (replies == nullptr) return fail_arg("replies");
  *replies = nullptr;
  if (n == nullptr) return fail_arg("n");
  *n = 0;
  if (pipeline == nullptr) return fail_arg("pipeline");
  if (rcm_status s = check_client(*pipeline->client)) return s;
  if (rcm_status s = check_may_block(*pipeline->client, "rcm_pipeline_exec")) return s;
  return guarded([&] {
    int depth = 0;
    for (const Request *r : pipeline->requests) {
      if (r->cmd.flags & rcm::core::kCmdMulti) {
        if (depth++) return fail(Status::state, "pipeline: MULTI inside MULTI");
      } else if (r->cmd.flags & rcm::core::kCmdExecEnd) {
        if (depth-- == 0) return fail(Status::state, "pipeline: EXEC/DISCARD without MULTI");
      }
    }
    if (depth != 0) return fail(Status::state, "pipeline: MULTI without EXEC or DISCARD");
    size_t count = pipeline->requests.size();
    // Owned until handed over: execute_batch may throw (CROSSSLOT) after this.
    std::unique_ptr<rcm_reply *, decltype(&std::free)> arr(
        static_cast<rcm_reply **>(std::calloc(count ? count : 1, sizeof(rcm_reply *))), &std::free);
    if (!arr) throw std::bad_alloc();
    std::vector<Reply *> out;
    std::string err;
    Status st = pipeline->client->execute_batch(pipeline->requests, out, &err);
    if (st != Status::ok) return fail(st, err);
    for (size_t i = 0; i < count; ++i) arr.get()[i] = as_c(out[i]);
    *replies = arr.release();
    *n = count;
    return RCM_OK;
  });
}

void rcm_pipeline_free(rcm_pipeline *pipeline) { delete pipeline; }

rcm_status rcm_lease_acquire(rcm_client *client, const char *key, size_t keylen, rcm_lease **out) {
  if (out == nullptr) return fail_arg("out");
  *out = nullptr;
  if (rcm_status s = check_client(client)) return s;
  if (rcm_status s = check_may_block(*client->client, "rcm_lease_acquire")) return s;
  if (key == nullptr && keylen != 0) return fail(Status::arg, "key is NULL but keylen is not 0");
  return guarded([&] {
    Status st = Status::ok;
    std::string err;
    std::unique_ptr<Lease> lease = client->client->acquire_lease(key, keylen, &st, &err);
    if (!lease) return fail(st, err);
    *out = new rcm_lease{std::move(lease)};
    return RCM_OK;
  });
}

rcm_status rcm_lease_command(rcm_lease *lease, int argc, const char *const *argv, const size_t *argvlen,
                             rcm_reply **out) {
  if (out == nullptr) return fail_arg("out");
  *out = nullptr;
  if (lease == nullptr) return fail_arg("lease");
  if (rcm_status s = check_may_block(lease->lease->client(), "rcm_lease_command")) return s;
  if (rcm_status s = check_argv(argc, argv)) return s;
  return guarded([&] {
    Reply *reply = nullptr;
    lease->lease->command(argc, argv, argvlen, &reply);
    *out = as_c(reply);
    return RCM_OK;
  });
}

rcm_status rcm_lease_command_async(rcm_lease *lease, int argc, const char *const *argv, const size_t *argvlen,
                                   rcm_callback cb, void *userdata) {
  if (lease == nullptr) return fail_arg("lease");
  if (rcm_status s = check_argv(argc, argv)) return s;
  if (cb == nullptr) return fail_arg("cb");
  return guarded([&] {
    lease->lease->submit(argc, argv, argvlen, &async_done, reinterpret_cast<void *>(cb), userdata);
    return RCM_OK;
  });
}

rcm_status rcm_lease_read(rcm_lease *lease, int timeout_ms, rcm_reply **out) {
  if (out == nullptr) return fail_arg("out");
  *out = nullptr;
  if (lease == nullptr) return fail_arg("lease");
  if (timeout_ms != 0)
    if (rcm_status s = check_may_block(lease->lease->client(), "rcm_lease_read")) return s;
  if (timeout_ms < -1) return fail(Status::arg, "timeout_ms must be >= -1");
  return guarded([&] {
    Reply *reply = nullptr;
    lease->lease->read(timeout_ms, &reply);
    *out = as_c(reply);
    return RCM_OK;
  });
}

void rcm_lease_release(rcm_lease *lease) {
  if (lease == nullptr) return;
  guarded([&] {
    lease->lease->release();
    return RCM_OK;
  });
  delete lease;
}

rcm_reply_kind rcm_reply_type(const rcm_reply *reply) {
  if (reply == nullptr) return RCM_REPLY_NIL;
  return static_cast<rcm_reply_kind>(as_core(reply)->kind);
}

long long rcm_reply_integer(const rcm_reply *reply) {
  const Reply *r = as_core(reply);
  return r && r->kind == ReplyKind::integer ? r->integer : 0;
}

const char *rcm_reply_string(const rcm_reply *reply, size_t *len) {
  const Reply *r = as_core(reply);
  if (r == nullptr || !(r->kind == ReplyKind::string || r->kind == ReplyKind::status || r->kind == ReplyKind::error)) {
    if (len) *len = 0;
    return nullptr;
  }
  if (len) *len = r->str.size();
  return r->str.c_str();
}

size_t rcm_reply_length(const rcm_reply *reply) {
  const Reply *r = as_core(reply);
  return r && r->kind == ReplyKind::array ? r->elements.size() : 0;
}

const rcm_reply *rcm_reply_element(const rcm_reply *reply, size_t i) {
  const Reply *r = as_core(reply);
  if (r == nullptr || r->kind != ReplyKind::array || i >= r->elements.size()) return nullptr;
  return reinterpret_cast<const rcm_reply *>(r->elements[i]);
}

rcm_status rcm_reply_status(const rcm_reply *reply) {
  const Reply *r = as_core(reply);
  return r ? static_cast<rcm_status>(r->origin) : RCM_OK;
}

void rcm_reply_free(rcm_reply *reply) { delete as_core(reply); }

rcm_status rcm_client_stats_json(rcm_client *client, char **json) {
  if (json == nullptr) return fail_arg("json");
  *json = nullptr;
  if (rcm_status s = check_client(client)) return s;
  return guarded([&] {
    *json = copy_string(client->client->stats_json());
    return RCM_OK;
  });
}

rcm_status rcm_client_topology_json(rcm_client *client, char **json) {
  if (json == nullptr) return fail_arg("json");
  *json = nullptr;
  if (rcm_status s = check_client(client)) return s;
  return guarded([&] {
    *json = copy_string(client->client->topology_json());
    return RCM_OK;
  });
}

}  // extern "C"

/* ---- Pub/Sub ------------------------------------------------------------------------ */

using rcm::core::MessagePtr;
using rcm::core::MessageType;
using rcm::core::PubSubMessage;
using rcm::core::SubKind;
using rcm::core::Subscriber;

static_assert(static_cast<int>(MessageType::dropped) == RCM_MSG_DROPPED, "message types are pinned");
static_assert(static_cast<int>(SubKind::shard) == RCM_SUB_SHARD, "subscription kinds are pinned");

struct rcm_subscriber {
  std::shared_ptr<Client> client;  // keeps the client's threads allocated while the handle lives
  std::shared_ptr<Subscriber> sub;
  rcm_message_callback cb = nullptr;
  void *userdata = nullptr;
};

namespace {

// A view of m (borrowed: valid while m is).
rcm_message view_of(const PubSubMessage &m) {
  rcm_message out;
  std::memset(&out, 0, sizeof out);
  out.type = static_cast<rcm_message_type>(m.type);
  out.kind = static_cast<rcm_sub_kind>(m.kind);
  out.every_primary = m.every_primary ? 1 : 0;
  // The message's strings are each followed by a NUL (core/pubsub/message.h).
  if (m.type != MessageType::dropped) {
    out.channel = m.channel.data();
    out.channel_len = m.channel.size();
  }
  if (m.has_pattern) {
    out.pattern = m.pattern.data();
    out.pattern_len = m.pattern.size();
  }
  if (m.has_payload) {
    out.payload = m.payload.data();
    out.payload_len = m.payload.size();
  }
  out.node = m.node.data();
  out.gap_from_ms = m.gap_from_ms;
  out.gap_to_ms = m.gap_to_ms;
  out.dropped = m.dropped;
  return out;
}

// The caller gets the message's block itself, its rcm_message written in the block's
// embed area, with the reference m held (rcm_message_free releases it). A message shared
// with other subscribers is copied first: the caller may write to its rcm_message, which
// no other subscriber may see.
static_assert(sizeof(rcm_message) <= PubSubMessage::kEmbedBytes && alignof(rcm_message) <= 8,
              "rcm_message must fit PubSubMessage's embed area");
rcm_message *hand_out(MessagePtr m) {
  if (!m.unique()) m = PubSubMessage::copy(*m);
  auto *out = new (m.unshared()->embed_area()) rcm_message(view_of(*m));
  m.detach();
  return out;
}

void deliver_to_callback(const PubSubMessage &m, void *ctx) {
  auto *h = static_cast<rcm_subscriber *>(ctx);
  // Read before the call: the callback may close (and free) its own handle.
  rcm_message_callback cb = h->cb;
  void *userdata = h->userdata;
  rcm_message v = view_of(m);
  cb(&v, userdata);
}

// Checks sub, kind and the names; fills out. RCM_OK or the failure (message set).
rcm_status read_names(rcm_subscriber *sub, int kind, int n, const char *const *names, const size_t *lens, bool allow_all,
                      SubKind *k, bool *every, std::vector<std::string> *out) {
  if (sub == nullptr) return fail_arg("sub");
  *every = (kind & RCM_SUB_EVERY_PRIMARY) != 0;
  const int base = kind & ~RCM_SUB_EVERY_PRIMARY;
  if (base != RCM_SUB_CHANNEL && base != RCM_SUB_PATTERN && base != RCM_SUB_SHARD)
    return fail(Status::arg, "kind " + std::to_string(kind) +
                                 " is not RCM_SUB_CHANNEL, RCM_SUB_PATTERN or RCM_SUB_SHARD (optionally | RCM_SUB_EVERY_PRIMARY)");
  if (*every && base == RCM_SUB_SHARD)
    return fail(Status::arg, "RCM_SUB_EVERY_PRIMARY applies to channels and patterns, not to shard channels");
  *k = static_cast<SubKind>(base);
  if (n < 0 || (n == 0 && !allow_all)) return fail(Status::arg, "n must be > 0 (got " + std::to_string(n) + ")");
  if (n > 0 && names == nullptr) return fail_arg("names");
  for (int i = 0; i < n; ++i) {
    if (names[i] == nullptr) return fail(Status::arg, "names[" + std::to_string(i) + "] is NULL");
    const size_t len = lens ? lens[i] : std::strlen(names[i]);
    if (len == 0) return fail(Status::arg, "names[" + std::to_string(i) + "] is empty");
    out->emplace_back(names[i], len);
  }
  return RCM_OK;
}

}  // namespace

extern "C" {

rcm_status rcm_subscriber_open(rcm_client *client, rcm_message_callback callback, void *userdata, rcm_subscriber **out) {
  if (out == nullptr) return fail_arg("out");
  *out = nullptr;
  if (rcm_status s = check_client(client)) return s;
  return guarded([&] {
    auto h = std::make_unique<rcm_subscriber>();
    h->client = client->client;
    h->cb = callback;
    h->userdata = userdata;
    h->sub = client->client->open_subscriber(callback ? &deliver_to_callback : nullptr, h.get());
    *out = h.release();
    return RCM_OK;
  });
}

rcm_status rcm_subscribe(rcm_subscriber *sub, int kind, int n, const char *const *names, const size_t *lens) {
  return guarded([&] {
    SubKind k;
    bool every = false;
    std::vector<std::string> list;
    if (rcm_status s = read_names(sub, kind, n, names, lens, false, &k, &every, &list)) return s;
    if (sub->client->forked()) return fail(Status::fork, "this subscriber's client was opened in another process (before fork)");
    if (k == SubKind::shard && sub->client->commands().learned() && sub->client->commands().find("ssubscribe", 10) == nullptr)
      return fail(Status::unsupported, "RCM_SUB_SHARD: the server has no SSUBSCRIBE (Redis / Valkey 7 or later has)");
    Status st = sub->sub->subscribe(k, every, std::move(list));
    if (st != Status::ok) return fail(st, "subscriber closed");
    return RCM_OK;
  });
}

rcm_status rcm_unsubscribe(rcm_subscriber *sub, int kind, int n, const char *const *names, const size_t *lens) {
  return guarded([&] {
    SubKind k;
    bool every = false;
    std::vector<std::string> list;
    if (rcm_status s = read_names(sub, kind, n, names, lens, true, &k, &every, &list)) return s;
    Status st = sub->sub->unsubscribe(k, every, std::move(list), n == 0);
    if (st != Status::ok) return fail(st, "subscriber closed");
    return RCM_OK;
  });
}

rcm_status rcm_subscriber_next(rcm_subscriber *sub, int timeout_ms, rcm_message **msg) {
  if (msg == nullptr) return fail_arg("msg");
  *msg = nullptr;
  if (sub == nullptr) return fail_arg("sub");
  if (!sub->sub->pull_mode())
    return fail(Status::state, "rcm_subscriber_next: this subscriber was opened with a callback (pull mode needs NULL)");
  if (timeout_ms < -1) return fail(Status::arg, "timeout_ms must be >= -1");
  if (timeout_ms != 0)
    if (rcm_status s = check_may_block(*sub->client, "rcm_subscriber_next")) return s;
  // Held for the call: a close on another thread frees the handle once this has left.
  std::shared_ptr<Subscriber> keep = sub->sub;
  return guarded([&] {
    MessagePtr m;
    Status st = keep->next(timeout_ms, &m);
    if (st == Status::closed) return fail(st, "subscriber closed (by rcm_subscriber_close or with its client)");
    if (st == Status::timeout) return fail(st, "no message within " + std::to_string(timeout_ms) + " ms");
    *msg = hand_out(std::move(m));
    return RCM_OK;
  });
}

rcm_status rcm_subscriber_fd(rcm_subscriber *sub, int *fd) {
  if (fd == nullptr) return fail_arg("fd");
  *fd = -1;
  if (sub == nullptr) return fail_arg("sub");
  if (!sub->sub->pull_mode())
    return fail(Status::state, "rcm_subscriber_fd: this subscriber was opened with a callback (pull mode needs NULL)");
  return guarded([&] {
    *fd = sub->sub->fd();
    return RCM_OK;
  });
}

void rcm_message_free(rcm_message *msg) {
  if (msg != nullptr) MessagePtr::adopt(PubSubMessage::from_embed_area(msg));  // released here
}

void rcm_subscriber_close(rcm_subscriber *sub) {
  if (sub == nullptr) return;
  guarded([&] {
    sub->sub->close();
    return RCM_OK;
  });
  delete sub;
}

}  // extern "C"
