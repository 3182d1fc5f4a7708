// What every fuzz target of the C ABI checks (tests/fuzz/README.md):
//  - the call returns a known status; a failure leaves a message naming
//    what was wrong, a success an empty one;
//  - outputs are written only on success: every output buffer starts as a
//    sentinel pattern and must still hold it after a failure;
//  - nothing is written outside an output: each buffer is framed by guard
//    bytes that must survive every call (AddressSanitizer would catch a
//    write past an allocation; the guards also catch one into a neighbouring
//    output of the same allocation);
//  - AddressSanitizer and UndefinedBehaviorSanitizer report nothing, and
//    every call returns (libFuzzer's -timeout turns a hang into a finding).
// A broken check calls std::abort() after printing why, which libFuzzer
// reports as a crash with the input that caused it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ptychopatch.h"

namespace fuzz {

[[noreturn]] inline void failed(const std::string& what) {
  std::fprintf(stderr, "fuzz check failed: %s\n", what.c_str());
  std::abort();
}

inline void require(bool condition, const std::string& what) {
  if (!condition) failed(what);
}

// The status model of include/ptychopatch.h.
inline void check_status(ptp_status status, const char* call) {
  const std::string message = ptp_last_error_message();
  const std::string name = ptp_status_name(status);
  require(name != "PTP_UNKNOWN_STATUS",
          std::string(call) + " returned an unknown status " + std::to_string(status));
  if (status == PTP_SUCCESS)
    require(message.empty(), std::string(call) + " succeeded with a message: " + message);
  else
    require(!message.empty(), std::string(call) + " failed (" + name + ") without a message");
}

// An output buffer of `bytes` bytes framed by guard bytes, filled with a
// sentinel byte.
class Output {
 public:
  static constexpr size_t kGuard = 64;
  static constexpr unsigned char kSentinel = 0xA5;
  static constexpr unsigned char kGuardByte = 0x5A;

  explicit Output(size_t bytes) : bytes_(bytes), storage_(bytes + 2 * kGuard + 64) {
    // 64-byte aligned start, as any allocator the caller uses would give.
    const auto base = reinterpret_cast<uintptr_t>(storage_.data() + kGuard);
    offset_ = kGuard + (64 - base % 64) % 64;
    std::memset(storage_.data(), kGuardByte, storage_.size());
    std::memset(data(), kSentinel, bytes_);
  }
  void* data() { return storage_.data() + offset_; }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* as() {
    return static_cast<T*>(data());
  }

  bool untouched() const {
    for (size_t i = 0; i < bytes_; ++i)
      if (storage_[offset_ + i] != kSentinel) return false;
    return true;
  }
  void check_guards(const char* what) const {
    for (size_t i = 0; i < storage_.size(); ++i) {
      if (i >= offset_ && i < offset_ + bytes_) continue;
      require(storage_[i] == kGuardByte, std::string(what) + ": written outside the buffer");
    }
  }

 private:
  size_t bytes_;
  size_t offset_ = 0;
  std::vector<unsigned char> storage_;
};

// After a call: the status model, the guards, and untouched outputs on
// failure.
inline void check_outputs(ptp_status status, const char* call,
                          const std::vector<const Output*>& outputs) {
  check_status(status, call);
  for (const Output* out : outputs) {
    out->check_guards(call);
    if (status != PTP_SUCCESS)
      require(out->untouched(), std::string(call) + " failed (" + ptp_status_name(status) +
                                    ") but wrote an output: " + ptp_last_error_message());
  }
}

// CPU contexts of 1, 2 and 3 threads, made once per process.
inline ptp_context* cpu_context(int threads) {
  static ptp_context* contexts[4] = {};
  ptp_context*& ctx = contexts[threads & 3];
  if (ctx == nullptr) {
    ptp_context_options options;
    ptp_context_options_init(&options, sizeof options);
    options.backend = PTP_BACKEND_CPU;
    options.num_threads = threads & 3;
    if (ptp_context_create(&options, &ctx) != PTP_SUCCESS) failed("cannot make a CPU context");
  }
  return ctx;
}

}  // namespace fuzz
