#include "group/neighbor_index.hpp"

#include <algorithm>
#include <flann/flann.hpp>

#include "core/headroom.hpp"
#include "group/spatial_order.hpp"

namespace ptychopatch::impl {
namespace {

using Distance = flann::L2<double>;  // squared Euclidean distance
using FlannTree = flann::KDTreeSingleIndex<Distance>;

// FLANN's own threshold between its two k-NN result sets: insertion into a
// sorted array below it, a heap above.
constexpr int64_t kHeapThreshold = 250;

}  // namespace

struct NeighborIndex::Tree {
  flann::Matrix<double> data;
  FlannTree index;
  // The data is already in Z-order, so FLANN need not copy it into tree
  // order (reorder = false); leaves of 10 points, FLANN's default.
  Tree(double* points, int64_t n)
      : data(points, static_cast<size_t>(n), 2),
        index(data, flann::KDTreeSingleIndexParams(10, /*reorder=*/false)) {
    // FLANN's pool allocator returns NULL when memory runs out and then
    // dereferences it; the tree takes well under 64 bytes a point.
    require_headroom(static_cast<size_t>(n) * 64 + (size_t{1} << 20),
                     "the neighbour tree of " + std::to_string(n) + " positions");
    index.buildIndex();
  }
};

NeighborIndex::NeighborIndex(const double* x, const double* y, int64_t n)
    : order_(morton_order(x, y, n)), sorted_(2 * static_cast<size_t>(n)) {
  for (int64_t r = 0; r < n; ++r) {
    sorted_[2 * r] = x[order_[r]];
    sorted_[2 * r + 1] = y[order_[r]];
  }
  if (n > 0) tree_ = std::make_unique<Tree>(sorted_.data(), n);
}

NeighborIndex::~NeighborIndex() = default;

struct NeighborIndex::Searcher::State {
  int64_t k;
  // One of the two, by k (FLANN's knnSearch makes the same choice).
  std::unique_ptr<flann::KNNSimpleResultSet<double>> sorted_array;
  std::unique_ptr<flann::KNNResultSet2<double>> heap;
  std::vector<size_t> indices;
  std::vector<double> distances;
  // checks = unlimited and eps = 0: the single KD-tree search is exact.
  flann::SearchParams params{flann::FLANN_CHECKS_UNLIMITED, 0.0f, false};
};

NeighborIndex::Searcher::Searcher(const NeighborIndex& index, int64_t k)
    : index_(index), state_(std::make_unique<State>()) {
  state_->k = std::min(k, index.size());
  const auto capacity = static_cast<size_t>(std::max<int64_t>(state_->k, 1));
  if (state_->k > kHeapThreshold)
    state_->heap = std::make_unique<flann::KNNResultSet2<double>>(capacity);
  else
    state_->sorted_array = std::make_unique<flann::KNNSimpleResultSet<double>>(capacity);
  state_->indices.resize(capacity);
  state_->distances.resize(capacity);
  found_.reserve(capacity);
}

NeighborIndex::Searcher::~Searcher() = default;

const std::vector<Neighbor>& NeighborIndex::Searcher::nearest_to_rank(int64_t rank) {
  found_.clear();
  if (state_->k == 0) return found_;
  const double* query = index_.position_at_rank(rank);
  auto collect = [&](auto& results) {
    results.clear();
    index_.tree_->index.findNeighbors(results, query, state_->params);
    const size_t count = std::min(results.size(), static_cast<size_t>(state_->k));
    results.copy(state_->indices.data(), state_->distances.data(), count, false);
    for (size_t i = 0; i < count; ++i)
      found_.push_back({state_->distances[i], index_.order_[state_->indices[i]],
                        static_cast<int64_t>(state_->indices[i])});
  };
  if (state_->heap)
    collect(*state_->heap);
  else
    collect(*state_->sorted_array);
  std::sort(found_.begin(), found_.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.distance_sq < b.distance_sq || (a.distance_sq == b.distance_sq && a.index < b.index);
  });
  return found_;
}

}  // namespace ptychopatch::impl
