// unit.net: a Connection driven by a listener of the test's own, linked with net/ and the
// layers below it only (no pool, no engine): what a connection tells its owner when it
// becomes ready, answers, loses its server, or cannot reach it. The peer is an in-process
// socket on an ephemeral port (no server, no fixed port).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

  explicit Rig(uint16_t port) : target{Endpoint{"127.0.0.1", port}, &stats} {
    io.start();
    io.run_sync([this] {
      conn = std::make_unique<Connection>(ctx, target, rec, Connection::Role::shared);
      conn->connect();
    });
  }
  ~Rig() {
    io.run_sync([this] { conn.reset(); });
    io.stop([] {});
  }
};

void done_ignore(Request *, Status, Reply *reply) { delete reply; }

}  // namespace

TEST(test_connection__tells_its_listener_ready_reply_and_loss) {
  uint16_t port = 0;
  int lfd = listen_local(&port);
  REQUIRE(lfd >= 0);
  Rig rig(port);
  int peer = ::accept(lfd, nullptr, nullptr);
  REQUIRE(peer >= 0);
  REQUIRE(rig.rec.wait_for(1).size() == 1);
  CHECK_EQ(rig.rec.events[0], std::string("ready"));

  rig.io.run_sync([&] {
    auto *r = new Request();
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    encode_command(r->payload, 1, argv, lens);
    r->created = Clock::now();
    r->done = &done_ignore;
    rig.conn->send(r);
  });
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

CHECK_MAIN
