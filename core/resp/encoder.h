// Command encoding straight into a reused buffer (RESP multi-bulk).
#pragma once

#include <cstddef>
#include <string>

namespace rcm::core {

// Appends "*argc\r\n$len\r\narg\r\n..." to out.
void encode_command(std::string &out, int argc, const char *const *argv, const size_t *argvlen);

// The same in two steps, for a buffer of another type: the exact size, then the bytes
// written at p (returns their end).
size_t encoded_command_size(int argc, const char *const *argv, const size_t *argvlen);
char *encode_command_into(char *p, int argc, const char *const *argv, const size_t *argvlen);

}  // namespace rcm::core
