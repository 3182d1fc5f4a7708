// Exceptions must not leave an OpenMP parallel region (that terminates the
// process): workers record the first one here, and the calling thread
// rethrows it after the region, where the C ABI turns it into a status.
#pragma once

#include <exception>
#include <mutex>
#include <utility>

namespace ptychopatch::impl {

class FirstError {
 public:
  void record(std::exception_ptr error) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::move(error);
  }

  // Runs body, recording what it throws. Returns false if it threw.
  template <class Body>
  bool capture(Body&& body) noexcept {
    try {
      body();
      return true;
    } catch (...) {
      record(std::current_exception());
      return false;
    }
  }

  void rethrow_if_any() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
};

}  // namespace ptychopatch::impl
