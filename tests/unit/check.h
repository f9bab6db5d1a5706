// A minimal test runner for the C++ unit tests: TEST(name) registers a function, CHECK*
// record failures (and continue), REQUIRE* stop the test; a test that throws fails.
// Usage: ./unit_x [substring-filter]
#pragma once

#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace check {

struct Test {
  const char *name;
  std::function<void()> fn;
};

inline std::vector<Test> &registry() {
  static std::vector<Test> tests;
  return tests;
}
inline int &failures() {
  static int n = 0;
  return n;
}

struct Registrar {
  Registrar(const char *name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

struct Abort {};

inline void report(const char *file, int line, const std::string &what) {
  std::fprintf(stderr, "  %s:%d: %s\n", file, line, what.c_str());
  ++failures();
}

template <typename T>
std::string show(const T &v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
inline std::string show(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') out += static_cast<char>(c);
    else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}
inline std::string show(const char *s) { return s ? show(std::string(s)) : "(null)"; }

inline int run(int argc, char **argv) {
  const char *filter = argc > 1 ? argv[1] : nullptr;
  int failed_tests = 0, ran = 0;
  for (auto &t : registry()) {
    if (filter && !std::strstr(t.name, filter)) continue;
    ++ran;
    int before = failures();
    std::printf("[ RUN  ] %s\n", t.name);
    try {
      t.fn();
    } catch (const Abort &) {
    } catch (const std::exception &e) {
      report(__FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
    } catch (...) {
      report(__FILE__, __LINE__, "unexpected non-std exception");
    }
    bool ok = failures() == before;
    if (!ok) ++failed_tests;
    std::printf("[ %s ] %s\n", ok ? " OK " : "FAIL", t.name);
  }
  std::printf("%d tests, %d failed\n", ran, failed_tests);
  if (ran == 0) {
    std::printf("no test matched the filter\n");
    return 1;
  }
  return failed_tests ? 1 : 0;
}

}  // namespace check

#define CHECK_CAT2(a, b) a##b
#define CHECK_CAT(a, b) CHECK_CAT2(a, b)
#define TEST(name)                                                                    \
  static void name();                                                                 \
  static ::check::Registrar CHECK_CAT(registrar_, name)(#name, name);                 \
  static void name()

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) ::check::report(__FILE__, __LINE__, "CHECK(" #cond ") failed");      \
  } while (0)
#define REQUIRE(cond)                                                                 \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      ::check::report(__FILE__, __LINE__, "REQUIRE(" #cond ") failed");               \
      throw ::check::Abort{};                                                         \
    }                                                                                 \
  } while (0)
#define CHECK_EQ(a, b)                                                                \
  do {                                                                                \
    auto &&check_a_ = (a);                                                            \
    auto &&check_b_ = (b);                                                            \
    if (!(check_a_ == check_b_))                                                      \
      ::check::report(__FILE__, __LINE__,                                             \
                      "CHECK_EQ(" #a ", " #b "): " + ::check::show(check_a_) +        \
                          " != " + ::check::show(check_b_));                          \
  } while (0)
// The statement throws an exception of type E for which pred(e) holds.
#define CHECK_THROWS_IF(stmt, E, pred)                                                \
  do {                                                                                \
    bool check_thrown_ = false;                                                       \
    try {                                                                             \
      stmt;                                                                           \
    } catch (const E &check_e_) {                                                     \
      check_thrown_ = true;                                                           \
      if (!(pred(check_e_)))                                                          \
        ::check::report(__FILE__, __LINE__,                                           \
                        std::string(#stmt " threw, but not as expected: ") +          \
                            check_e_.what());                                         \
    } catch (const std::exception &check_e_) {                                        \
      check_thrown_ = true;                                                           \
      ::check::report(__FILE__, __LINE__,                                             \
                      std::string(#stmt " threw another exception: ") + check_e_.what()); \
    }                                                                                 \
    if (!check_thrown_) ::check::report(__FILE__, __LINE__, #stmt " did not throw");  \
  } while (0)

#define CHECK_MAIN \
  int main(int argc, char **argv) { return ::check::run(argc, argv); }
