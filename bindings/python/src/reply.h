// rcm replies -> Python values, the way redis-py returns them: bulk strings as bytes (or
// str with decode_responses), status replies as str, integers as int, nil as None,
// arrays as lists. Error replies become exception instances (rcm's own failures by
// their status, server errors by their prefix). GIL held.
#pragma once

#include <Python.h>

#include <string>

#include "rcm/rcm.h"

namespace rcm_py {

struct Decoding {
  bool on = false;             // decode_responses
  bool utf8_strict = true;     // the fast path: UTF-8, errors="strict"
  std::string encoding = "utf-8";
  std::string errors = "strict";
};

// A bulk string as bytes, or as str when d.on (decode_responses). New reference.
PyObject *string_value(const char *s, size_t n, const Decoding &d);

// A new reference; an error reply becomes an exception *instance* (as inside a pipeline's
// or EXEC's results). nullptr with a Python error set when conversion fails.
PyObject *reply_value(const rcm_reply *reply, const Decoding &d);

// For a command's own reply: an error reply is raised. Takes ownership of reply.
PyObject *reply_result(rcm_reply *reply, const Decoding &d);

// The message of a failed request (status != RCM_OK): the text of rcm's error reply if
// it came with one, else the status's name. Frees reply.
std::string failure_message(rcm_status status, rcm_reply *reply);

}  // namespace rcm_py
