// The cache's lookup table: from an entry's 64-bit hash to the entry, open addressing
// with linear probing and backward-shift deletion (no tombstones), so a hit costs one
// probe of a flat array and one look at the entry, and the key's bytes are hashed once
// (std::unordered_map<std::string, ...> hashed the id again, chased a node per probe and
// compared strings on the way: an eighth of a hit's time in perf).
//
// T is any type with `uint64_t hid`; match(e) says whether e is the one looked for (two
// entries may share a hash). Not thread-safe: the cache's shard lock guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rcm::core {

template <typename T>
class EntryIndex {
 public:
  template <typename Match>
  T *find(uint64_t h, Match match) const {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot &s = slots_[i];
      if (s.e == nullptr) return nullptr;
      if (s.h == h && match(s.e)) return s.e;
    }
  }

  // e is not in the index yet.
  void insert(T *e) {
    if ((used_ + 1) * 2 > slots_.size()) grow();
    place(e);
    ++used_;
  }

  void erase(T *e) {
    if (slots_.empty()) return;
    const size_t mask = slots_.size() - 1;
    size_t i = e->hid & mask;
    while (slots_[i].e != e) {
      if (slots_[i].e == nullptr) return;  // not here
      i = (i + 1) & mask;
    }
    // Backward shift: pull each later member of the run whose home is not between the hole
    // and it into the hole, so that no probe stops early at an empty slot.
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
      if (slots_[j].e == nullptr) break;
      const size_t home = slots_[j].h & mask;
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = Slot{};
    --used_;
  }

  size_t size() const { return used_; }

 private:
  struct Slot {
    uint64_t h = 0;
    T *e = nullptr;
  };

  void place(T *e) {
    const size_t mask = slots_.size() - 1;
    size_t i = e->hid & mask;
    while (slots_[i].e != nullptr) i = (i + 1) & mask;
    slots_[i] = Slot{e->hid, e};
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    for (const Slot &s : old)
      if (s.e != nullptr) place(s.e);
  }

  std::vector<Slot> slots_;  // size a power of two, at most half full
  size_t used_ = 0;
};

}  // namespace rcm::core
