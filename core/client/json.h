// A small JSON writer for stats and topology (no parsing needed in core).
#pragma once

#include <cstdio>
#include <string>

namespace rcm::core {

class JsonWriter {
 public:
  JsonWriter &begin_object() { sep(); out_ += '{'; first_ = true; return *this; }
  JsonWriter &end_object() { out_ += '}'; first_ = false; return *this; }
  JsonWriter &begin_array() { sep(); out_ += '['; first_ = true; return *this; }
  JsonWriter &end_array() { out_ += ']'; first_ = false; return *this; }
  JsonWriter &key(const std::string &k) {
    sep();
    quote(k);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonWriter &value(const std::string &s) { sep(); quote(s); return *this; }
  JsonWriter &value(const char *s) { return value(std::string(s)); }
  JsonWriter &value(long long v) { sep(); out_ += std::to_string(v); return *this; }
  JsonWriter &value(bool b) { sep(); out_ += b ? "true" : "false"; return *this; }
  const std::string &str() const { return out_; }

 private:
  void sep() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_) out_ += ',';
    first_ = false;
  }
  void quote(const std::string &s) {
    out_ += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out_ += buf;
          } else {
            out_ += static_cast<char>(c);
          }
      }
    }
    out_ += '"';
  }
  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace rcm::core
