// Failures inside the library are C++ exceptions carrying a ptp_status;
// the C ABI layer turns every one of them into a status code plus the
// thread-local message, so nothing ever unwinds across the ABI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <utility>

#include "ptychopatch.h"

namespace ptychopatch::impl {

class Error : public std::exception {
 public:
  Error(ptp_status status, std::string message) : status_(status), message_(std::move(message)) {}
  ptp_status status() const noexcept { return status_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  ptp_status status_;
  std::string message_;
};

[[noreturn]] inline void fail(ptp_status status, std::string message) {
  throw Error(status, std::move(message));
}

// The thread-local message behind ptp_last_error_message().
void set_last_error(const char* function, const char* message);
void clear_last_error() noexcept;
const char* last_error() noexcept;

// Runs body, mapping whatever it throws to a status and a message prefixed
// with the public function's name. noexcept: the ABI firewall.
template <class Body>
ptp_status guarded(const char* function, Body&& body) noexcept {
  try {
    body();
    clear_last_error();
    return PTP_SUCCESS;
  } catch (const Error& e) {
    set_last_error(function, e.what());
    return e.status();
  } catch (const std::bad_alloc&) {
    set_last_error(function, "out of host memory");
    return PTP_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error(function, e.what());
    return PTP_ERROR_INTERNAL;
  } catch (...) {
    set_last_error(function, "unknown internal failure");
    return PTP_ERROR_INTERNAL;
  }
}

// Argument checks that name the argument in their message.
inline void require_non_null(const void* pointer, const char* argument) {
  if (pointer == nullptr)
    fail(PTP_ERROR_INVALID_ARGUMENT, std::string("argument '") + argument + "' is NULL");
}

// A getter of the C ABI: `function`'s guard; `object` and `out` (named as
// arguments) must not be NULL; then *out = read(*object).
template <class Object, class Value, class Read>
ptp_status guarded_get(const char* function, const Object* object, const char* object_argument,
                       Value* out, const char* out_argument, Read&& read) noexcept {
  return guarded(function, [&] {
    require_non_null(object, object_argument);
    require_non_null(out, out_argument);
    *out = read(*object);
  });
}

// This release knows one layout of each versioned struct: its own. A later
// release that appends fields accepts the older sizes here and reads or
// writes only the fields they contain.
void require_known_struct_size(const char* argument, uint64_t struct_size, size_t current);

int64_t checked_mul(int64_t a, int64_t b, const char* what);
int64_t checked_add(int64_t a, int64_t b, const char* what);

}  // namespace ptychopatch::impl
