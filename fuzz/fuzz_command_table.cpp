// fuzz_command_table: the COMMAND reply and key-spec parser (core/route/command_table)
// and what the router does with what it learned (core/route/router). The input is a
// RESP reply (COMMAND or COMMAND INFO) followed by a command line, its arguments
// separated by '\n'. The table learned from the reply classifies that command; its key
// positions must be arguments of it, and a cluster route plan must be consistent: one
// slot in range, or a split whose parts hold each key once, in its own slot, encoded as
// a command the reader reads back.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/route/command_table.h"
#include "core/route/router.h"
#include "core/route/slot.h"
#include "fuzz/fuzz_util.h"

using rcm::core::CommandInfo;
using rcm::core::CommandTable;
using rcm::core::Error;
using rcm::core::kSlots;
using rcm::core::Reply;
using rcm::core::ReplyKind;
using rcm::core::RouteKind;
using rcm::core::RoutePlan;
using rcm::core::Status;

namespace {

constexpr size_t kMaxArgs = 64;

void check_split(const RoutePlan &plan, const std::vector<int> &keys, const std::vector<std::string> &args) {
  std::vector<int> seen(keys.size(), 0);
  for (const auto &sc : plan.split) {
    FUZZ_CHECK(sc.slot >= 0 && sc.slot < kSlots, "split part in slot %d", sc.slot);
    FUZZ_CHECK(!sc.key_index.empty(), "split part without keys");
    for (uint32_t k : sc.key_index) {
      FUZZ_CHECK(k < keys.size(), "split key index %u of %zu keys", k, keys.size());
      ++seen[k];
      const std::string &key = args[keys[k]];
      FUZZ_CHECK(rcm::core::key_slot(key.data(), key.size()) == sc.slot, "key %u sent to slot %d", k, sc.slot);
    }
    rcm::fuzz::ReplyPtr cmd = rcm::fuzz::parse_first_reply(reinterpret_cast<const uint8_t *>(sc.payload.data()),
                                                           sc.payload.size());
    FUZZ_CHECK(cmd && cmd->kind == ReplyKind::array && !cmd->elements.empty(), "split part is not a command");
    FUZZ_CHECK(cmd->elements[0]->str == args[0], "split part is not the same command");
  }
  for (size_t k = 0; k < seen.size(); ++k) FUZZ_CHECK(seen[k] == 1, "key %zu in %d split parts", k, seen[k]);
}

void check_command(const CommandTable &table, const std::vector<std::string> &args) {
  std::vector<const char *> argv;
  std::vector<size_t> lens;
  for (const std::string &a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  const int argc = static_cast<int>(args.size());
  CommandInfo info = table.classify(argc, argv.data(), lens.data());
  std::vector<int> keys;
  try {
    keys = rcm::core::key_positions(info, argc, argv.data(), lens.data());
  } catch (const Error &e) {
    FUZZ_CHECK(e.status() == Status::arg, "key_positions threw status %d: %s", static_cast<int>(e.status()), e.what());
    return;
  }
  for (int k : keys) FUZZ_CHECK(k >= 1 && k < argc, "key position %d of %d arguments", k, argc);

  RoutePlan plan;
  try {
    plan = rcm::core::plan_route(info, argc, argv.data(), lens.data());
  } catch (const Error &e) {
    FUZZ_CHECK(e.status() == Status::crossslot || e.status() == Status::arg, "plan_route threw status %d: %s",
               static_cast<int>(e.status()), e.what());
    return;
  }
  FUZZ_CHECK(plan.keys == keys.size(), "the plan counts %zu keys, key_positions %zu", plan.keys, keys.size());
  if (plan.kind == RouteKind::slot) {
    FUZZ_CHECK(plan.slot >= 0 && plan.slot < kSlots && !keys.empty(), "routed to slot %d", plan.slot);
    for (int k : keys)
      FUZZ_CHECK(rcm::core::key_slot(args[k].data(), args[k].size()) == plan.slot, "key %d is not in slot %d", k,
                 plan.slot);
  }
  if (!plan.split.empty()) check_split(plan, keys, args);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string rest;
  rcm::fuzz::ReplyPtr reply = rcm::fuzz::parse_first_reply(data, size, &rest);
  if (!reply) return 0;
  std::unique_ptr<CommandTable> table(CommandTable::from_command_reply(*reply));
  FUZZ_CHECK(table->size() >= CommandTable::builtin().size(), "the learned table lost built-in entries");
  // The reply may be freed once learned: the table keeps what it needs.
  reply.reset();

  std::vector<std::string> args;
  for (size_t start = 0; start < rest.size() && args.size() < kMaxArgs;) {
    size_t nl = rest.find('\n', start);
    args.push_back(rest.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    start = nl == std::string::npos ? rest.size() : nl + 1;
  }
  if (args.empty()) return 0;
  check_command(*table, args);
  check_command(CommandTable::builtin(), args);
  return 0;
}
