// unit.cache: the cache's lookup table (core/cache/entry_index.h), open addressing with
// backward-shift deletion, against std::multimap under many hash collisions: every
// member stays findable after any sequence of inserts and erases (a wrong shift would
// leave one behind an empty slot, where no probe reaches it).
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "check.h"
#include "core/cache/entry_index.h"

using rcm::core::EntryIndex;

namespace {
struct Item {
  uint64_t hid;
  int id;
};
}  // namespace

TEST(index_finds_every_member_through_collisions_and_erases) {
  for (uint64_t spread : {1ull, 7ull, 64ull, 1000ull}) {  // 1: every item on one hash
    EntryIndex<Item> index;
    std::vector<std::unique_ptr<Item>> all;
    std::vector<Item *> in;
    std::mt19937_64 rng(spread);
    int next = 0;
    for (int step = 0; step < 4000; ++step) {
      if (in.empty() || rng() % 3 != 0) {
        all.push_back(std::make_unique<Item>(Item{rng() % spread, next++}));
        in.push_back(all.back().get());
        index.insert(in.back());
      } else {
        size_t k = rng() % in.size();
        index.erase(in[k]);
        in[k] = in.back();
        in.pop_back();
      }
      if (step % 97 == 0 || step == 3999) {
        REQUIRE(index.size() == in.size());
        for (Item *it : in) {
          Item *found = index.find(it->hid, [&](const Item *x) { return x->id == it->id; });
          REQUIRE(found == it);
        }
      }
    }
    // Erased members are gone; a hash nobody has finds nothing.
    for (auto &p : all) {
      bool member = false;
      for (Item *it : in) member = member || it == p.get();
      Item *found = index.find(p->hid, [&](const Item *x) { return x->id == p->id; });
      CHECK(found == (member ? p.get() : nullptr));
    }
    CHECK(index.find(spread + 5, [](const Item *) { return true; }) == nullptr);
    for (Item *it : in) index.erase(it);
    CHECK_EQ(index.size(), size_t{0});
  }
}

CHECK_MAIN
