#include "core/net/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>

#include "core/net/io_thread.h"

namespace rcm::core {

namespace {

std::atomic<ResolveHook> g_hook{nullptr};

bool lookup(const std::string &host, uint16_t port, std::vector<SockAddr> &out, std::string &error) {
  if (ResolveHook hook = g_hook.load()) return hook(host, port, out, error);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo *res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    error = gai_strerror(rc);
    return false;
  }
  for (const addrinfo *ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SockAddr a;
    std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    out.push_back(a);
  }
  freeaddrinfo(res);
  if (out.empty()) error = "no address";
  return !out.empty();
}

}  // namespace

std::string SockAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET6) {
    const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    return std::string("[") + buf + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  const auto *in = reinterpret_cast<const sockaddr_in *>(&addr);
  inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
}

void set_resolve_hook(ResolveHook hook) { g_hook.store(hook); }

bool resolve_numeric(const std::string &host, uint16_t port, SockAddr &out) {
  out = SockAddr{};
  auto *in = reinterpret_cast<sockaddr_in *>(&out.addr);
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    out.len = sizeof(sockaddr_in);
    return true;
  }
  auto *in6 = reinterpret_cast<sockaddr_in6 *>(&out.addr);
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    out.len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

// Outlives the Resolver when its thread is detached in the middle of a lookup.
struct Resolver::Shared {
  struct Job {
    std::string host;
    uint16_t port;
    Done done;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;   // guarded by mu
  IoThread *io;           // guarded by mu; null once the Resolver is gone
  bool busy = false;      // guarded by mu: a lookup is running

  void run() {
    pthread_setname_np(pthread_self(), "rcm-resolve");
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      cv.wait(lk, [this] { return io == nullptr || !jobs.empty(); });
      if (io == nullptr) return;
      Job job = std::move(jobs.front());
      jobs.pop_front();
      busy = true;
      lk.unlock();
      auto addrs = std::make_shared<std::vector<SockAddr>>();
      auto error = std::make_shared<std::string>();
      try {
        if (!lookup(job.host, job.port, *addrs, *error)) addrs->clear();
      } catch (...) {
        addrs->clear();
        *error = "resolver failed";
      }
      lk.lock();
      busy = false;
      if (io == nullptr) return;
      // Posted under mu so that the IoThread cannot be destroyed meanwhile (~Resolver,
      // which runs before it, takes mu to clear io).
      Done done = std::move(job.done);
      io->post([done, addrs, error] { done(std::move(*addrs), *error); });
    }
  }
};

Resolver::Resolver(IoThread &io) : shared_(std::make_shared<Shared>()) { shared_->io = &io; }

Resolver::~Resolver() {
  bool busy;
  {
    std::lock_guard<std::mutex> lk(shared_->mu);
    shared_->io = nullptr;
    shared_->jobs.clear();
    busy = shared_->busy;
  }
  shared_->cv.notify_all();
  if (!thread_.joinable()) return;
  if (busy)
    thread_.detach();
  else
    thread_.join();
}

void Resolver::resolve(const std::string &host, uint16_t port, Done done) {
  {
    std::lock_guard<std::mutex> lk(shared_->mu);
    shared_->jobs.push_back(Shared::Job{host, port, std::move(done)});
  }
  if (!thread_.joinable()) {
    std::shared_ptr<Shared> shared = shared_;
    thread_ = std::thread([shared] { shared->run(); });
  }
  shared_->cv.notify_one();
}

}  // namespace rcm::core
