#include "core/net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/common/status.h"
#include "core/config/config.h"

namespace rcm::core {

std::string tls_error_string() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

TlsContext::TlsContext(const Config &cfg)
    : server_name_(cfg.tls_server_name), verify_(cfg.tls_verify), verify_hostname_(cfg.tls_verify_hostname) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) throw Error(Status::tls, "TLS: cannot create context: " + tls_error_string());
  try {
    configure(cfg);
  } catch (...) {
    SSL_CTX_free(ctx_);  // the destructor does not run for a constructor that throws
    ctx_ = nullptr;
    throw;
  }
}

void TlsContext::configure(const Config &cfg) {
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  if (verify_) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!cfg.tls_ca.empty()) {
      if (SSL_CTX_load_verify_locations(ctx_, cfg.tls_ca.c_str(), nullptr) != 1)
        throw Error(Status::tls, "tls.ca: cannot load '" + cfg.tls_ca + "': " + tls_error_string());
    } else if (SSL_CTX_set_default_verify_paths(ctx_) != 1) {
      throw Error(Status::tls, "TLS: cannot load the system CA store: " + tls_error_string());
    }
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  }
  if (!cfg.tls_cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx_, cfg.tls_cert.c_str()) != 1)
      throw Error(Status::tls, "tls.cert: cannot load '" + cfg.tls_cert + "': " + tls_error_string());
    if (SSL_CTX_use_PrivateKey_file(ctx_, cfg.tls_key.c_str(), SSL_FILETYPE_PEM) != 1)
      throw Error(Status::tls, "tls.key: cannot load '" + cfg.tls_key + "': " + tls_error_string());
    if (SSL_CTX_check_private_key(ctx_) != 1)
      throw Error(Status::tls, "tls.key does not match tls.cert: " + tls_error_string());
  }
}

TlsContext::~TlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);
}

SSL *TlsContext::new_ssl(const std::string &host) const {
  SSL *ssl = SSL_new(ctx_);
  if (ssl == nullptr) throw Error(Status::tls, "TLS: SSL_new failed: " + tls_error_string());
  const std::string &name = server_name_.empty() ? host : server_name_;
  unsigned char addr[16];
  bool is_ip = inet_pton(AF_INET, name.c_str(), addr) == 1 || inet_pton(AF_INET6, name.c_str(), addr) == 1;
  if (!is_ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  // tls.verify_hostname=false: the chain is still verified (SSL_VERIFY_PEER), only the
  // name check is left out; tls.verify=false leaves out both.
  if (verify_ && verify_hostname_) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    if (ok != 1) {
      SSL_free(ssl);
      throw Error(Status::tls, "TLS: cannot set the name to verify '" + name + "'");
    }
  }
  return ssl;
}

}  // namespace rcm::core
