// rcm._native: the Python extension over librcm's C API (rcm.h only). The hot types
// (Client, Lease) are plain CPython types (client.cpp, lease.cpp); pybind11 carries the module
// and its small helpers. The Pythonic surface is the pure-Python package rcm.
#include <pybind11/pybind11.h>

#include <string>

#include "argv.h"
#include "client.h"
#include "errors.h"
#include "rcm/rcm.h"

namespace py = pybind11;

namespace {

const std::pair<const char *, rcm_status> kStatuses[] = {
    {"RCM_OK", RCM_OK},
    {"RCM_ERR_ARG", RCM_ERR_ARG},
    {"RCM_ERR_CONFIG", RCM_ERR_CONFIG},
    {"RCM_ERR_NOMEM", RCM_ERR_NOMEM},
    {"RCM_ERR_CONNECTION", RCM_ERR_CONNECTION},
    {"RCM_ERR_TIMEOUT", RCM_ERR_TIMEOUT},
    {"RCM_ERR_AUTH", RCM_ERR_AUTH},
    {"RCM_ERR_PROTOCOL", RCM_ERR_PROTOCOL},
    {"RCM_ERR_UNCERTAIN", RCM_ERR_UNCERTAIN},
    {"RCM_ERR_POOL_TIMEOUT", RCM_ERR_POOL_TIMEOUT},
    {"RCM_ERR_BACKPRESSURE", RCM_ERR_BACKPRESSURE},
    {"RCM_ERR_CLOSED", RCM_ERR_CLOSED},
    {"RCM_ERR_UNSUPPORTED", RCM_ERR_UNSUPPORTED},
    {"RCM_ERR_CROSSSLOT", RCM_ERR_CROSSSLOT},
    {"RCM_ERR_CLUSTERDOWN", RCM_ERR_CLUSTERDOWN},
    {"RCM_ERR_TLS", RCM_ERR_TLS},
    {"RCM_ERR_REDIRECT", RCM_ERR_REDIRECT},
    {"RCM_ERR_STATE", RCM_ERR_STATE},
    {"RCM_ERR_FORK", RCM_ERR_FORK},
    {"RCM_ERR_NO_LEADER", RCM_ERR_NO_LEADER},
    {"RCM_ERR_INTERNAL", RCM_ERR_INTERNAL},
};

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "rcm's C API for Python (private: use the rcm package)";
  if (!rcm_py::add_types(m.ptr())) throw py::error_already_set();

  py::dict statuses;
  for (const auto &s : kStatuses) {
    m.attr(s.first) = static_cast<int>(s.second);
    statuses[py::str(s.first)] = static_cast<int>(s.second);
  }
  m.attr("STATUSES") = statuses;

  m.attr("RCM_ROUTE_SLOT") = static_cast<int>(RCM_ROUTE_SLOT);
  m.attr("RCM_ROUTE_KEY") = static_cast<int>(RCM_ROUTE_KEY);
  m.attr("RCM_ROUTE_NODE") = static_cast<int>(RCM_ROUTE_NODE);
  m.attr("RCM_ROUTE_ALL_PRIMARIES") = static_cast<int>(RCM_ROUTE_ALL_PRIMARIES);
  m.attr("RCM_ROUTE_ALL_NODES") = static_cast<int>(RCM_ROUTE_ALL_NODES);
  m.attr("RCM_ROUTE_RANDOM") = static_cast<int>(RCM_ROUTE_RANDOM);

  m.def("version", [] { return std::string(rcm_version()); }, "librcm's version, MAJOR.MINOR.PATCH");
  m.def("header_version",
        [] {
          return std::to_string(RCM_VERSION_MAJOR) + "." + std::to_string(RCM_VERSION_MINOR) + "." +
                 std::to_string(RCM_VERSION_PATCH);
        },
        "the version of rcm.h this extension was compiled against");
  m.def("_argv_held", [] { return rcm_py::thread_argv_held(); },
        "Bytes the calling thread's argument buffers keep between calls (for tests).");
  m.def("status_name", [](int status) { return std::string(rcm_status_name(static_cast<rcm_status>(status))); },
        py::arg("status"));
  m.def(
      "install_errors",
      [](py::dict status_classes, py::dict prefixes, py::object response_error, py::object data_error) {
        if (!rcm_py::errors::install(status_classes.ptr(), prefixes.ptr(), response_error.ptr(), data_error.ptr()))
          throw py::error_already_set();
      },
      "Hands the exception classes of rcm.exceptions to the extension (done once by rcm).");
  m.def(
      "error_for_status",
      [](int status, const std::string &message) {
        PyObject *e = rcm_py::errors::for_status(static_cast<rcm_status>(status), message.data(), message.size());
        if (e == nullptr) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(e);
      },
      py::arg("status"), py::arg("message"), "The exception instance rcm raises for a status (for tests).");
  m.def(
      "error_for_reply",
      [](const std::string &message) {
        PyObject *e = rcm_py::errors::for_server_error(message.data(), message.size());
        if (e == nullptr) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(e);
      },
      py::arg("message"), "The exception instance rcm makes of a server error reply (for tests).");
}
