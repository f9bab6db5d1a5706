#include "core/topology/primary_tracker.h"

#include <event2/event.h>

#include <algorithm>
#include <random>

#include "core/net/connection.h"
#include "core/net/io_thread.h"
#include "core/resp/encoder.h"
#include "core/topology/topology_host.h"

namespace rcm::core {

namespace {
constexpr int kMinIntervalMs = 100;

int jittered(int ms) { return RoundScheduler::jittered(ms); }
}  // namespace

PrimaryTracker::PrimaryTracker(TopologyHost &host)
    : host_(host), sched_(host.io().base(), kMinIntervalMs, [this] { begin(); }) {}

PrimaryTracker::~PrimaryTracker() = default;

void PrimaryTracker::start() { begin(); }

void PrimaryTracker::request(const std::string &) { sched_.request(); }

void PrimaryTracker::hint(const Endpoint &ep, const std::string &cause) {
  if (ep.str() == last_primary_) return;
  ++hints_;
  publish(ep, {}, cause);
}

void PrimaryTracker::publish(const Endpoint &primary, const std::vector<Endpoint> &replicas, const std::string &cause) {
  std::string old = last_primary_;
  last_primary_ = primary.str();
  host_.publish_primary(primary, replicas, old, cause);
}

void PrimaryTracker::begin() {
  if (host_.shutting_down()) return;
  sched_.started();
  ++round_id_;
  round_hints_ = hints_;
  begin_round();
}

void PrimaryTracker::found(const Endpoint &primary, const std::vector<Endpoint> &replicas, const std::string &cause) {
  bool again = sched_.finished();
  failures_ = 0;
  if (round_hints_ != hints_ && primary.str() != last_primary_) {
    // A hint (+switch-master, a follower's MOVED) came while this round was asking: its
    // answer may predate the move. Ask again rather than flip back to the old node.
    sched_.schedule(jittered(kMinIntervalMs / 2));
    return;
  }
  publish(primary, replicas, cause);
  if (host_.shutting_down()) return;
  int periodic = host_.config().topology_refresh_ms;
  if (again)
    sched_.schedule(jittered(kMinIntervalMs));
  else if (periodic > 0)
    sched_.schedule(RoundScheduler::periodic(periodic));
}

void PrimaryTracker::not_found(Status status, const std::string &why) {
  sched_.finished();
  ++failures_;
  host_.primary_not_found(status, why);
  if (host_.shutting_down()) return;
  // Requests wait for the primary within their deadlines: keep looking often.
  int cap = std::max(std::min(host_.config().retry_backoff_max_ms, 300), kMinIntervalMs);
  sched_.schedule(jittered(std::min(kMinIntervalMs << std::min(failures_, 2), cap)));
}

void PrimaryTracker::send(const Endpoint &ep, NodePool::Kind kind, const std::vector<std::string> &args,
                          Request::DoneFn done, size_t tag) {
  auto *r = new Request();
  std::vector<const char *> argv;
  std::vector<size_t> lens;
  for (const std::string &a : args) {
    argv.push_back(a.c_str());
    lens.push_back(a.size());
  }
  encode_command(r->payload, static_cast<int>(argv.size()), argv.data(), lens.data());
  r->cmd.flags = kCmdReadonly;
  r->internal = true;
  r->created = Clock::now();
  int timeout = std::max(host_.config().connect_timeout_ms, host_.config().command_timeout_ms);
  r->deadline = r->created + std::chrono::milliseconds(std::max(std::min(timeout, 2000), 200));
  r->done = done;
  r->ctx = this;
  r->index = tag;
  r->user = reinterpret_cast<void *>(static_cast<uintptr_t>(round_id_));
  r->route_node = ep.str();
  host_.send_internal(r, host_.pool_for(ep, kind));
}

// ---- RedisRaft ----------------------------------------------------------------------

namespace {

// "raft_role:leader" and, on old modules, "role:leader": one lookup for both.
std::string info_field(const std::string &info, const std::string &name) {
  for (const std::string &key : {"raft_" + name + ":", name + ":"}) {
    size_t p = 0;
    while ((p = info.find(key, p)) != std::string::npos) {
      if (p == 0 || info[p - 1] == '\n') {
        p += key.size();
        size_t e = info.find_first_of("\r\n", p);
        return info.substr(p, e == std::string::npos ? std::string::npos : e - p);
      }
      p += key.size();
    }
  }
  return "";
}

// Peer lines: raft_nodeN:id=2,state=connected,voting=yes,addr=127.0.0.1,port=6380,...
struct Peer {
  std::string id;
  Endpoint ep;
};
std::vector<Peer> peers(const std::string &info) {
  std::vector<Peer> out;
  size_t p = 0;
  while ((p = info.find("node", p)) != std::string::npos) {
    size_t line_start = info.rfind('\n', p);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    size_t colon = info.find(':', p);
    size_t end = info.find_first_of("\r\n", p);
    if (colon == std::string::npos || (end != std::string::npos && colon > end)) {
      p += 4;
      continue;
    }
    std::string key = info.substr(line_start, colon - line_start);
    std::string rest = info.substr(colon + 1, end == std::string::npos ? std::string::npos : end - colon - 1);
    p = end == std::string::npos ? info.size() : end;
    bool is_peer = (key.compare(0, 9, "raft_node") == 0 || key.compare(0, 4, "node") == 0) &&
                   key.find("_id") == std::string::npos && rest.find("addr=") != std::string::npos;
    if (!is_peer) continue;
    Peer peer;
    std::string host, port;
    size_t q = 0;
    while (q < rest.size()) {
      size_t comma = rest.find(',', q);
      std::string kv = rest.substr(q, comma == std::string::npos ? std::string::npos : comma - q);
      size_t eq = kv.find('=');
      if (eq != std::string::npos) {
        std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
        if (k == "id") peer.id = v;
        else if (k == "addr") host = v;
        else if (k == "port") port = v;
      }
      if (comma == std::string::npos) break;
      q = comma + 1;
    }
    try {
      peer.ep = parse_endpoint(host + ":" + port, "raft peer");
      out.push_back(peer);
    } catch (const Error &) {
    }
  }
  return out;
}

enum : size_t { kTagInfoRaft = 1, kTagRaftInfo = 2 };

}  // namespace

RaftTracker::RaftTracker(TopologyHost &host) : PrimaryTracker(host), members_(host.config().seeds) {}

void RaftTracker::begin_round() {
  answered_ = 0;
  have_leader_ = false;
  errors_.clear();
  failure_ = Status::ok;
  // A member that was up and is now reconnecting would hold the round up for its whole
  // backoff; its own reconnect brings it back into later rounds.
  std::vector<Endpoint> ask;
  for (const Endpoint &ep : members_) {
    if (host_.pool_for(ep, NodePool::Kind::primary).lost()) {
      errors_ += (errors_.empty() ? "" : "; ") + ep.str() + ": down";
      if (failure_ == Status::ok) failure_ = Status::connection;
      continue;
    }
    ask.push_back(ep);
  }
  outstanding_ = static_cast<int>(ask.size());
  if (ask.empty()) {
    settle();
    return;
  }
  for (const Endpoint &ep : ask) send(ep, NodePool::Kind::primary, {"INFO", "raft"}, &RaftTracker::on_info, kTagInfoRaft);
}

void RaftTracker::on_info(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  auto *self = static_cast<RaftTracker *>(static_cast<PrimaryTracker *>(r->ctx));
  if (!self->current(r)) return;
  Endpoint ep = parse_endpoint(r->route_node, "raft node");
  if (status != Status::ok || reply == nullptr || reply->is_error()) {
    bool not_raft = r->index == kTagRaftInfo && reply && reply->str.find("unknown command") != std::string::npos;
    if (not_raft) {
      self->failure_ = Status::config;  // a plain server: waiting will not make it a Raft node
      self->errors_ += (self->errors_.empty() ? "" : "; ") + ep.str() +
                       ": not a RedisRaft node (no INFO raft section, RAFT.INFO unknown)";
    } else {
      if (self->failure_ == Status::ok) self->failure_ = status != Status::ok ? status : Status::no_leader;
      self->errors_ += (self->errors_.empty() ? "" : "; ") + ep.str() + ": " + (reply ? std::string(reply->str) : status_name(status));
    }
  } else {
    const std::string info(reply->str);
    std::string role = info_field(info, "role");
    if (!role.empty()) ++self->answered_;
    if (role.empty() && r->index == kTagInfoRaft) {
      // An older module: no "raft" INFO section, but RAFT.INFO.
      ++self->outstanding_;
      self->send(ep, NodePool::Kind::primary, {"RAFT.INFO"}, &RaftTracker::on_info, kTagRaftInfo);
    } else if (role.empty()) {
      self->errors_ += (self->errors_.empty() ? "" : "; ") + ep.str() + ": not a RedisRaft node";
      if (self->failure_ == Status::ok) self->failure_ = Status::config;
    } else {
      std::string state = info_field(info, "state");
      if (role == "leader" && (state.empty() || state == "up")) {
        self->leader_ = ep;
        self->have_leader_ = true;
      }
      for (const Peer &p : peers(info))
        if (std::find(self->members_.begin(), self->members_.end(), p.ep) == self->members_.end())
          self->members_.push_back(p.ep);  // asked in the next round
      if (role != "leader") {
        self->errors_ += (self->errors_.empty() ? "" : "; ") + ep.str() + ": " + role +
                         " (leader id " + info_field(info, "leader_id") + ")";
      }
    }
  }
  // A live leader ends the round at once; stragglers' replies are then stale.
  if (--self->outstanding_ == 0 || self->have_leader_) self->settle();
}

void RaftTracker::settle() {
  if (have_leader_) {
    found(leader_, {}, last_primary_.empty() ? "leader found" : "leader elected");
    return;
  }
  // A member that answered means a group exists and is electing: that is "no leader yet"
  // (worth waiting for), whatever the dead members said.
  Status why = answered_ > 0 ? Status::no_leader
               : (is_permanent(failure_) || failure_ == Status::connection) ? failure_
                                                                             : Status::no_leader;
  not_found(why,
            "no Raft leader among " + std::to_string(members_.size()) + " nodes: " + errors_);
}

// ---- Sentinel -------------------------------------------------------------------------

SentinelTracker::SentinelTracker(TopologyHost &host) : PrimaryTracker(host) {}

SentinelTracker::~SentinelTracker() = default;

// Every sentinel is asked; the address most of them name is tried first (ties: the
// order of the seeds). One sentinel alone can be behind (it has not yet learned of a
// failover) or ahead (the leader names the promoted replica while its failover is still
// running); the majority is what the sentinels as a group will settle on. Each
// candidate is checked with ROLE on the node itself before it is used.
void SentinelTracker::begin_round() {
  errors_.clear();
  failure_ = Status::ok;
  replicas_.clear();
  candidates_.clear();
  const auto &sentinels = host_.config().seeds;
  asking_ = static_cast<int>(sentinels.size());
  if (asking_ == 0) rank_answers();
  for (size_t i = 0; i < sentinels.size(); ++i)
    send(sentinels[i], NodePool::Kind::sentinel, {"SENTINEL", "get-master-addr-by-name", host_.config().sentinel_master},
         &SentinelTracker::on_master_addr, i);
}

void SentinelTracker::on_master_addr(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  auto *self = static_cast<SentinelTracker *>(static_cast<PrimaryTracker *>(r->ctx));
  if (!self->current(r)) return;
  size_t i = r->index;
  const std::string who = r->route_node;
  if (status == Status::ok && reply && reply->kind == ReplyKind::array && reply->elements.size() == 2 &&
      reply->elements[0] && reply->elements[1]) {
    try {
      self->vote(parse_endpoint(reply->elements[0]->str + ":" + reply->elements[1]->str, "sentinel master"), i);
    } catch (const Error &e) {
      self->errors_ += who + ": " + e.what() + "; ";
    }
  } else if (is_permanent(status)) {
    if (self->failure_ == Status::ok) self->failure_ = status;
    self->errors_ += who + ": " + (reply ? std::string(reply->str) : status_name(status)) + "; ";
  } else if (reply && reply->is_error() && reply->str.find("unknown command") != std::string::npos) {
    self->failure_ = Status::config;
    self->errors_ += who + ": not a Sentinel (SENTINEL is an unknown command); ";
  } else {
    self->errors_ += who + ": " + (reply ? (reply->kind == ReplyKind::nil ? "unknown master name" : std::string(reply->str))
                                         : status_name(status)) + "; ";
  }
  if (--self->asking_ == 0) self->rank_answers();
}

void SentinelTracker::vote(const Endpoint &named, size_t sentinel) {
  auto it = std::find_if(candidates_.begin(), candidates_.end(), [&](const Candidate &c) { return c.node == named; });
  if (it == candidates_.end()) {
    candidates_.push_back(Candidate{named, 1, sentinel});
    return;
  }
  ++it->votes;
  it->sentinel = std::min(it->sentinel, sentinel);  // answers arrive in any order
}

void SentinelTracker::rank_answers() {
  // Most votes first; among equals, the one named by the earliest seed.
  std::sort(candidates_.begin(), candidates_.end(), [](const Candidate &a, const Candidate &b) {
    return a.votes != b.votes ? a.votes > b.votes : a.sentinel < b.sentinel;
  });
  if (candidates_.empty()) {
    not_found(failure_ == Status::ok ? Status::no_leader : failure_,
              "no sentinel named a reachable master '" + host_.config().sentinel_master + "': " + errors_);
    return;
  }
  if (listeners_.empty())
    for (const Endpoint &sentinel : host_.config().seeds) listen(sentinel);
  try_candidate(0);
}

void SentinelTracker::try_candidate(size_t k) {
  if (k >= candidates_.size()) {
    not_found(failure_ == Status::ok ? Status::no_leader : failure_, errors_);
    return;
  }
  next_candidate_ = k;
  role_ok_ = false;
  replicas_.clear();
  // A named master we lost is reconnecting with backoff: ROLE would wait the backoff out
  // (a SIGKILLed master, still named by the sentinels until they fail over), holding up
  // the round and the other candidates. Its reconnect brings it back into later rounds.
  if (host_.pool_for(candidates_[k].node, NodePool::Kind::primary).lost()) {
    errors_ += candidates_[k].node.str() + " is down; ";
    try_candidate(k + 1);
    return;
  }
  // Check the sentinels' answer with the node itself, and learn the replicas.
  waiting_ = 1;
  send(candidates_[k].node, NodePool::Kind::primary, {"ROLE"}, &SentinelTracker::on_role);
  if (host_.config().read_from != ReadFrom::primary) {
    ++waiting_;
    send(host_.config().seeds[candidates_[k].sentinel], NodePool::Kind::sentinel,
         {"SENTINEL", "replicas", host_.config().sentinel_master}, &SentinelTracker::on_replicas);
  }
}

void SentinelTracker::on_role(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  auto *self = static_cast<SentinelTracker *>(static_cast<PrimaryTracker *>(r->ctx));
  if (!self->current(r)) return;
  if (status == Status::ok && reply && reply->kind == ReplyKind::array && !reply->elements.empty() &&
      reply->elements[0] && reply->elements[0]->str == "master") {
    self->role_ok_ = true;
  } else {
    if (is_permanent(status)) self->failure_ = status;
    self->errors_ += self->candidates_[self->next_candidate_].node.str() + " is not a master yet (" +
                     (reply && reply->kind == ReplyKind::array && !reply->elements.empty() && reply->elements[0]
                          ? std::string(reply->elements[0]->str)
                          : reply ? std::string(reply->str) : status_name(status)) +
                     "); ";
  }
  if (--self->waiting_ == 0) self->conclude();
}

void SentinelTracker::on_replicas(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  auto *self = static_cast<SentinelTracker *>(static_cast<PrimaryTracker *>(r->ctx));
  if (!self->current(r)) return;
  if (status == Status::ok && reply && reply->kind == ReplyKind::array) {
    for (const Reply *entry : reply->elements) {
      if (!entry || entry->kind != ReplyKind::array) continue;
      std::string ip, port, flags;
      for (size_t k = 0; k + 1 < entry->elements.size(); k += 2) {
        std::string_view key = entry->elements[k]->str;
        if (key == "ip") ip = entry->elements[k + 1]->str;
        else if (key == "port") port = entry->elements[k + 1]->str;
        else if (key == "flags") flags = entry->elements[k + 1]->str;
      }
      if (flags.find("s_down") != std::string::npos || flags.find("o_down") != std::string::npos ||
          flags.find("disconnected") != std::string::npos)
        continue;
      try {
        self->replicas_.push_back(parse_endpoint(ip + ":" + port, "sentinel replica"));
      } catch (const Error &) {
      }
    }
  }
  if (--self->waiting_ == 0) self->conclude();
}

void SentinelTracker::conclude() {
  if (role_ok_) {
    // The sentinels the seeds know of are listened to as well: the seeds may be a few of
    // them, and the failover's leader, the first to announce, may be any.
    send(host_.config().seeds[candidates_[next_candidate_].sentinel], NodePool::Kind::sentinel,
         {"SENTINEL", "sentinels", host_.config().sentinel_master}, &SentinelTracker::on_sentinels);
    found(candidates_[next_candidate_].node, replicas_, last_primary_.empty() ? "master found" : "sentinel failover");
    return;
  }
  try_candidate(next_candidate_ + 1);
}

// Any round's answer: the set of sentinels only grows (one that left is reconnected to
// with backoff, as a seed that is down is).
void SentinelTracker::on_sentinels(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  auto *self = static_cast<SentinelTracker *>(static_cast<PrimaryTracker *>(r->ctx));
  if (status != Status::ok || !reply || reply->kind != ReplyKind::array || self->host_.shutting_down()) return;
  for (const Reply *entry : reply->elements) {
    if (!entry || entry->kind != ReplyKind::array) continue;
    std::string ip, port;
    for (size_t k = 0; k + 1 < entry->elements.size(); k += 2) {
      if (!entry->elements[k] || !entry->elements[k + 1]) continue;
      std::string_view key = entry->elements[k]->str;
      if (key == "ip") ip = entry->elements[k + 1]->str;
      else if (key == "port") port = entry->elements[k + 1]->str;
    }
    try {
      self->listen(parse_endpoint(ip + ":" + port, "sentinel"));
    } catch (const Error &) {
    }
  }
}

void SentinelTracker::listen(const Endpoint &sentinel) {
  for (const Listener &l : listeners_)
    if (l.sentinel == sentinel) return;
  NodePool &pool = host_.pool_for(sentinel, NodePool::Kind::sentinel);
  listeners_.push_back(Listener{sentinel, pool.make_subscriber(), 0});
  Connection &c = *listeners_.back().conn;
  c.set_push_handler(&SentinelTracker::on_push, nullptr, this);
  c.connect();
}

void SentinelTracker::on_subscriber(Connection *c, bool ready) {
  auto it = std::find_if(listeners_.begin(), listeners_.end(), [c](const Listener &l) { return l.conn.get() == c; });
  if (it == listeners_.end()) return;
  if (ready) {
    it->failures = 0;
    const char *argv[] = {"SUBSCRIBE", "+switch-master"};
    size_t lens[] = {9, 14};
    c->send_command(2, argv, lens);
    return;
  }
  // A sentinel we listened to is gone: the master may have moved meanwhile. The other
  // listeners still hear of a switch; this one comes back with backoff.
  if (it->failures == 0) request("sentinel subscription lost");
  ++it->failures;
  c->schedule_reconnect(std::min(100 << std::min(it->failures, 5), 2000));
}

void SentinelTracker::on_push(void *ctx, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  auto *self = static_cast<SentinelTracker *>(ctx);
  // ["message", "+switch-master", "<name> <old-ip> <old-port> <new-ip> <new-port>"]
  if (reply->elements.size() < 3 || !reply->elements[2]) return;
  const std::string text(reply->elements[2]->str);
  std::vector<std::string> f;
  size_t p = 0;
  while (p < text.size()) {
    size_t sp = text.find(' ', p);
    f.push_back(text.substr(p, sp == std::string::npos ? std::string::npos : sp - p));
    if (sp == std::string::npos) break;
    p = sp + 1;
  }
  if (f.size() != 5 || f[0] != self->host_.config().sentinel_master) return;
  try {
    Endpoint next = parse_endpoint(f[3] + ":" + f[4], "+switch-master");
    // Every sentinel announces each switch, the slow ones late: a late announcement of an
    // earlier switch (its old master is not ours) must not move us back; the round
    // requested below settles it.
    Endpoint prev = parse_endpoint(f[1] + ":" + f[2], "+switch-master");
    if (self->last_primary_.empty() || prev.str() == self->last_primary_)
      self->hint(next, "+switch-master from sentinel");
    self->request("verify after +switch-master");
  } catch (const Error &) {
  }
}

}  // namespace rcm::core
