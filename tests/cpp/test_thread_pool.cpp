// The CPU backend's thread pool (src/core/thread_pool.hpp): every item runs
// once, slots are private to one participant at a time, errors come back
// to the caller, nested loops run inline, and the caller never waits for a
// helper that has not started a grain (the property that keeps the library
// fast beside other load).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.hpp"

namespace ptychopatch::impl {
namespace {

TEST(ThreadPool, EveryItemRunsOnceWithASlotBelowTheThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    for (int64_t grain : {1, 3, 64}) {
      for (int64_t count : {0, 1, 7, 1000}) {
        std::vector<std::atomic<int>> runs(static_cast<size_t>(count) + 10);
        std::atomic<int> bad_slots{0};
        parallel_for(threads, 10, 10 + count, grain, [&](int64_t i, int slot) {
          runs[static_cast<size_t>(i)].fetch_add(1);
          if (slot < 0 || slot >= threads) bad_slots.fetch_add(1);
        });
        for (int64_t i = 0; i < count + 10; ++i)
          EXPECT_EQ(runs[static_cast<size_t>(i)].load(), i >= 10 ? 1 : 0)
              << threads << " threads, grain " << grain << ", item " << i;
        EXPECT_EQ(bad_slots.load(), 0);
      }
    }
  }
}

TEST(ThreadPool, ASlotIsNeverUsedByTwoGrainsAtOnce) {
  constexpr int kThreads = 4;
  std::atomic<int> in_use[kThreads] = {};
  std::atomic<int> clashes{0};
  parallel_for(kThreads, 0, 4000, 1, [&](int64_t, int slot) {
    if (in_use[slot].exchange(1) != 0) clashes.fetch_add(1);
    std::this_thread::yield();
    in_use[slot].store(0);
  });
  EXPECT_EQ(clashes.load(), 0);
}

TEST(ThreadPool, TheFirstErrorReachesTheCallerAndThePoolGoesOn) {
  std::atomic<int64_t> ran{0};
  EXPECT_THROW(parallel_for(4, 0, 10000, 1,
                            [&](int64_t i, int) {
                              ran.fetch_add(1);
                              if (i == 3) throw std::runtime_error("grain 3");
                            }),
               std::runtime_error);
  EXPECT_GE(ran.load(), 1);  // how many grains the failure skips is timing
  std::atomic<int64_t> sum{0};
  parallel_for(4, 0, 1000, 7, [&](int64_t i, int) { sum.fetch_add(i); });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

TEST(ThreadPool, NestedLoopsRunOnTheirCaller) {
  std::atomic<int64_t> sum{0};
  std::atomic<int> nested_bad_slot{0};
  parallel_for(4, 0, 16, 1, [&](int64_t, int) {
    parallel_for(4, 0, 100, 1, [&](int64_t j, int slot) {
      if (slot != 0) nested_bad_slot.fetch_add(1);
      sum.fetch_add(j);
    });
  });
  EXPECT_EQ(sum.load(), 16 * 4950);
  EXPECT_EQ(nested_bad_slot.load(), 0);
}

// Every helper is held by another caller's loop; a second caller's loop
// must still finish, on that caller alone, without waiting for them. A
// fork-join team (or a caller that waited for every helper it offered the
// loop to) hangs here until the first loop is released.
TEST(ThreadPool, TheCallerFinishesAloneWhenNoHelperComes) {
  std::mutex mutex;
  std::condition_variable changed;
  int entered = 0;
  bool release = false;
  const int first_threads = std::max(2, pool_helpers() + 1);
  std::thread first([&] {
    parallel_for(first_threads, 0, first_threads, 1, [&](int64_t, int) {
      std::unique_lock<std::mutex> lock(mutex);
      ++entered;
      changed.notify_all();
      changed.wait(lock, [&] { return release; });
    });
  });
  bool all_inside = false;
  {
    // Every participant of the first loop, the helpers included, is inside.
    std::unique_lock<std::mutex> lock(mutex);
    all_inside =
        changed.wait_for(lock, std::chrono::seconds(30), [&] { return entered == first_threads; });
  }
  std::future<int64_t> second;
  bool finished = false;
  if (all_inside) {
    second = std::async(std::launch::async, [] {
      std::atomic<int64_t> sum{0};
      parallel_for(2, 0, 64, 1, [&](int64_t i, int) { sum.fetch_add(i); });
      return sum.load();
    });
    finished = second.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    release = true;
  }
  changed.notify_all();
  first.join();
  ASSERT_TRUE(all_inside) << entered << " of " << first_threads << " entered the first loop";
  ASSERT_TRUE(finished) << "the second loop waited for a helper held by the first";
  EXPECT_EQ(second.get(), 63 * 64 / 2);
}

// Two grains that each wait for the other: they finish only on two
// threads at once. True if they did (within 10 s).
bool two_threads_meet() {
  std::atomic<int> entered{0};
  std::atomic<bool> met{true};
  parallel_for(2, 0, 2, 1, [&](int64_t, int) {
    entered.fetch_add(1);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (entered.load() < 2 && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (entered.load() < 2) met.store(false);
  });
  return met.load();
}

// A forked child inherits none of the parent's helpers; it must make its
// own rather than run every loop on one thread.
TEST(ThreadPool, AForkedChildHasHelpersOfItsOwn) {
  ASSERT_TRUE(two_threads_meet());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(two_threads_meet() ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(ThreadPool, AvailableProcessorsFollowTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(available_processors(), CPU_COUNT(&set));
}

}  // namespace
}  // namespace ptychopatch::impl
