// rcm_status and server error replies -> Python exceptions. The classes themselves live
// in rcm/exceptions.py (the one place that maps statuses to classes); the package hands
// them over once at import through install().
#pragma once

#include <Python.h>

#include <string>

#include "rcm/rcm.h"

namespace rcm_py::errors {

// status_classes: {int status: class}; prefixes: {"NOSCRIPT": class, ...} for server
// errors; response_error: the class of any other server error; data_error: raised for
// arguments of a type that cannot be sent. Returns false with a Python error set.
bool install(PyObject *status_classes, PyObject *prefixes, PyObject *response_error, PyObject *data_error);

// A new exception instance for an rcm failure (status != RCM_OK) with its message.
PyObject *for_status(rcm_status status, const char *message, size_t len);
// A new exception instance for a server error reply ("ERR ...", "NOSCRIPT ...").
PyObject *for_server_error(const char *message, size_t len);

// Sets the Python error for an rcm failure and returns nullptr.
PyObject *raise(rcm_status status, const std::string &message);
// Sets the Python error to the instance (stealing the reference) and returns nullptr.
PyObject *raise_instance(PyObject *exc);
// DataError for an argument of an unsupported type.
void raise_data_error(PyObject *arg);
// DataError for an argument of a supported type that cannot be sent: why says what is wrong.
void raise_data_error(PyObject *arg, const char *why);

}  // namespace rcm_py::errors
