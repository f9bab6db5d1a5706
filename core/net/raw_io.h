// read(2), send(2) and write(2) as plain system calls, without glibc's cancellation-point
// bookkeeping: its wrappers call __pthread_enable_asynccancel and
// __pthread_disable_asynccancel around every call in a multi-threaded process, about 35
// instructions, three times per synchronous request (the wake-up, the send, the read;
// bench/instructions.sh). rcm's own threads are never cancelled, and none of these calls
// is a cancellation point rcm promises to a caller's thread. Same results and errno as
// the wrappers.
#pragma once

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

namespace rcm::core {

inline ssize_t raw_read(int fd, void *buf, size_t len) { return syscall(SYS_read, fd, buf, len); }

inline ssize_t raw_write(int fd, const void *buf, size_t len) { return syscall(SYS_write, fd, buf, len); }

inline ssize_t raw_send(int fd, const void *buf, size_t len, int flags) {
  return syscall(SYS_sendto, fd, buf, len, flags, nullptr, 0);
}

}  // namespace rcm::core
