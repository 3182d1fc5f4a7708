// The transforms of one pair by lines; design notes in
// line_correlation.hpp.
#include "correlate/line_correlation.hpp"

#include <fftw3.h>  // FFTW_FORWARD, FFTW_BACKWARD

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/thread_pool.hpp"

namespace ptychopatch::impl::cpu {
namespace {

struct Energy {
  double sum_of_squares = 0;
  bool constant = true;
};

// Sum of squares in double, in eight partial sums (the sums of one chain
// would wait on each other's latency), and whether every value is the first.
template <class Real>
Energy energy_of(const Real* x, int64_t count) {
  double sums[8] = {};
  int differs = 0;
  const Real first = x[0];
  int64_t i = 0;
  for (; i + 8 <= count; i += 8)
    for (int lane = 0; lane < 8; ++lane) {
      sums[lane] += static_cast<double>(x[i + lane]) * x[i + lane];
      differs |= static_cast<int>(x[i + lane] != first);
    }
  for (; i < count; ++i) {
    sums[0] += static_cast<double>(x[i]) * x[i];
    differs |= static_cast<int>(x[i] != first);
  }
  Energy e;
  e.sum_of_squares =
      ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]));
  e.constant = differs == 0;
  return e;
}

// Whether two images are packed into one transform, and the power of two
// the moving image is scaled by there (line_correlation.hpp): both images
// vary, and every spectrum bin (at most sqrt(energy * count)) and product
// of two stays far from both ends of Real's range.
template <class Real>
bool packs(const Energy& reference, const Energy& moving, int64_t count, int* exponent) {
  const double smallest = static_cast<double>(std::numeric_limits<Real>::min());
  const double largest = static_cast<double>(std::numeric_limits<Real>::max());
  if (reference.constant || moving.constant) return false;
  for (const Energy* e : {&reference, &moving}) {
    const double rms = std::sqrt(e->sum_of_squares / static_cast<double>(count));
    const double largest_bin = std::sqrt(e->sum_of_squares * static_cast<double>(count));
    if (!(smallest * 0x1p64 < rms && largest_bin < std::sqrt(largest) * 0x1p-16)) return false;
  }
  *exponent = static_cast<int>(
      std::lround(0.5 * std::log2(reference.sum_of_squares / moving.sum_of_squares)));
  return true;
}

}  // namespace

bool transforms_by_lines(int64_t height, int64_t width) {
  return uses_chirp(height) || uses_chirp(width);
}

template <class Real>
LineCorrelation<Real>::LineCorrelation(int64_t height, int64_t width, unsigned flags, int threads)
    : height_(height),
      width_(width),
      half_(width / 2 + 1),
      threads_(height * width < kThreadedFrom ? 1 : std::max(threads, 1)),
      rows_forward_(width, FFTW_FORWARD, flags),
      rows_inverse_(width, FFTW_BACKWARD, flags),
      columns_forward_(height, FFTW_FORWARD, flags),
      columns_inverse_(height, FFTW_BACKWARD, flags) {}

template <class Real>
int64_t LineCorrelation<Real>::block_size() const {
  return std::max(rows_forward_.block_size(), columns_forward_.block_size());
}

template <class Real>
template <class Body>
void LineCorrelation<Real>::each_tile(int64_t tiles, Real* blocks, const Body& body) const {
  const int64_t stride = 2 * block_size();
  if (threads_ == 1 || tiles == 1) {
    for (int64_t tile = 0; tile < tiles; ++tile) body(tile, blocks);
    return;
  }
  parallel_for(threads_, 0, tiles, 1,
               [&](int64_t tile, int slot) { body(tile, blocks + stride * slot); });
}

template <class Real>
void LineCorrelation<Real>::transform_columns(const LineDft<Real>& dft, Real* x,
                                              Real* blocks) const {
  const int64_t pitch = dft.pitch();
  const int64_t lines = dft.lines();
  each_tile((half_ + lines - 1) / lines, blocks, [&](int64_t tile, Real* block) {
    const int64_t c0 = tile * lines;
    const int64_t count = std::min(lines, half_ - c0);
    for (int64_t j = 0; j < height_; ++j) {
      const Real* row = x + 2 * (j * half_ + c0);
      for (int64_t t = 0; t < count; ++t) {
        block[2 * (t * pitch + j)] = row[2 * t];
        block[2 * (t * pitch + j) + 1] = row[2 * t + 1];
      }
    }
    for (int64_t t = count; t < lines; ++t)
      std::memset(block + 2 * t * pitch, 0, sizeof(Real) * 2 * height_);
    const Real* result = dft.execute(block);
    for (int64_t k = 0; k < height_; ++k) {
      Real* row = x + 2 * (k * half_ + c0);
      for (int64_t t = 0; t < count; ++t) {
        row[2 * t] = result[2 * (t * pitch + k)];
        row[2 * t + 1] = result[2 * (t * pitch + k) + 1];
      }
    }
  });
}

template <class Real>
void LineCorrelation<Real>::forward(const Real* reference, const Real* moving, Real* a, Real* b,
                                    Real* blocks) const {
  const int64_t count = height_ * width_;
  const Energy energies[2] = {energy_of(reference, count), energy_of(moving, count)};
  int exponent = 0;
  const bool packed = packs<Real>(energies[0], energies[1], count, &exponent);
  const Real scale = std::ldexp(Real(1), exponent);
  const Real unscale = std::ldexp(Real(1), -exponent);
  const int64_t pitch = rows_forward_.pitch();
  const int64_t lines = rows_forward_.lines();
  const int64_t width = width_;

  // Rows: each tile of rows once packed (z = reference + i s moving), or
  // twice apart (the reference's into a, the moving image's into b).
  for (int pass = 0; pass < (packed ? 1 : 2); ++pass) {
    const Real* image = pass == 0 ? reference : moving;
    Real* out = pass == 0 ? a : b;
    if (!packed && energies[pass].constant) {
      // Its transform, exactly: N x at the DC bin, zero elsewhere (by
      // Bluestein's algorithm, rounding there, which phase normalisation
      // would make a random correlation of).
      std::memset(out, 0, sizeof(Real) * 2 * height_ * half_);
      out[0] = static_cast<Real>(static_cast<double>(image[0]) * static_cast<double>(count));
      continue;
    }
    each_tile((height_ + lines - 1) / lines, blocks, [&](int64_t tile, Real* block) {
      const int64_t y0 = tile * lines;
      const int64_t rows = std::min(lines, height_ - y0);
      for (int64_t t = 0; t < rows; ++t) {
        Real* line = block + 2 * t * pitch;
        const Real* re = image + (y0 + t) * width;
        const Real* im = moving + (y0 + t) * width;
        if (packed)
          for (int64_t j = 0; j < width; ++j) {
            line[2 * j] = re[j];
            line[2 * j + 1] = im[j] * scale;
          }
        else
          for (int64_t j = 0; j < width; ++j) {
            line[2 * j] = re[j];
            line[2 * j + 1] = Real(0);
          }
      }
      for (int64_t t = rows; t < lines; ++t)
        std::memset(block + 2 * t * pitch, 0, sizeof(Real) * 2 * width);
      const Real* result = rows_forward_.execute(block);
      for (int64_t t = 0; t < rows; ++t) {
        const Real* line = result + 2 * t * pitch;
        Real* ra = a + 2 * (y0 + t) * half_;
        Real* rb = b + 2 * (y0 + t) * half_;
        Real* ro = out + 2 * (y0 + t) * half_;
        if (!packed) {
          std::memcpy(ro, line, sizeof(Real) * 2 * half_);
          continue;
        }
        for (int64_t k = 0; k < half_; ++k) {
          // Z = Z(k), P = Z(-k): R = (Z + conj P) / 2, s M = (Z - conj P) / 2i.
          const int64_t mirror = k == 0 ? 0 : width - k;
          const Real zr = line[2 * k], zi = line[2 * k + 1];
          const Real pr = line[2 * mirror], pi = line[2 * mirror + 1];
          ra[2 * k] = Real(0.5) * (zr + pr);
          ra[2 * k + 1] = Real(0.5) * (zi - pi);
          rb[2 * k] = Real(0.5) * (zi + pi) * unscale;
          rb[2 * k + 1] = Real(0.5) * (pr - zr) * unscale;
        }
      }
    });
  }
  for (int image = 0; image < 2; ++image)
    if (packed || !energies[image].constant) {
      Real* spectrum = image == 0 ? a : b;
      transform_columns(columns_forward_, spectrum, blocks);
      make_hermitian(spectrum, 0);
      if (width_ % 2 == 0) make_hermitian(spectrum, width_ / 2);
    }
}

template <class Real>
void LineCorrelation<Real>::make_hermitian(Real* x, int64_t column) const {
  for (int64_t ky = 0; ky <= height_ / 2; ++ky) {
    const int64_t mirror = ky == 0 ? 0 : height_ - ky;
    Real* p = x + 2 * (ky * half_ + column);
    Real* q = x + 2 * (mirror * half_ + column);
    const Real re = Real(0.5) * (p[0] + q[0]), im = Real(0.5) * (p[1] - q[1]);
    p[0] = re;
    p[1] = im;
    q[0] = re;
    q[1] = -im;  // (0 where q is p: ky = 0, or height / 2)
  }
}

template <class Real>
void LineCorrelation<Real>::inverse(Real* x, Real* out, Real* blocks) const {
  transform_columns(columns_inverse_, x, blocks);
  const int64_t pitch = rows_inverse_.pitch();
  const int64_t tile_lines = rows_inverse_.lines();
  const int64_t width = width_;
  const int64_t half = half_;
  const int64_t pairs = (height_ + 1) / 2;
  each_tile((pairs + tile_lines - 1) / tile_lines, blocks, [&](int64_t tile, Real* block) {
    const int64_t p0 = tile * tile_lines;
    const int64_t lines = std::min(tile_lines, pairs - p0);
    for (int64_t t = 0; t < lines; ++t) {
      // Rows 2p and 2p + 1 (none past the last): line = X0 + i X1 over the
      // whole width, X(width - k) = conj X(k) for the bins not stored.
      const int64_t y = 2 * (p0 + t);
      const Real* x0 = x + 2 * y * half;
      const Real* x1 = y + 1 < height_ ? x0 + 2 * half : nullptr;
      Real* line = block + 2 * t * pitch;
      for (int64_t k = 0; k < half; ++k) {
        const Real r1 = x1 ? x1[2 * k] : Real(0), i1 = x1 ? x1[2 * k + 1] : Real(0);
        line[2 * k] = x0[2 * k] - i1;
        line[2 * k + 1] = x0[2 * k + 1] + r1;
      }
      for (int64_t k = half; k < width; ++k) {
        const int64_t q = width - k;
        const Real r1 = x1 ? x1[2 * q] : Real(0), i1 = x1 ? x1[2 * q + 1] : Real(0);
        line[2 * k] = x0[2 * q] + i1;
        line[2 * k + 1] = r1 - x0[2 * q + 1];
      }
      // DC and (even widths) Nyquist bins: real parts only.
      for (const int64_t edge : {int64_t{0}, width % 2 == 0 ? width / 2 : int64_t{0}}) {
        line[2 * edge] = x0[2 * edge];
        line[2 * edge + 1] = x1 ? x1[2 * edge] : Real(0);
      }
    }
    for (int64_t t = lines; t < tile_lines; ++t)
      std::memset(block + 2 * t * pitch, 0, sizeof(Real) * 2 * width);
    const Real* result = rows_inverse_.execute(block);
    for (int64_t t = 0; t < lines; ++t) {
      const int64_t y = 2 * (p0 + t);
      const Real* line = result + 2 * t * pitch;
      Real* first = out + y * width;
      for (int64_t j = 0; j < width; ++j) first[j] = line[2 * j];
      if (y + 1 < height_) {
        Real* second = first + width;
        for (int64_t j = 0; j < width; ++j) second[j] = line[2 * j + 1];
      }
    }
  });
}

template class LineCorrelation<float>;
template class LineCorrelation<double>;

}  // namespace ptychopatch::impl::cpu
