// Exact k-nearest-neighbour search over 2-D scan positions: a FLANN
// KD-tree (single index, exact) built once on the positions in Z-order.
// FLANN stays inside neighbor_index.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace ptychopatch::impl {

struct Neighbor {
  double distance_sq;
  int64_t index;  // into the caller's positions
  int64_t rank;   // Z-order rank: position_at_rank(rank) is cache-friendly
};

class NeighborIndex {
 public:
  // Builds the tree; x, y (n finite positions) need not outlive the index.
  NeighborIndex(const double* x, const double* y, int64_t n);
  ~NeighborIndex();
  NeighborIndex(const NeighborIndex&) = delete;
  NeighborIndex& operator=(const NeighborIndex&) = delete;

  int64_t size() const { return static_cast<int64_t>(order_.size()); }
  // The point of Z-order rank r: querying in rank order keeps the search
  // cache-friendly.
  int64_t point_at_rank(int64_t r) const { return order_[static_cast<size_t>(r)]; }
  // (x, y) of the point of rank r, bitwise the caller's values.
  const double* position_at_rank(int64_t r) const { return &sorted_[2 * static_cast<size_t>(r)]; }

  // Per-thread search state; reusable for any number of queries.
  class Searcher {
   public:
    Searcher(const NeighborIndex& index, int64_t k);
    ~Searcher();
    Searcher(const Searcher&) = delete;
    Searcher& operator=(const Searcher&) = delete;
    // The min(k, n) points nearest to the point of Z-order rank `rank`
    // (that point itself is normally among them, but need not be when more
    // than k points share its position), sorted by (distance, index).
    // Which of several points tied at the k-th distance are returned is
    // decided by the tree: the same on every call, run and thread.
    const std::vector<Neighbor>& nearest_to_rank(int64_t rank);

   private:
    struct State;
    const NeighborIndex& index_;
    std::unique_ptr<State> state_;
    std::vector<Neighbor> found_;
  };

 private:
  struct Tree;
  std::vector<int64_t> order_;  // rank -> point
  std::vector<double> sorted_;  // (x, y) pairs in rank order, the tree's data
  std::unique_ptr<Tree> tree_;
};

}  // namespace ptychopatch::impl
