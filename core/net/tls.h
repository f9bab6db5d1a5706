// TLS client context (OpenSSL) built from the tls.* config keys.
#pragma once

#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace rcm::core {

struct Config;

class TlsContext {
 public:
  // Throws Error(Status::tls) naming the file that could not be loaded.
  explicit TlsContext(const Config &cfg);
  ~TlsContext();
  TlsContext(const TlsContext &) = delete;
  TlsContext &operator=(const TlsContext &) = delete;

  // A new SSL for a connection to host, with SNI and name/IP verification set.
  SSL *new_ssl(const std::string &host) const;

 private:
  void configure(const Config &cfg);
  SSL_CTX *ctx_ = nullptr;
  std::string server_name_;
  bool verify_ = true;           // the certificate chain
  bool verify_hostname_ = true;  // and the name in it (only when verify_)
};

// The most recent OpenSSL error of this thread, in words (and clears the queue).
std::string tls_error_string();

}  // namespace rcm::core
