/* The read-mostly bench's redis-plus-plus baseline (issue 15 names it), built only where
 * redis-plus-plus is installed (CMake finds sw/redis++/redis++.h and libredis++; it is
 * not packaged in Debian). Without it bench_redispp_open() fails saying so and the bench
 * reports raw hiredis alone. */
#ifndef RCM_TOOLS_BENCH_REDISPP_H
#define RCM_TOOLS_BENCH_REDISPP_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One sw::redis::Redis with a pool of pool_size connections, shared by the threads (how
 * redis-plus-plus is used from several threads); NULL with err set when it fails. */
void *bench_redispp_open(const char *host, int port, int pool_size, char *err, size_t errcap);
/* GET key (argc 2) or SET key value (argc 3); false on an error. Thread-safe. */
bool bench_redispp_command(void *handle, int argc, const char *const *argv, const size_t *lens);
void bench_redispp_close(void *handle);

#ifdef __cplusplus
}
#endif

#endif
