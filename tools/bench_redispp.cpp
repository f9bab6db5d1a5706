// The read-mostly bench's redis-plus-plus baseline (bench_redispp.h). Compiled with
// RCM_HAVE_REDISPP only where CMake found redis-plus-plus; otherwise the stubs below.
#include "bench_redispp.h"

#include <cstdio>
#include <exception>

#ifdef RCM_HAVE_REDISPP
#include <sw/redis++/redis++.h>

void *bench_redispp_open(const char *host, int port, int pool_size, char *err, size_t errcap) {
  try {
    sw::redis::ConnectionOptions co;
    co.host = host;
    co.port = port;
    sw::redis::ConnectionPoolOptions po;
    po.size = static_cast<std::size_t>(pool_size);
    auto *r = new sw::redis::Redis(co, po);
    r->ping();
    return r;
  } catch (const std::exception &e) {
    std::snprintf(err, errcap, "redis-plus-plus: %s", e.what());
    return nullptr;
  }
}

bool bench_redispp_command(void *handle, int argc, const char *const *argv, const size_t *lens) {
  auto *r = static_cast<sw::redis::Redis *>(handle);
  try {
    sw::redis::StringView key(argv[1], lens[1]);
    if (argc == 2) {
      r->get(key);
    } else {
      r->set(key, sw::redis::StringView(argv[2], lens[2]));
    }
    return true;
  } catch (const std::exception &) {
    return false;
  }
}

void bench_redispp_close(void *handle) { delete static_cast<sw::redis::Redis *>(handle); }

#else

void *bench_redispp_open(const char *, int, int, char *err, size_t errcap) {
  std::snprintf(err, errcap, "redis-plus-plus is not installed (not packaged in Debian)");
  return nullptr;
}

bool bench_redispp_command(void *, int, const char *const *, const size_t *) { return false; }

void bench_redispp_close(void *) {}

#endif
