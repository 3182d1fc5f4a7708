#include "core/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ptychopatch::impl {
namespace {

// True on a pool helper, and on a caller while it runs grains: a loop
// started there runs inline (as a nested OpenMP region did).
thread_local bool inside_grains = false;

struct Job : std::enable_shared_from_this<Job> {
  Job(GrainWork w, int64_t g, int slots) : work(w), grains(g), max_slots(slots) {}

  const GrainWork work;  // dereferenced only after a grain is claimed
  const int64_t grains;
  const int max_slots;
  std::atomic<int64_t> next{0};
  std::atomic<int> slots{1};  // the caller holds slot 0
  std::atomic<int64_t> finished{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::condition_variable all_finished;
  std::exception_ptr error;    // under mutex
  Job* queued_next = nullptr;  // the pool's queue (under the pool's mutex)

  bool exhausted() const {
    return next.load(std::memory_order_relaxed) >= grains ||
           slots.load(std::memory_order_relaxed) >= max_slots;
  }

  // Claims and runs grains until none is left.
  void work_on(int slot) {
    for (;;) {
      const int64_t g = next.fetch_add(1, std::memory_order_relaxed);
      if (g >= grains) return;
      if (!failed.load(std::memory_order_relaxed)) {
        try {
          work.call(work.object, g, slot);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex);
          if (!error) error = std::current_exception();
          failed.store(true, std::memory_order_relaxed);
        }
      }
      // acq_rel: the grain's writes happen before the caller's return.
      if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == grains) {
        std::lock_guard<std::mutex> lock(mutex);
        all_finished.notify_one();
      }
    }
  }
};

class Pool {
 public:
  // Publishes job for up to `helpers` helpers, creating helper threads up
  // to that many (a thread that cannot be made is left out).
  void offer(const std::shared_ptr<Job>& job, int helpers) {
    int wake = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      grow(helpers);
      wake = std::min<int>(helpers, static_cast<int>(threads_.size()));
      if (wake == 0) return;
      // The queue holds plain pointers: the caller owns the job until it
      // has withdrawn it, and the queue needs no allocation of its own.
      job->queued_next = nullptr;
      (tail_ != nullptr ? tail_->queued_next : head_) = job.get();
      tail_ = job.get();
    }
    for (int k = 0; k < wake; ++k) wake_.notify_one();
  }

  // Takes job off the queue: no helper joins it from now on.
  void withdraw(const Job* job) {
    std::lock_guard<std::mutex> lock(mutex_);
    Job* previous = nullptr;
    for (Job* j = head_; j != nullptr; previous = j, j = j->queued_next)
      if (j == job) {
        (previous != nullptr ? previous->queued_next : head_) = j->queued_next;
        if (tail_ == j) tail_ = previous;
        return;
      }
  }

  int helpers() {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(threads_.size());
  }

 private:
  void grow(int wanted) {  // under mutex_
    while (static_cast<int>(threads_.size()) < wanted) {
      try {
        threads_.reserve(threads_.size() + 1);
        threads_.emplace_back([this] { serve(); });
      } catch (...) {
        return;  // no memory or no thread: fewer helpers
      }
    }
  }

  void pop_front() {  // under mutex_
    head_ = head_->queued_next;
    if (head_ == nullptr) tail_ = nullptr;
  }

  void serve() {
    inside_grains = true;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return head_ != nullptr; });
      if (head_->exhausted()) {
        pop_front();
        continue;
      }
      const int slot = head_->slots.fetch_add(1, std::memory_order_relaxed);
      if (slot >= head_->max_slots) {
        pop_front();
        continue;
      }
      // Queued, so its caller still owns it: a share of it is safe to take.
      std::shared_ptr<Job> job = head_->shared_from_this();
      lock.unlock();
      job->work_on(slot);
      job.reset();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  Job* head_ = nullptr;  // the jobs offered, oldest first
  Job* tail_ = nullptr;
  // Never joined: the pool lives until the process ends (a helper blocked
  // on wake_ holds nothing), so exit never waits on a loop of another thread.
  std::vector<std::thread> threads_;
};

std::atomic<Pool*> the_pool{nullptr};
std::once_flag fork_handler_once;

Pool* pool() {
  Pool* p = the_pool.load(std::memory_order_acquire);
  if (p != nullptr) return p;
  static std::mutex creating;
  std::lock_guard<std::mutex> lock(creating);
  p = the_pool.load(std::memory_order_acquire);
  if (p != nullptr) return p;
  // A forked child has none of the parent's helpers: it starts a new pool
  // (the old one, whose mutexes may be held by threads that are gone, is
  // left alone).
  std::call_once(fork_handler_once, [] {
    pthread_atfork(nullptr, nullptr, [] { the_pool.store(nullptr, std::memory_order_relaxed); });
  });
  p = new (std::nothrow) Pool;
  the_pool.store(p, std::memory_order_release);
  return p;
}

}  // namespace

int available_processors() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int pool_helpers() {
  Pool* p = the_pool.load(std::memory_order_acquire);
  return p == nullptr ? 0 : p->helpers();
}

void run_grains(int threads, int64_t grains, GrainWork work) {
  const int64_t most = std::min<int64_t>(threads, grains);
  Pool* p = most > 1 && !inside_grains ? pool() : nullptr;
  std::shared_ptr<Job> job;
  if (p != nullptr) {
    try {
      job = std::make_shared<Job>(work, grains, static_cast<int>(most));
      p->offer(job, static_cast<int>(most) - 1);
    } catch (...) {
      job.reset();  // no memory for the job: the caller runs every grain
    }
  }
  if (!job) {
    const bool was_inside = inside_grains;
    inside_grains = true;
    try {
      for (int64_t g = 0; g < grains; ++g) work.call(work.object, g, 0);
    } catch (...) {
      inside_grains = was_inside;
      throw;
    }
    inside_grains = was_inside;
    return;
  }
  inside_grains = true;
  job->work_on(0);
  inside_grains = false;
  p->withdraw(job.get());
  std::unique_lock<std::mutex> lock(job->mutex);
  job->all_finished.wait(
      lock, [&] { return job->finished.load(std::memory_order_acquire) == job->grains; });
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace ptychopatch::impl
