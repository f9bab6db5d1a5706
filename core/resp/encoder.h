// Command encoding straight into a reused buffer (RESP multi-bulk).
#pragma once

#include <cstddef>
#include <string>

namespace rcm::core {

// Appends "*argc\r\n$len\r\narg\r\n..." to out.
void encode_command(std::string &out, int argc, const char *const *argv, const size_t *argvlen);

}  // namespace rcm::core
