// Pub/Sub's desired state and its upkeep, on engine 0's I/O thread (every member is
// touched there only). The registry maps each wanted name (kind, every-primary flag,
// name) to its local subscribers and to the node(s) it is placed on; each node has one
// subscriber connection (a Link) that carries every name placed there. When a
// connection is lost, a topology changes or the server drops a name (sunsubscribe after
// a slot move), names are placed again, subscribed again with backoff, and the time they
// were not live is reported (RCM_MSG_GAP per name and subscriber, one
// RCM_EVENT_SUBSCRIPTION_GAP per interruption).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/net/pubsub_frames.h"
#include "core/pubsub/message.h"
#include "core/pubsub/pubsub_host.h"
#include "core/request/request.h"

struct event;

namespace rcm::core {

class Connection;
class PubSub;
class Subscriber;

class PubSubManager {
 public:
  PubSubManager(PubSubHost &host, std::shared_ptr<PubSub> pubsub);
  ~PubSubManager();
  PubSubManager(const PubSubManager &) = delete;
  PubSubManager &operator=(const PubSubManager &) = delete;

  // From the subscribers (posted).
  void add(const std::shared_ptr<Subscriber> &s, SubKind kind, bool every, const std::vector<std::string> &names);
  void remove(const std::shared_ptr<Subscriber> &s, SubKind kind, bool every, const std::vector<std::string> &names,
              bool all);
  void drop(const std::shared_ptr<Subscriber> &s);

  // From the engine.
  void on_topology();                         // a new slot map or primary: place again
  bool on_subscriber(Connection *c, bool ready);  // false: not one of ours
  void tick(Clock::time_point now);
  bool uses(const Endpoint &ep) const;        // a pool that must stay
  void shutdown();

 private:
  using ServerName = std::pair<int, std::string>;  // (kind index, name): what a server knows
  struct Key {
    SubKind kind;
    bool every;
    std::string name;
  };
  // A Key that borrows its name: a message's lookup copies nothing.
  struct KeyView {
    SubKind kind;
    bool every;
    std::string_view name;
  };
  struct KeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A &a, const B &b) const {
      if (a.kind != b.kind) return a.kind < b.kind;
      if (a.every != b.every) return a.every < b.every;
      return std::string_view(a.name) < std::string_view(b.name);
    }
  };
  struct Entry {
    std::vector<std::shared_ptr<Subscriber>> subs;
    std::vector<std::shared_ptr<Subscriber>> awaiting;  // not told SUBSCRIBED yet
    std::vector<std::string> nodes;                     // links it is placed on
    std::map<std::string, long long> gap_from;          // link -> ms it was last known live
  };
  struct ServerState {
    int wanted = 0;        // entries placed here that want it
    bool sent = false;     // the last command sent for it subscribes
    bool live = false;     // the server confirmed it
    int unsubs = 0;        // our UNSUBSCRIBEs not confirmed yet
    // The node dropped or refused it (sunsubscribe, MOVED): not asked there again until
    // then, while new views of the topology are asked for (a move to another node
    // starts afresh there); after a few holds it is asked again where it is.
    Clock::time_point held_until{};
    int holds = 0;
    // When it was first wanted here: names go out in the order they were asked for (the
    // server confirms in that order; callers such as redis-py's tests expect it).
    uint64_t order = 0;
  };
  struct GapNote {
    std::string what;      // "channel news"
    long long from = 0;
  };
  struct Link {
    PubSubManager *mgr = nullptr;
    Endpoint ep;
    std::string key;                       // ep.str()
    std::unique_ptr<Connection> conn;
    int failures = 0;
    bool ready = false;
    bool dying = false;
    std::map<ServerName, ServerState> names;
    int sub_cmds = 0;                      // subscribe commands not fully confirmed
    std::vector<GapNote> report;           // names live again this round
    long long report_to = 0;
  };

  static void on_push(void *ctx, Reply *reply);
  static void on_push_frame(void *ctx, const PushFrame &frame);
  static void on_wake(int, short, void *arg);
  // Queues m for s; s is woken once, after what this loop iteration read (on_wake).
  // An overflow episode it starts is reported (report_overflow).
  void deliver(const std::shared_ptr<Subscriber> &s, MessagePtr m);
  // s started dropping its oldest messages (a message from node overflowed its queue).
  void report_overflow(const Subscriber &s, const std::string &node);
  static void on_command_done(Request *r, Status status, Reply *reply);
  void on_message(Link &l, const PushFrame &frame);
  void on_confirmation(Link &l, int kind_index, const std::string &name);
  void on_lost(Link &l);
  void confirmed(Link &l, const ServerName &sn, long long now_ms);
  void finish_round(Link &l);

  std::vector<std::string> place(const Key &k);
  void attach(const Key &k, Entry &e);
  void want(ServerState &st);  // one more entry wants it here
  void detach(const Key &k, Entry &e, long long now_ms);
  void release_entry(std::map<Key, Entry, KeyLess>::iterator it);
  Link &link(const std::string &node);
  void sync(Link &l);
  void sync_dirty();
  void close_link(Link &l);
  bool live_anywhere(const Key &k, const Entry &e) const;
  void count_names();
  void retry_later(const std::string &why);
  void hold(ServerState &st, const std::string &why);
  void replace();
  // pubsub_demotion.cpp: a node that dropped our names is asked its ROLE.
  struct Demotion {
    std::string to;  // the demoted node's primary: its slots' owner now
    Clock::time_point until;
    bool caught_up;  // a slot map no longer listed the node as a primary
  };
  void probe_role(const std::string &node);
  static void on_role(Request *r, Status status, Reply *reply);
  const std::string &successor(const std::string &node) const;
  void note_map(const ClusterTopology &topo);
  void forget_successor(const std::string &node);
  bool has_demotions(Clock::time_point now);  // one waits for the map; drops the expired
  long long now_ms() const;
  long long last_live_ms(const Link &l) const;

  PubSubHost &host_;
  std::shared_ptr<PubSub> pubsub_;
  const Config &cfg_;
  std::map<Key, Entry, KeyLess> entries_;
  size_t every_entries_ = 0;  // entries_ with every: on_message looks those up only when there are some
  std::map<std::string, std::unique_ptr<Link>> links_;
  std::set<std::string> dirty_;                           // links to sync
  std::vector<std::unique_ptr<Link>> graveyard_;          // closed in a callback, freed at the next tick
  std::string chosen_;                                    // cluster: the node for channels and patterns
  uint64_t orders_ = 0;  // the last ServerState::order handed out
  Clock::time_point resync_at_ = Clock::time_point::max();  // a refused subscribe is tried again then
  int resync_failures_ = 0;
  std::map<std::string, Demotion> demoted_;                // node -> its primary, as its ROLE said
  std::set<std::string> probing_;                         // ROLE asked, no answer yet
  std::shared_ptr<char> alive_ = std::make_shared<char>();  // a late ROLE reply finds it gone
  std::vector<std::shared_ptr<Subscriber>> to_wake_;      // pushed to since the last on_wake
  long long queued_ = 0;  // messages queued since the last on_wake, then added to the stats
  event *wake_ev_ = nullptr;
  bool shut_ = false;
};

}  // namespace rcm::core
