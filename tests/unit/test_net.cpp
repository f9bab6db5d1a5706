// unit.net: a Connection driven by a listener of the test's own, linked with net/ and the
// layers below it only (no pool, no engine): what a connection tells its owner when it
// becomes ready, answers, loses its server, or cannot reach it. The peer is an in-process
// socket on an ephemeral port (no server, no fixed port).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/common/status.h"
#include "core/config/config.h"
#include "core/net/connection.h"
#include "core/net/connection_listener.h"
#include "core/net/io_thread.h"
#include "core/net/resolver.h"
#include "core/request/request.h"
#include "core/request/stats.h"
#include "core/resp/encoder.h"
#include "core/resp/reply.h"
#include "tests/unit/check.h"

using namespace rcm::core;

namespace {

// What the connection reported, in order; written on the I/O thread, read by the test.
struct Recorder final : ConnectionListener {
  IoThread &io;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;  // guarded by mu
  explicit Recorder(IoThread &t) : io(t) {}

  void note(std::string e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(std::move(e));
    cv.notify_all();
  }
  // Waits (bounded) until n events were reported; returns them.
  std::vector<std::string> wait_for(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return events.size() >= n; });
    return events;
  }

  void on_connection_ready(Connection *) override { note("ready"); }
  void on_connection_down(Connection *, Status why, const std::string &message, std::vector<Request *> &resend,
                          bool was_ready) override {
    note(std::string("down ") + status_name(why) + (was_ready ? " was_ready " : " never_ready ") +
         std::to_string(resend.size()) + " " + message);
    for (Request *r : resend) request_release(r);
    resend.clear();
  }
  void on_reply(Request *r, Reply *reply) override {
    note("reply " + reply->str);
    request_complete(r, Status::ok, reply);
  }
  // Flushed from a task, as the engine does: after send() returned, before the next poll.
  void want_flush(Connection *c) override {
    io.post([c] { c->flush(); });
  }
  void forget_flush(Connection *) override {}
};

// A listening socket on 127.0.0.1, ephemeral port.
int listen_local(uint16_t *port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0) return -1;
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// No password, db or client name: no handshake, ready as soon as connected.
Config no_handshake() {
  Config c;
  c.client_name.clear();
  return c;
}

struct Rig {
  Config cfg = no_handshake();
  IoThread io{0, 0};
  Resolver resolver{io};
  std::unique_ptr<char[]> buf{new char[4096]};
  IoContext ctx{cfg, io, resolver, nullptr, buf.get(), 4096};
  NodeStats stats;
  ConnectionTarget target;
  Recorder rec{io};
  std::unique_ptr<Connection> conn;

  explicit Rig(uint16_t port, Connection::Role role = Connection::Role::shared, long long max_reply_bytes = 0)
      : target{Endpoint{"127.0.0.1", port}, &stats} {
    if (max_reply_bytes > 0) cfg.max_reply_bytes = max_reply_bytes;
    io.start();
    io.run_sync([this, role] {
      conn = std::make_unique<Connection>(ctx, target, rec, role);
      conn->connect();
    });
  }
  ~Rig() {
    io.run_sync([this] { conn.reset(); });
    io.stop([] {});
  }
};

// A subscriber connection to a peer socket of the test's own: accepted and ready.
struct SubscriberRig {
  int lfd = -1;
  int peer = -1;
  std::unique_ptr<Rig> rig;
  explicit SubscriberRig(long long max_reply_bytes = 0) {
    uint16_t port = 0;
    lfd = listen_local(&port);
    REQUIRE(lfd >= 0);
    rig = std::make_unique<Rig>(port, Connection::Role::subscriber, max_reply_bytes);
    peer = ::accept(lfd, nullptr, nullptr);
    REQUIRE(peer >= 0);
    REQUIRE(rig->rec.wait_for(1).size() == 1);
  }
  ~SubscriberRig() {
    rig.reset();
    if (peer >= 0) ::close(peer);
    ::close(lfd);
  }
};

void done_ignore(Request *, Status, Reply *reply) { delete reply; }

// A PING request whose outcome goes to done (with ctx).
Request *ping_request(Request::DoneFn done, void *ctx = nullptr) {
  auto *r = new Request();
  const char *argv[] = {"PING"};
  size_t lens[] = {4};
  encode_command(r->payload, 1, argv, lens);
  r->created = Clock::now();
  r->done = done;
  r->ctx = ctx;
  return r;
}

// Reads from fd until `want` bytes came (bounded by the socket's blocking reads).
std::string read_exactly(int fd, size_t want) {
  std::string out;
  char buf[256];
  while (out.size() < want) {
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, want - out.size()));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// What a subscriber connection handed its push handler, and how its requests ended.
struct SubscriberLog {
  std::mutex mu;
  std::vector<std::string> pushes;  // guarded by mu: "kind name"
  std::vector<std::string> done;    // guarded by mu: "status reply-or-due"
};

// Waits (up to 2 s) until pred() holds under log.mu.
template <class Pred>
void wait_logged(SubscriberLog &log, Pred pred) {
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(log.mu);
      if (pred()) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void on_push_logged(void *ctx, Reply *reply) {
  auto *log = static_cast<SubscriberLog *>(ctx);
  std::lock_guard<std::mutex> lock(log->mu);
  log->pushes.push_back(reply->elements[0]->str + " " + reply->elements[1]->str);
  delete reply;
}

// Message pushes read without a Reply: "frame <kind> <pattern>|<channel>|<payload>".
void on_frame_logged(void *ctx, const PushFrame &f) {
  auto *log = static_cast<SubscriberLog *>(ctx);
  std::lock_guard<std::mutex> lock(log->mu);
  log->pushes.push_back("frame " + std::to_string(f.kind) + " " + std::string(f.pattern) + "|" + std::string(f.channel) +
                        "|" + std::string(f.payload));
}

void on_done_logged(Request *r, Status status, Reply *reply) {
  auto *log = static_cast<SubscriberLog *>(r->ctx);
  std::string what = std::string(status_name(status));
  if (reply != nullptr) what += " " + (reply->kind == ReplyKind::array ? reply->elements[0]->str : reply->str);
  if (r->sub_due)
    for (const std::string &d : *r->sub_due) what += " due:" + d.substr(1);
  delete reply;
  std::lock_guard<std::mutex> lock(log->mu);
  log->done.push_back(what);
}

}  // namespace

// A request's payload is kept inline up to Payload::kInline bytes and on the heap beyond:
// both encode byte for byte as a std::string does, also when an append crosses the line.
TEST(test_payload__inline_and_heap_encode_alike) {
  std::string big(300, 'x');
  for (size_t len : {size_t(0), size_t(3), size_t(60), Payload::kInline, size_t(300)}) {
    const char *argv[] = {"SET", "key", big.data()};
    const size_t lens[] = {3, 3, len};
    std::string expect;
    encode_command(expect, 3, argv, lens);
    Payload p;
    encode_command(p, 3, argv, lens);
    CHECK_EQ(std::string(p.data(), p.size()), expect);
    encode_command(p, 3, argv, lens);  // appends, maybe moving inline bytes to the heap
    encode_command(expect, 3, argv, lens);
    CHECK_EQ(std::string(p.data(), p.size()), expect);
    Payload copy(p);
    CHECK_EQ(std::string(copy.data(), copy.size()), expect);
    copy = Payload();
    CHECK(copy.empty());
  }
}

TEST(test_connection__tells_its_listener_ready_reply_and_loss) {
  uint16_t port = 0;
  int lfd = listen_local(&port);
  REQUIRE(lfd >= 0);
  Rig rig(port);
  int peer = ::accept(lfd, nullptr, nullptr);
  REQUIRE(peer >= 0);
  REQUIRE(rig.rec.wait_for(1).size() == 1);
  CHECK_EQ(rig.rec.events[0], std::string("ready"));

  rig.io.run_sync([&] { rig.conn->send(ping_request(&done_ignore)); });
  char in[64];
  const std::string ping = "*1\r\n$4\r\nPING\r\n";
  size_t got = 0;
  while (got < ping.size()) {
    ssize_t n = ::read(peer, in + got, sizeof in - got);
    REQUIRE(n > 0);
    got += static_cast<size_t>(n);
  }
  CHECK_EQ(std::string(in, got), ping);
  REQUIRE(::write(peer, "+PONG\r\n", 7) == 7);
  auto events = rig.rec.wait_for(2);
  REQUIRE(events.size() == 2);
  CHECK_EQ(events[1], std::string("reply PONG"));

  ::close(peer);
  events = rig.rec.wait_for(3);
  REQUIRE(events.size() == 3);
  const std::string down = "down " + std::string(status_name(Status::connection)) + " was_ready 0 connection to 127.0.0.1:" +
                           std::to_string(port) + " lost";
  CHECK_EQ(events[2].substr(0, down.size()), down);
  ::close(lfd);
}

TEST(test_connection__refused_connect_names_the_server_and_counts) {
  uint16_t port = 0;
  int lfd = listen_local(&port);
  REQUIRE(lfd >= 0);
  ::close(lfd);  // nothing listens there now: the connect is refused
  Rig rig(port);
  auto events = rig.rec.wait_for(1);
  REQUIRE(events.size() == 1);
  const std::string down = "down " + std::string(status_name(Status::connection)) + " never_ready 0 connect to 127.0.0.1:" +
                           std::to_string(port);
  CHECK_EQ(events[0].substr(0, down.size()), down);
  uint64_t failures = 0;
  rig.io.run_sync([&] { failures = rig.stats.connect_failures; });
  CHECK_EQ(failures, static_cast<uint64_t>(1));
}

// A subscriber connection: confirmations and messages go to the push handler; a
// subscribe request completes once each of its names is confirmed, matched by kind and
// name (an unsolicited sunsubscribe in between is not counted); a PING is answered by
// ["pong", ""]; an error reply ends the request with its names still due.
TEST(test_connection__subscriber_confirmations_complete_by_name) {
  SubscriberRig sr;
  Rig &rig = *sr.rig;
  const int peer = sr.peer;
  SubscriberLog log;
  rig.io.run_sync([&] {
    rig.conn->set_push_handler(&on_push_logged, nullptr, &log);
    rig.conn->send_subscription("SSUBSCRIBE", {"a", "b"}, &on_done_logged, &log);
  });
  const std::string cmd = "*3\r\n$10\r\nSSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n";
  CHECK_EQ(read_exactly(peer, cmd.size()), cmd);
  const std::string frames =
      "*3\r\n$12\r\nsunsubscribe\r\n$1\r\nb\r\n:0\r\n"   // unsolicited, about b: not its answer
      "*3\r\n$10\r\nssubscribe\r\n$1\r\na\r\n:1\r\n"
      "*3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$1\r\np\r\n";
  REQUIRE(::write(peer, frames.data(), frames.size()) == static_cast<ssize_t>(frames.size()));
  wait_logged(log, [&] { return log.pushes.size() >= 3; });
  {
    std::lock_guard<std::mutex> lock(log.mu);
    REQUIRE(log.pushes.size() == 3);
    CHECK_EQ(log.pushes[0], std::string("sunsubscribe b"));
    CHECK_EQ(log.pushes[2], std::string("smessage a"));
    CHECK(log.done.empty());  // b is still due
  }
  const std::string last = "*3\r\n$10\r\nssubscribe\r\n$1\r\nb\r\n:2\r\n";
  REQUIRE(::write(peer, last.data(), last.size()) == static_cast<ssize_t>(last.size()));
  // A PING behind it is answered by the array a subscribed RESP2 connection sends.
  rig.io.run_sync([&] {
    Request *r = ping_request(&on_done_logged, &log);
    r->internal = true;
    rig.conn->send(r);
    rig.conn->send_subscription("SSUBSCRIBE", {"c"}, &on_done_logged, &log);
  });
  const std::string ping = "*1\r\n$4\r\nPING\r\n";
  const std::string cmd2 = "*2\r\n$10\r\nSSUBSCRIBE\r\n$1\r\nc\r\n";
  CHECK_EQ(read_exactly(peer, ping.size() + cmd2.size()), ping + cmd2);
  const std::string answers = "*2\r\n$4\r\npong\r\n$0\r\n\r\n-MOVED 7365 127.0.0.1:1\r\n";
  REQUIRE(::write(peer, answers.data(), answers.size()) == static_cast<ssize_t>(answers.size()));
  wait_logged(log, [&] { return log.done.size() >= 3; });
  std::lock_guard<std::mutex> lock(log.mu);
  REQUIRE(log.done.size() == 3);
  CHECK_EQ(log.done[0], std::string(status_name(Status::ok)));
  CHECK_EQ(log.done[1], std::string(status_name(Status::ok)) + " pong");
  CHECK_EQ(log.done[2], std::string(status_name(Status::ok)) + " MOVED 7365 127.0.0.1:1 due:c");
  CHECK_EQ(log.pushes.size(), static_cast<size_t>(4));
}

// scan_push_frame: a value is found whole or not at all (every shorter prefix asks for
// more), messages are told apart from everything else, and what it does not follow
// (malformed, too deep, a bulk over the bound) is left to the reply reader (< 0).
TEST(test_push_frames__whole_values_only_messages_recognised) {
  struct Case {
    std::string bytes;
    bool is_msg;
    std::string seen;  // kind|pattern|channel|payload of a message
  };
  const std::vector<Case> cases = {
      {"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$4\r\na\r\nb\r\n", true, "0||ch|a\r\nb"},
      {"*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$0\r\n\r\n", true, "2||s|"},
      {"*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npq\r\n$1\r\nx\r\n", true, "1|p*|pq|x"},
      {"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", false, ""},
      {"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n", false, ""},
      {"*2\r\n$4\r\npong\r\n$0\r\n\r\n", false, ""},
      {"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n:5\r\n", false, ""},  // not a message's shape
      {"*2\r\n*1\r\n+OK\r\n*-1\r\n", false, ""},
      {"-ERR a\rb\r\n", false, ""},
      {":12\r\n", false, ""},
  };
  for (const Case &c : cases) {
    PushFrame f;
    bool is_msg = true;
    for (size_t n = 0; n < c.bytes.size(); ++n) CHECK_EQ(scan_push_frame(c.bytes.data(), n, 0, &f, &is_msg), 0LL);
    const std::string more = c.bytes + "*1\r\n";  // what follows is not read
    CHECK_EQ(scan_push_frame(more.data(), more.size(), 0, &f, &is_msg), static_cast<long long>(c.bytes.size()));
    CHECK_EQ(is_msg, c.is_msg);
    if (c.is_msg)
      CHECK_EQ(std::to_string(f.kind) + "|" + std::string(f.pattern) + "|" + std::string(f.channel) + "|" +
                   std::string(f.payload),
               c.seen);
  }
  PushFrame f;
  bool is_msg = false;
  for (const std::string bad : {"$x\r\n", "?\r\n", "$3\r\nabcXY", "*-2\r\n", "$123456789012345678901\r\n",
                                "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"})
    CHECK(scan_push_frame(bad.data(), bad.size(), 0, &f, &is_msg) < 0);
  const std::string big = "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$100\r\n";
  CHECK(scan_push_frame(big.data(), big.size(), 99, &f, &is_msg) < 0);  // announced over the bound
  CHECK_EQ(scan_push_frame(big.data(), big.size(), 100, &f, &is_msg), 0LL);
}

// With a frame handler, messages are read straight from the bytes and everything else
// through the reply reader, in the order the server sent them, however the stream is cut
// into reads (pieces of 1 to 13 bytes, then a payload larger than the read buffer).
TEST(test_connection__subscriber_frames_keep_order_across_any_cut) {
  SubscriberRig sr;
  Rig &rig = *sr.rig;
  const int peer = sr.peer;
  SubscriberLog log;
  rig.io.run_sync([&] {
    rig.conn->set_push_handler(&on_push_logged, &on_frame_logged, &log);
    rig.conn->send_subscription("SUBSCRIBE", {"a"}, &on_done_logged, &log);
  });
  const std::string cmd = "*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n";
  CHECK_EQ(read_exactly(peer, cmd.size()), cmd);
  const std::string large(10000, 'L');
  const std::string head =
      "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
      "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nx\r\n*1\r\n"
      "*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$2\r\nab\r\n$0\r\n\r\n"
      "*3\r\n$12\r\nsunsubscribe\r\n$1\r\nb\r\n:0\r\n"
      "*3\r\n$8\r\nsmessage\r\n$1\r\nb\r\n$1\r\ny\r\n";
  const std::string tail = "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$10000\r\n" + large + "\r\n" +
                           "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nz\r\n";
  for (size_t at = 0, piece = 1; at < head.size(); at += piece, piece = piece % 13 + 1) {
    const size_t n = std::min(piece, head.size() - at);
    REQUIRE(::write(peer, head.data() + at, n) == static_cast<ssize_t>(n));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(::write(peer, tail.data(), tail.size()) == static_cast<ssize_t>(tail.size()));
  wait_logged(log, [&] { return log.pushes.size() >= 7; });
  std::lock_guard<std::mutex> lock(log.mu);
  const std::vector<std::string> want = {"subscribe a",   "frame 0 |a|x\r\n*1", "frame 1 a*|ab|", "sunsubscribe b",
                                         "frame 2 |b|y", "frame 0 |a|" + large, "frame 0 |a|z"};
  CHECK_EQ(log.pushes.size(), want.size());
  for (size_t i = 0; i < want.size() && i < log.pushes.size(); ++i) CHECK_EQ(log.pushes[i], want[i]);
  REQUIRE(log.done.size() == 1);
  CHECK_EQ(log.done[0], std::string(status_name(Status::ok)));
}

// max_reply_bytes holds for messages read without the reader: one over it (whole or
// still arriving) breaks the connection, as any reply over it does.
TEST(test_connection__subscriber_frame_over_max_reply_bytes_breaks) {
  for (bool announced : {true, false}) {
    SubscriberRig sr(64);
    Rig &rig = *sr.rig;
    const int peer = sr.peer;
    SubscriberLog log;
    rig.io.run_sync([&] { rig.conn->set_push_handler(&on_push_logged, &on_frame_logged, &log); });
    // Under the bound as a bulk, over it as a whole; or a bulk announced over it.
    const std::string frame = announced ? "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$65\r\n"
                                        : "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$60\r\n" + std::string(60, 'p') + "\r\n";
    REQUIRE(::write(peer, frame.data(), frame.size()) == static_cast<ssize_t>(frame.size()));
    auto events = rig.rec.wait_for(2);
    REQUIRE(events.size() == 2);
    CHECK(events[1].find("reply too large") != std::string::npos);
    std::lock_guard<std::mutex> lock(log.mu);
    CHECK(log.pushes.empty());
  }
}

CHECK_MAIN
