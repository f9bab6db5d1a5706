#include "core/client/request.h"

#include "core/client/stats.h"

namespace rcm::core {

void request_complete(Request *r, Status status, Reply *reply) {
  if (r->completed) {
    delete reply;
    return;
  }
  r->completed = true;
  if (r->stats != nullptr && !r->internal) {
    Clock::time_point now = Clock::now();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - r->created).count();
    r->stats->record(status, reply != nullptr && reply->is_error(), static_cast<uint64_t>(us), now);
  }
  r->done(r, status, reply);
}

void request_fail(Request *r, Status status, const std::string &message) {
  if (r->completed) return;
  request_complete(r, status, Reply::make_error(status, message));
}

void request_release(Request *r) {
  if (--r->refs == 0) delete r;
}

}  // namespace rcm::core
