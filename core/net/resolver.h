// Host names are resolved off the I/O thread: getaddrinfo may wait seconds for a slow
// DNS server, and everything an I/O thread serves (other sockets, deadlines, the tick)
// would wait with it. Numeric addresses need no lookup and are parsed in place.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace rcm::core {

class IoThread;

struct SockAddr {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string str() const;  // "127.0.0.1:6379", "[::1]:6379"
};

// Test seam: when set, names that are not numeric addresses are resolved by hook (on the
// resolver thread) instead of getaddrinfo. It returns false with error set on failure.
using ResolveHook = bool (*)(const std::string &host, uint16_t port, std::vector<SockAddr> &out,
                             std::string &error);
void set_resolve_hook(ResolveHook hook);

// A literal IPv4 or IPv6 address: its one SockAddr. False for a name.
bool resolve_numeric(const std::string &host, uint16_t port, SockAddr &out);

// One thread, started on first use, that resolves names for one I/O thread in order of
// request and posts each result back to that I/O thread.
class Resolver {
 public:
  // Runs on the I/O thread with every address the name has (in getaddrinfo's order), or
  // none and the reason.
  using Done = std::function<void(std::vector<SockAddr> addrs, const std::string &error)>;

  explicit Resolver(IoThread &io);
  // A lookup under way is not waited for (a slow DNS server must not hold close()): its
  // thread finishes on its own and drops the result.
  ~Resolver();
  Resolver(const Resolver &) = delete;
  Resolver &operator=(const Resolver &) = delete;

  // I/O thread. done is dropped unrun if the I/O thread stops first.
  void resolve(const std::string &host, uint16_t port, Done done);

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace rcm::core
