// The tile bins of the reassembly gather (cuda/tile_bins.cuh), on the
// emulated device: each (tile, patch) pair listed once, each tile's
// patches ascending, exactly the tiles each patch's footprint overlaps. A
// dropped, repeated or reordered pair changes the canvas (a missing term,
// or the terms summed in another order than the CPU's), which the
// end-to-end tests see only as a bit somewhere; here the lists themselves
// are compared with a host oracle: the bounding-box test the gather kernel
// ran for every (tile, patch) before the bins (in double, the tile clipped
// to the canvas), itself checked to cover every pixel the patch's scatter
// reaches (math::scatter_pixel).
//
// Built from the kernel source itself (the library keeps its internals
// hidden), so it links the emulator, not the emulated library.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "math/patch_indexing.hpp"
#include "math/patch_scatter.hpp"
#include "tile_bins.cuh"

namespace {

namespace impl = ptychopatch::impl;
namespace gpu = ptychopatch::impl::gpu;
namespace math = ptychopatch::math;

template <class T>
struct DeviceVector {
  T* ptr = nullptr;
  size_t size = 0;
  explicit DeviceVector(size_t n) : size(n) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)), cudaSuccess);
    ptr = static_cast<T*>(p);
  }
  explicit DeviceVector(const std::vector<T>& host) : DeviceVector(host.size()) {
    EXPECT_EQ(cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  ~DeviceVector() { cudaFree(ptr); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  std::vector<T> to_host() const {
    std::vector<T> host(size);
    EXPECT_EQ(cudaMemcpy(host.data(), ptr, size * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }
};

impl::ExtractGeometry geometry(int64_t height, int64_t width, int64_t n) {
  impl::ExtractGeometry g{};
  g.height = height;
  g.width = width;
  g.n = n;
  g.half = n / 2;
  g.group_size = 1;
  g.lanes = 1;
  g.offset_dtype = PTP_DTYPE_FLOAT64;
  g.memory = PTP_MEMORY_DEVICE;
  g.element_bytes = 4;
  return g;
}

// Whether patch (ox, oy)'s canvas box overlaps the tile: the gather
// kernel's test before the bins, in double (every value is exact there).
bool box_overlaps(const impl::ExtractGeometry& g, float ox, float oy, int64_t tile,
                  gpu::CanvasTiles tiles) {
  const int64_t r0 = tile / tiles.across * gpu::kTileHeight;
  const int64_t c0 = tile % tiles.across * gpu::kTileWidth;
  const double rows_end = static_cast<double>(std::min(r0 + gpu::kTileHeight, g.height) + g.half);
  const double cols_end = static_cast<double>(std::min(c0 + gpu::kTileWidth, g.width) + g.half);
  const double top = oy;
  const double bottom = math::add_rn(static_cast<float>(g.n - 1), oy);
  const double left = ox;
  const double right = math::add_rn(static_cast<float>(g.n - 1), ox);
  return top < rows_end && bottom >= static_cast<double>(r0 + g.half - 1) && left < cols_end &&
         right >= static_cast<double>(c0 + g.half - 1);
}

// The lists the bins must hold for tiles [first_tile, first_tile + count)
// and patches [first_patch, first_patch + num): per tile, the patches
// (relative to first_patch) whose box overlaps it, ascending. Checks on
// the way that the box holds every canvas pixel the patch scatters to.
std::vector<std::vector<int>> oracle(const impl::ExtractGeometry& g, const std::vector<double>& xy,
                                     int64_t first_patch, int64_t num, int64_t first_tile,
                                     int64_t count) {
  const gpu::CanvasTiles tiles = gpu::canvas_tiles(g.height, g.width);
  std::vector<std::vector<int>> lists(count);
  for (int64_t i = 0; i < num; ++i) {
    const int64_t p = first_patch + i;
    const float ox = static_cast<float>(xy[2 * p]);
    const float oy = static_cast<float>(xy[2 * p + 1]);
    for (int64_t t = 0; t < count; ++t)
      if (box_overlaps(g, ox, oy, first_tile + t, tiles)) lists[t].push_back(static_cast<int>(i));
    // Every pixel the patch scatters to lies in a tile whose box test holds.
    for (int64_t y = 0; y < g.n; ++y)
      for (int64_t x = 0; x < g.n; ++x)
        math::scatter_pixel(
            g.height, g.width, g.half, math::axis_tap(x, ox), math::axis_tap(y, oy),
            [&](int64_t element, float) {
              const int64_t r = element / g.width;
              const int64_t c = element % g.width;
              const int64_t tile = r / gpu::kTileHeight * tiles.across + c / gpu::kTileWidth;
              EXPECT_TRUE(box_overlaps(g, ox, oy, tile, tiles))
                  << "patch " << p << " reaches pixel (" << r << ", " << c << ") outside its box";
            });
  }
  return lists;
}

// Bins patches [first_patch, first_patch + num) of `xy` for tiles
// [first_tile, first_tile + count) on the emulated device, with a list of
// exactly `capacity` slots, and compares each tile's list with the oracle.
void expect_bins(const impl::ExtractGeometry& g, const std::vector<double>& xy, int64_t first_patch,
                 int64_t num, int64_t first_tile, int64_t count) {
  SCOPED_TRACE(testing::Message() << "patches [" << first_patch << ", " << first_patch + num
                                  << "), tiles [" << first_tile << ", " << first_tile + count
                                  << ")");
  const gpu::CanvasTiles tiles = gpu::canvas_tiles(g.height, g.width);
  const std::vector<std::vector<int>> want = oracle(g, xy, first_patch, num, first_tile, count);
  size_t pairs = 0;
  for (const auto& list : want) pairs += list.size();
  // Slots past the pairs hold a marker that no list may show.
  const DeviceVector<double> d_xy(xy);
  DeviceVector<int> starts(count + 1), cursors(count);
  const DeviceVector<int> list(std::vector<int>(pairs + 7, -7));
  const gpu::TileBins bins{first_tile,  count,    starts.ptr,
                           cursors.ptr, list.ptr, static_cast<int64_t>(pairs + 7)};
  gpu::bin_tile_patches(g, math::PairOffsets<double>{d_xy.ptr}, first_patch, num, tiles, bins,
                        nullptr, nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<int> got_starts = starts.to_host();
  const std::vector<int> got_list = list.to_host();
  ASSERT_EQ(got_starts[0], 0);
  ASSERT_EQ(static_cast<size_t>(got_starts[count]), pairs) << "pairs listed";
  for (int64_t t = 0; t < count; ++t) {
    const std::vector<int> got(got_list.begin() + got_starts[t],
                               got_list.begin() + got_starts[t + 1]);
    ASSERT_EQ(got, want[t]) << "tile " << first_tile + t;
  }
}

// A 50 x 100 canvas: 7 x 4 tiles, the last row and column partial.
// Patches that straddle tile edges, cross the canvas's border, sample just
// below integers (a tap skipped or repeated by rounding), lie wholly
// outside (near and far: no tile), and a stack of 2,100 on one spot (lists
// longer than the sort's shared memory), in a shuffled order.
std::vector<double> hard_offsets(int64_t n, uint32_t seed) {
  std::vector<std::pair<double, double>> at;
  const double h = static_cast<double>(n / 2);
  for (int i = 0; i < 120; ++i) {
    // Footprint edges on tile edges (x multiples of 32, y of 8) and a hair
    // either side of them.
    const double dx[] = {0.0, 0.5, -0.5, 0.99999994, -0.00000006};
    const double ex = 32.0 * (i % 4) + h + dx[i % 5] - (i % 3 == 0 ? n : 0);
    const double ey = 8.0 * (i % 7) + h + dx[(i / 5) % 5] - (i % 2 == 0 ? n : 0);
    at.push_back({ex, ey});
  }
  for (double x : {-static_cast<double>(n) - 0.5, -h - 0.25, 0.0, 99.5 - h, 100.0 + h - 0.5})
    for (double y : {-static_cast<double>(n) + 0.75, -h - 0.25, 49.5 - h, 50.0 + h - 0.25})
      at.push_back({x, y});
  for (double far : {1e6 + 0.75, -1e6, 3.0e7 + 0.5, -1e30, 1e30}) {
    at.push_back({far, 20.0});
    at.push_back({40.0, far});
  }
  for (int i = 0; i < 2100; ++i) at.push_back({40.25 + (i % 3) * 1e-3, 20.5});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-static_cast<double>(n), 100.0 + n);
  for (int i = 0; i < 300; ++i) at.push_back({u(rng), u(rng) * 0.5});
  std::shuffle(at.begin(), at.end(), rng);
  std::vector<double> xy;
  for (const auto& [x, y] : at) xy.insert(xy.end(), {x, y});
  return xy;
}

TEST(TileBins, EachTileListsItsPatchesOnceInPatchOrder) {
  for (int64_t n : {1, 5, 16, 40}) {
    SCOPED_TRACE(testing::Message() << "n " << n);
    const impl::ExtractGeometry g = geometry(50, 100, n);
    const std::vector<double> xy = hard_offsets(n, 11 + static_cast<uint32_t>(n));
    const int64_t patches = static_cast<int64_t>(xy.size() / 2);
    expect_bins(g, xy, 0, patches, 0, 28);
    // A range of tiles and a chunk of patches, as a small area cuts them.
    expect_bins(g, xy, 37, 900, 5, 12);
    expect_bins(g, xy, patches - 1, 1, 27, 1);
  }
}

// The sort alone, on lists in every order the fill may leave: each tile's
// slots must come out ascending, whatever their length (the bitonic
// network's skipped pairs past the end, shared and global memory).
TEST(TileBins, SortOrdersEveryListWhateverItsLength) {
  std::mt19937 rng(3);
  const std::vector<int> lengths = {0, 1, 2, 3, 5, 17, 255, 256, 257, 2047, 2048, 2049, 5000};
  std::vector<int> starts{0};
  std::vector<int> keys;
  std::vector<int> want;
  for (int length : lengths) {
    std::vector<int> list(length);
    std::iota(list.begin(), list.end(), 3);
    for (int& v : list) v = v * 7 % 10007;  // distinct, not consecutive
    std::vector<int> sorted = list;
    std::sort(sorted.begin(), sorted.end());
    if (length % 2 == 0) {
      std::shuffle(list.begin(), list.end(), rng);
    } else {  // descending
      list.assign(sorted.rbegin(), sorted.rend());
    }
    keys.insert(keys.end(), list.begin(), list.end());
    want.insert(want.end(), sorted.begin(), sorted.end());
    starts.push_back(static_cast<int>(keys.size()));
  }
  const int64_t tiles = static_cast<int64_t>(lengths.size());
  DeviceVector<int> d_starts(starts), d_list(keys), d_cursors(tiles);
  const gpu::TileBins bins{
      0, tiles, d_starts.ptr, d_cursors.ptr, d_list.ptr, static_cast<int64_t>(keys.size())};
  for (unsigned blocks : {1u, 4u, static_cast<unsigned>(tiles)}) {
    SCOPED_TRACE(testing::Message() << blocks << " blocks");
    ASSERT_EQ(
        cudaMemcpy(d_list.ptr, keys.data(), keys.size() * sizeof(int), cudaMemcpyHostToDevice),
        cudaSuccess);
    ASSERT_EQ(gpu::launch_kernel(&gpu::sort_tile_patches_kernel, dim3(blocks),
                                 dim3(gpu::kSortThreads), 0, nullptr, bins),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<int> got = d_list.to_host();
    for (size_t t = 0; t < lengths.size(); ++t)
      ASSERT_TRUE(std::equal(got.begin() + starts[t], got.begin() + starts[t + 1],
                             want.begin() + starts[t]))
          << "a list of " << lengths[t];
  }
}

}  // namespace
