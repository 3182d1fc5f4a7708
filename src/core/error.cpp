#include "core/error.hpp"

#include <cstdio>

namespace ptychopatch::impl {
namespace {
// A fixed buffer rather than std::string: reading the message must not
// allocate, and the buffer must stay valid after the failing call returns.
thread_local char g_last_error[1024] = "";
}  // namespace

void set_last_error(const char* function, const char* message) {
  std::snprintf(g_last_error, sizeof g_last_error, "%s: %s", function, message);
}

void clear_last_error() noexcept {
  g_last_error[0] = '\0';
}

const char* last_error() noexcept {
  return g_last_error;
}

void require_known_struct_size(const char* argument, uint64_t struct_size, size_t current) {
  if (struct_size != current)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         std::string(argument) + " is " + std::to_string(struct_size) +
             ", not a struct size this library knows (expected " + std::to_string(current) +
             "); initialise the struct with its _init function and sizeof");
}

int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t result = 0;
  if (__builtin_mul_overflow(a, b, &result))
    fail(PTP_ERROR_SIZE_OVERFLOW, std::string(what) + " overflows 64 bits");
  return result;
}

int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t result = 0;
  if (__builtin_add_overflow(a, b, &result))
    fail(PTP_ERROR_SIZE_OVERFLOW, std::string(what) + " overflows 64 bits");
  return result;
}

}  // namespace ptychopatch::impl
