#include "group/grouping.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/desc_versions.hpp"
#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "group/group_coords.hpp"
#include "group/group_draw.hpp"
#include "group/neighbor_index.hpp"
#include "group/random_stream.hpp"
#include "group/seed_selection.hpp"

namespace ptychopatch::impl {
namespace {

// Queries handed to a thread at a time: consecutive Z-order ranks, so a
// thread's queries stay in one region of the tree.
constexpr int64_t kRanksPerTask = 512;
// Groups per grain of the passes that write the outputs (a few microseconds
// of work each).
constexpr int64_t kGroupsPerGrain = 1024;

// Where each position's groups go: the groups seeded by position s are
// slots[first[s] .. first[s+1]), in increasing group order.
struct SeedSlots {
  std::vector<int64_t> first;
  std::vector<int64_t> slots;

  SeedSlots(const std::vector<int64_t>& seeds, int64_t n) : first(static_cast<size_t>(n) + 1, 0) {
    for (int64_t s : seeds) ++first[static_cast<size_t>(s) + 1];
    for (int64_t s = 0; s < n; ++s) first[s + 1] += first[s];
    slots.resize(seeds.size());
    std::vector<int64_t> next(first.begin(), first.end() - 1);
    for (size_t b = 0; b < seeds.size(); ++b) slots[static_cast<size_t>(next[seeds[b]]++)] = b;
  }
  int64_t count(int64_t s) const { return first[s + 1] - first[s]; }
};

// The pool of a seed (SPEC §2 step 3): its K nearest neighbours, itself
// excluded. The search returns K + 1 points; the seed is dropped, or, when
// more than K + 1 points share its position and it was not returned, the
// farthest (last) one is. A pool smaller than C takes the seed back.
void neighbour_pool(const std::vector<Neighbor>& nearest, int64_t seed, int64_t seed_rank,
                    int64_t k, int64_t c, std::vector<Neighbor>& pool) {
  pool.clear();
  bool dropped_self = false;
  for (const Neighbor& neighbour : nearest) {
    if (neighbour.index == seed && !dropped_self) {
      dropped_self = true;
      continue;
    }
    pool.push_back(neighbour);
  }
  if (static_cast<int64_t>(pool.size()) > k) pool.resize(static_cast<size_t>(k));
  if (static_cast<int64_t>(pool.size()) < c) pool.push_back({0.0, seed, seed_rank});
}

// K + 1 >= n: the search would return every position, so the pool of seed
// s is all the others in (squared distance, index) order (neighbour_pool
// drops the seed itself), plus the seed at the end when that leaves fewer
// than C. Searching and sorting all n points for every seed made such calls
// O(n^2 log n) (50 s for n = 20,000). The drawer's positions depend only on
// the pool's size, so they are drawn first, and only the ranks drawn are put
// in place (nth_element on a shrinking range): O(n) per seed. Distances are
// FLANN's L2 exactly, 0 + dx^2 then + dy^2, so the pools are the search's.
class WholePools {
 public:
  WholePools(const double* x, const double* y, int64_t n, int64_t c) : x_(x), y_(y), n_(n), c_(c) {}

  // Draws seed s's `count` groups, handing each to emit(j, member indices).
  template <class Emit>
  void draw(int64_t s, int64_t count, RandomStream& rng, GroupDrawer& drawer, Emit emit) {
    pool_.clear();
    for (int64_t i = 0; i < n_; ++i) {
      if (i == s) continue;
      const double dx = x_[s] - x_[i], dy = y_[s] - y_[i];
      double d = 0.0;
      d += dx * dx;
      d += dy * dy;
      pool_.push_back({d, i, 0});
    }
    // The seed, appended to a short pool, stays last: only the others are
    // selected among.
    const auto others = static_cast<int64_t>(pool_.size());
    if (others < c_) pool_.push_back({0.0, s, 0});
    positions_.clear();
    drawer.draw(static_cast<int64_t>(pool_.size()), c_, count, rng,
                [&](int64_t, const int32_t* chosen) {
                  positions_.insert(positions_.end(), chosen, chosen + c_);
                });
    ranks_ = positions_;
    std::sort(ranks_.begin(), ranks_.end());
    ranks_.erase(std::unique(ranks_.begin(), ranks_.end()), ranks_.end());
    const auto before = [](const Neighbor& a, const Neighbor& b) {
      return a.distance_sq < b.distance_sq || (a.distance_sq == b.distance_sq && a.index < b.index);
    };
    auto first = pool_.begin();
    for (const int32_t r : ranks_) {
      if (r >= others) break;
      std::nth_element(first, pool_.begin() + r, pool_.begin() + others, before);
      first = pool_.begin() + r + 1;
    }
    members_.resize(static_cast<size_t>(c_));
    for (int64_t j = 0; j < count; ++j) {
      for (int64_t m = 0; m < c_; ++m)
        members_[static_cast<size_t>(m)] = pool_[static_cast<size_t>(positions_[j * c_ + m])].index;
      emit(j, members_.data());
    }
  }

 private:
  const double *x_, *y_;
  int64_t n_, c_;
  std::vector<Neighbor> pool_;
  std::vector<int32_t> positions_, ranks_;
  std::vector<int64_t> members_;
};

// Where group b's outputs go (coordinate arrays may be NULL).
struct GroupRow {
  int64_t* indices;
  double *nn, *offset, *relative;
  GroupRow(const GroupOutputs& out, int64_t b, int64_t c)
      : indices(out.nn_indices + b * c),
        nn(out.coords_nn != nullptr ? out.coords_nn + b * 2 * c : nullptr),
        offset(out.coords_offsets != nullptr ? out.coords_offsets + b * 2 : nullptr),
        relative(out.coords_relative != nullptr ? out.coords_relative + b * 2 * c : nullptr) {}
};

// C = 1: every group is its seed (SPEC §2 step 2).
void seed_groups(const ptp_context& context, const std::vector<int64_t>& seeds, const double* x,
                 const double* y, const GroupOutputs& out) {
  const auto num_groups = static_cast<int64_t>(seeds.size());
  parallel_for_each(context.num_threads, 0, num_groups, kGroupsPerGrain, [&](int64_t b) {
    const GroupRow row(out, b, 1);
    const int64_t s = seeds[b];
    row.indices[0] = s;
    group_coordinates(&x[s], &y[s], 1, row.nn, row.offset, row.relative);
  });
}

std::string position_value(const char* axis, int64_t i, double v) {
  char text[128];
  std::snprintf(text, sizeof text, "argument '%s': position %lld is not finite (%g)", axis,
                static_cast<long long>(i), v);
  return text;
}

}  // namespace

void default_group_desc(ptp_group_desc* desc) {
  *desc = ptp_group_desc{};
  desc->struct_size = sizeof(ptp_group_desc);
  desc->num_samples = 0;
  desc->num_neighbors = 4;
  desc->group_size = 4;
  desc->seed = 0;
  desc->sequential = 0;
  desc->oversample = 0;
  desc->progress = nullptr;
  desc->progress_user_data = nullptr;
}

static_assert(offsetof(ptp_group_desc, progress) == kGroupDescSizeWithoutProgress,
              "the progress fields follow the older struct's last field");

void init_group_desc(ptp_group_desc* desc, size_t struct_size) {
  // A caller built before the progress fields owns only the first bytes.
  init_desc(desc, "desc", struct_size, default_group_desc, kGroupDescSizeWithoutProgress);
}

GroupRequest validate_group_desc(const ptp_group_desc* given) {
  // The older struct: its fields, and no progress callback.
  ptp_group_desc widened;
  const ptp_group_desc* desc =
      current_desc(given, "desc", widened, kGroupDescSizeWithoutProgress, default_group_desc);
  GroupRequest r{};
  r.progress.fn = desc->progress;
  r.progress.user_data = desc->progress != nullptr ? desc->progress_user_data : nullptr;
  r.num_groups = desc->num_samples;
  r.num_neighbors = desc->num_neighbors;
  r.group_size = desc->group_size;
  r.seed = desc->seed;
  if (r.num_groups < 0)
    fail(PTP_ERROR_INVALID_SIZE,
         "desc->num_samples is " + std::to_string(r.num_groups) + ", must be >= 0");
  if (r.num_neighbors < 1)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "desc->num_neighbors (K) is " + std::to_string(r.num_neighbors) + ", must be >= 1");
  if (r.group_size < 1)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "desc->group_size (C = gridsize^2) is " + std::to_string(r.group_size) + ", must be >= 1");
  if (r.group_size > 1 && r.num_neighbors < r.group_size)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "desc->num_neighbors (K) is " + std::to_string(r.num_neighbors) +
             ", less than desc->group_size (C) " + std::to_string(r.group_size) +
             ": the pool of K neighbours cannot supply C distinct members");
  for (auto [value, name] :
       {std::pair{desc->sequential, "sequential"}, std::pair{desc->oversample, "oversample"}})
    if (value != 0 && value != 1)
      fail(PTP_ERROR_INVALID_ARGUMENT,
           std::string("desc->") + name + " is " + std::to_string(value) + ", must be 0 or 1");
  r.sequential = desc->sequential != 0;
  r.oversample = desc->oversample != 0;
  return r;
}

void validate_positions(const GroupRequest& request, const double* x, const double* y,
                        int64_t num_points) {
  if (num_points < 0)
    fail(PTP_ERROR_INVALID_SIZE,
         "argument 'num_points' is " + std::to_string(num_points) + ", must be >= 0");
  if (num_points < request.group_size)
    fail(PTP_ERROR_INVALID_SIZE,
         "argument 'num_points' is " + std::to_string(num_points) +
             ", fewer than the group size C = " + std::to_string(request.group_size));
  require_non_null(x, "x");
  require_non_null(y, "y");
  if (request.num_groups > num_points && !request.oversample)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "desc->num_samples (" + std::to_string(request.num_groups) +
             " groups) exceeds the number of positions (" + std::to_string(num_points) +
             "): set desc->oversample = 1 to draw several groups per seed");
  for (int64_t i = 0; i < num_points; ++i) {
    if (!std::isfinite(x[i])) fail(PTP_ERROR_NON_FINITE, position_value("x", i, x[i]));
    if (!std::isfinite(y[i])) fail(PTP_ERROR_NON_FINITE, position_value("y", i, y[i]));
  }
  // The search compares squared distances in float64: positions whose
  // squared spread overflows would all be "infinitely" far apart and the
  // pools could not be formed.
  const auto [xmin, xmax] = std::minmax_element(x, x + num_points);
  const auto [ymin, ymax] = std::minmax_element(y, y + num_points);
  // The bound leaves room for the sums the KD-tree search forms beyond
  // dx^2 + dy^2 (distances to cells, added across axes and levels): spans
  // from about 9.5e153 to 1.3e154 passed a plain overflow test yet
  // overflowed in FLANN. No scan covers 1e150 pixels.
  const double dx = *xmax - *xmin, dy = *ymax - *ymin;
  constexpr double kMaxSpan = 1e150;
  if (!(dx < kMaxSpan && dy < kMaxSpan)) {
    char text[200];
    std::snprintf(text, sizeof text,
                  "the positions span %g x %g pixels; the neighbour search needs a span below "
                  "1e150 pixels (squared distances must stay within float64)",
                  dx, dy);
    fail(PTP_ERROR_INVALID_ARGUMENT, text);
  }
}

void form_groups(const ptp_context& context, const GroupRequest& request, const double* x,
                 const double* y, int64_t num_points, const GroupOutputs& out,
                 const Progress& progress) {
  const int64_t num_groups = request.num_groups, c = request.group_size;
  progress.report(0);
  if (num_groups == 0) return;
  const std::vector<int64_t> seeds =
      select_seeds(num_points, num_groups, request.sequential, request.seed);
  if (c == 1) {
    seed_groups(context, seeds, x, y, out);
    progress.report(num_groups);
    return;
  }

  const SeedSlots seed_slots(seeds, num_points);
  const NeighborIndex index(x, y, num_points);
  const int64_t k = request.num_neighbors;
  // Every position is in every pool: WholePools instead of the search.
  const bool whole_pools = k + 1 >= num_points;
  const int64_t tasks = (num_points + kRanksPerTask - 1) / kRanksPerTask;
  // The members are drawn into this scratch, and reach the outputs only
  // once every group is drawn: the search allocates as it goes (FLANN), and
  // a failure there must leave the caller's outputs untouched. The second
  // pass, which writes them, allocates nothing and cannot fail.
  std::vector<int64_t> drawn(static_cast<size_t>(num_groups * c));
  const int threads = std::max(1, context.num_threads);
  std::vector<double> member_xy(static_cast<size_t>(2 * c * threads));
  // Per-thread search state, made on a thread's first task and kept for
  // the later chunks of a call reported in chunks.
  struct ThreadState {
    std::unique_ptr<NeighborIndex::Searcher> searcher;
    std::unique_ptr<WholePools> whole;
    GroupDrawer drawer;
    std::vector<Neighbor> pool;
  };
  std::vector<ThreadState> states(static_cast<size_t>(threads));
  // Tasks [task_begin, task_end) of the search and draws. A failure (the
  // pool rethrows it) stops the call before the next chunk.
  const auto run_tasks = [&](int64_t task_begin, int64_t task_end) {
    parallel_for(threads, task_begin, task_end, 1, [&](int64_t task, int thread) {
      ThreadState& state = states[static_cast<size_t>(thread)];
      if (whole_pools) {
        if (!state.whole) state.whole = std::make_unique<WholePools>(x, y, num_points, c);
      } else if (!state.searcher) {
        state.searcher = std::make_unique<NeighborIndex::Searcher>(index, k + 1);
      }
      std::vector<Neighbor>& pool = state.pool;
      auto write_group = [&](int64_t slot, const int32_t* positions) {
        for (int64_t m = 0; m < c; ++m)
          drawn[static_cast<size_t>(slot * c + m)] = pool[static_cast<size_t>(positions[m])].index;
      };
      const int64_t end = std::min(num_points, (task + 1) * kRanksPerTask);
      for (int64_t rank = task * kRanksPerTask; rank < end; ++rank) {
        const int64_t s = index.point_at_rank(rank);
        const int64_t groups_here = seed_slots.count(s);
        if (groups_here == 0) continue;
        RandomStream rng(request.seed, static_cast<uint64_t>(s));
        const int64_t* slots = &seed_slots.slots[static_cast<size_t>(seed_slots.first[s])];
        if (state.whole) {
          state.whole->draw(s, groups_here, rng, state.drawer,
                            [&](int64_t j, const int64_t* members) {
                              std::copy(members, members + c, drawn.begin() + slots[j] * c);
                            });
          continue;
        }
        neighbour_pool(state.searcher->nearest_to_rank(rank), s, rank, k, c, pool);
        state.drawer.draw(
            static_cast<int64_t>(pool.size()), c, groups_here, rng,
            [&](int64_t j, const int32_t* positions) { write_group(slots[j], positions); });
      }
    });
  };
  // Groups seeded by the positions of ranks below a task boundary: the
  // progress count after the tasks before it.
  int64_t counted_tasks = 0;
  int64_t groups_done = 0;
  const auto groups_after = [&](int64_t task_end) {
    const int64_t end_rank = std::min(num_points, task_end * kRanksPerTask);
    for (int64_t rank = counted_tasks * kRanksPerTask; rank < end_rank; ++rank)
      groups_done += seed_slots.count(index.point_at_rank(rank));
    counted_tasks = task_end;
    return groups_done;
  };
  run_in_chunks(progress, tasks, 1, run_tasks, groups_after);

  parallel_for(threads, 0, num_groups, kGroupsPerGrain, [&](int64_t b, int thread) {
    double* const member_x = member_xy.data() + 2 * c * thread;
    double* const member_y = member_x + c;
    const GroupRow row(out, b, c);
    for (int64_t m = 0; m < c; ++m) {
      const int64_t i = drawn[static_cast<size_t>(b * c + m)];
      row.indices[m] = i;
      member_x[m] = x[i];
      member_y[m] = y[i];
    }
    group_coordinates(member_x, member_y, c, row.nn, row.offset, row.relative);
  });
}

}  // namespace ptychopatch::impl
