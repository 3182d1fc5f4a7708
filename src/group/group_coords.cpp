#include "group/group_coords.hpp"

#include <algorithm>

namespace ptychopatch::impl {

double numpy_pairwise_sum(const double* a, int64_t n) {
  if (n < 8) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += a[i];
    return sum;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) sum += a[i];
    return sum;
  }
  int64_t half = n / 2;
  half -= half % 8;
  return numpy_pairwise_sum(a, half) + numpy_pairwise_sum(a + half, n - half);
}

void group_coordinates(const double* mx, const double* my, int64_t c, double* nn, double* offset,
                       double* relative) {
  for (int axis = 0; axis < 2; ++axis) {
    const double* member = axis == 0 ? mx : my;
    if (nn != nullptr) std::copy_n(member, c, nn + axis * c);
    if (offset == nullptr && relative == nullptr) continue;
    const double mean = numpy_pairwise_sum(member, c) / static_cast<double>(c);
    if (offset != nullptr) offset[axis] = mean;
    if (relative != nullptr)
      for (int64_t k = 0; k < c; ++k) relative[axis * c + k] = -(member[k] - mean);
  }
}

}  // namespace ptychopatch::impl
