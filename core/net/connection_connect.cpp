// Connection's way to a ready socket: the host name resolved off the I/O thread, every
// address tried in order within connect_timeout_ms, plain TCP or TLS. The handshake that
// follows (AUTH, SELECT, CLIENT SETNAME) is in connection.cpp, the health check in
// connection_health.cpp.
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/common/guard.h"
#include "core/net/connection.h"
#include "core/net/io_thread.h"
#include "core/net/resolver.h"
#include "core/net/tls.h"

namespace rcm::core {

void Connection::connect() {
  reconnect_pending_ = false;
  if (state_ != State::closed) return;
  const Endpoint &ep = target_.endpoint;
  state_ = State::connecting;
  reader_ = std::make_unique<ReplyReader>(cfg_.max_reply_bytes);
  push_carry_.clear();
  bytes_queued_ = 0;
  handshake_status_ = Status::ok;
  handshake_error_.clear();
  in_multi_ = watching_ = subscribed_ = db_changed_ = unclean_ = false;
  absorb_ = 0;
  for (auto &set : subscriptions_) set.clear();
  ping_outstanding_ = false;
  addrs_.clear();
  addr_next_ = 0;
  attempt_errors_.clear();

  // One deadline for the lookup, every address tried and the handshake.
  connect_deadline_ = Clock::now() + std::chrono::milliseconds(cfg_.connect_timeout_ms);
  if (connect_timer_ == nullptr) connect_timer_ = evtimer_new(ctx_.io.base(), RCM_GUARDED(Connection::on_connect_timeout), this);
  arm_connect_timer(cfg_.connect_timeout_ms);

  SockAddr numeric;
  if (resolve_numeric(ep.host, ep.port, numeric)) {
    addrs_.push_back(numeric);
    try_next_address();
    return;
  }
  resolving_ = true;
  const uint64_t gen = ++resolve_gen_;
  std::weak_ptr<char> alive = alive_;
  try {
    ctx_.resolver.resolve(ep.host, ep.port, [this, alive, gen](std::vector<SockAddr> addrs, const std::string &error) {
      // The connection may be gone (alive expired) or have given up on this lookup and
      // started another (gen): then the result is someone else's past.
      if (alive.expired() || gen != resolve_gen_ || !resolving_) return;
      on_resolved(std::move(addrs), error);
    });
  } catch (const std::exception &e) {
    resolving_ = false;
    connect_failed(Status::connection, "cannot resolve '" + ep.host + "': " + e.what());
  }
}

void Connection::on_resolved(std::vector<SockAddr> addrs, const std::string &error) {
  resolving_ = false;
  if (state_ != State::connecting) return;
  if (addrs.empty()) {
    connect_failed(Status::connection, "cannot resolve '" + target_.endpoint.host + "': " + error);
    return;
  }
  addrs_ = std::move(addrs);
  addr_next_ = 0;
  try_next_address();
}

void Connection::arm_connect_timer(long long ms) {
  if (ms < 0) ms = 0;
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  evtimer_add(connect_timer_, &tv);
}

// Tries the addresses in order (a name such as localhost is often ::1 then 127.0.0.1,
// with the server listening on one of them). An address that refuses moves on at once;
// one that does not answer gets its share of the time left, so that a black-holed first
// address cannot use up the whole connect_timeout_ms of the next.
void Connection::try_next_address() {
  while (addr_next_ < addrs_.size()) {
    const SockAddr &a = addrs_[addr_next_++];
    std::string error;
    bool started = ctx_.tls == nullptr ? connect_plain(a, error) : connect_tls(a, error);
    if (!started) {
      if (state_ == State::closed) return;  // connect_tls failed for good (no TLS context)
      attempt_errors_ += (attempt_errors_.empty() ? "" : "; ") + a.str() + ": " + error;
      close_socket();
      continue;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(connect_deadline_ - Clock::now()).count();
    size_t remaining = addrs_.size() - addr_next_ + 1;
    arm_connect_timer(remaining > 1 ? left / static_cast<long long>(remaining) : left);
    return;
  }
  connect_failed(Status::connection, "connect to " + target_.endpoint.str() + ": " + attempt_summary());
}

std::string Connection::attempt_summary() const {
  // One address: its error alone, as it always read; several: each address with its own.
  if (addrs_.size() == 1) {
    size_t colon = attempt_errors_.find(": ");
    return colon == std::string::npos ? attempt_errors_ : attempt_errors_.substr(colon + 2);
  }
  return attempt_errors_;
}

// The current address did not connect (refused, unreachable, its share of time over).
void Connection::attempt_failed(Status why, const std::string &error) {
  attempt_errors_ += (attempt_errors_.empty() ? "" : "; ") + addrs_[addr_next_ - 1].str() + ": " + error;
  if (addr_next_ < addrs_.size() && Clock::now() < connect_deadline_) {
    close_socket();
    try_next_address();
    return;
  }
  connect_failed(why, "connect to " + target_.endpoint.str() + ": " + attempt_summary());
}

void Connection::on_connect_timeout(int, short, void *arg) {
  auto *c = static_cast<Connection *>(arg);
  if (c->state_ == State::connecting && !c->resolving_ && c->addr_next_ > 0 && c->addr_next_ < c->addrs_.size()) {
    c->attempt_failed(Status::timeout, "no answer");
    return;
  }
  if (c->state_ != State::connecting && c->state_ != State::handshaking) return;
  std::string why = c->resolving_ ? " timed out resolving the name after " : " timed out after ";
  c->connect_failed(Status::timeout, "connect to " + c->target_.endpoint.str() + why +
                                         std::to_string(c->cfg_.connect_timeout_ms) + " ms");
}

bool Connection::connect_tls(const SockAddr &a, std::string &error) {
  SSL *ssl = nullptr;
  try {
    ssl = ctx_.tls->new_ssl(target_.endpoint.host);
  } catch (const Error &e) {
    connect_failed(e.status(), e.what());
    return false;
  }
  bev_ = bufferevent_openssl_socket_new(ctx_.io.base(), -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                        BEV_OPT_CLOSE_ON_FREE);
  if (bev_ == nullptr) {
    SSL_free(ssl);
    connect_failed(Status::nomem, "cannot create a socket buffer");
    return false;
  }
  bufferevent_openssl_set_allow_dirty_shutdown(bev_, 1);
  bufferevent_setcb(bev_, RCM_GUARDED(Connection::on_read_cb), nullptr, RCM_GUARDED(Connection::on_event_cb), this);
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
  if (bufferevent_socket_connect(bev_, reinterpret_cast<const sockaddr *>(&a.addr), static_cast<int>(a.len)) != 0) {
    error = std::strerror(errno);
    return false;
  }
  int fd = bufferevent_getfd(bev_);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  }
  return true;
}

bool Connection::connect_plain(const SockAddr &a, std::string &error) {
  fd_ = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  event_base *base = ctx_.io.base();
  read_ev_ = event_new(base, fd_, EV_READ | EV_PERSIST, RCM_GUARDED(Connection::on_socket_readable), this);
  write_ev_ = event_new(base, fd_, EV_WRITE, RCM_GUARDED(Connection::on_socket_writable), this);
  int rc = ::connect(fd_, reinterpret_cast<const sockaddr *>(&a.addr), a.len);
  if (rc != 0 && errno != EINPROGRESS) {
    error = std::strerror(errno);
    return false;
  }
  // Connected or in progress: writability says which, and SO_ERROR how it went.
  event_add(write_ev_, nullptr);
  return true;
}

}  // namespace rcm::core
