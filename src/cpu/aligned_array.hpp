// An owning, uninitialised array aligned to 64 bytes, for FFTW buffers:
// FFTW's new-array execute functions need every array to have the
// alignment of the one planned with, and 64 bytes is that of all of them
// (scene alignment, align_cpu.cpp; the pair correlation, correlate_plan.cpp).
// From std::aligned_alloc, which the allocation-failure sweep of
// tests/cpp/test_fault_injection.cpp fails.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

namespace ptychopatch::impl::cpu {

template <class T>
class AlignedArray {
 public:
  static constexpr int64_t kAlignment = 64;

  AlignedArray() = default;
  explicit AlignedArray(int64_t count) {
    const int64_t bytes = std::max<int64_t>(count, 1) * static_cast<int64_t>(sizeof(T));
    const auto rounded = static_cast<size_t>((bytes + kAlignment - 1) / kAlignment * kAlignment);
    data_ = static_cast<T*>(std::aligned_alloc(kAlignment, rounded));
    if (data_ == nullptr) throw std::bad_alloc();
  }
  AlignedArray(AlignedArray&& other) noexcept : data_(other.data_) { other.data_ = nullptr; }
  AlignedArray& operator=(AlignedArray&& other) noexcept {
    std::swap(data_, other.data_);
    return *this;
  }
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;
  ~AlignedArray() { std::free(data_); }

  T* get() const noexcept { return data_; }

 private:
  T* data_ = nullptr;
};

}  // namespace ptychopatch::impl::cpu
