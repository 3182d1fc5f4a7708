// Fibers for the emulated device: the threads of one block, each on a
// stack of its own, switched cooperatively on one host thread. A block of
// 256 threads with a dozen barriers is thousands of switches, so the switch
// is a few instructions (x86-64: callee-saved registers and the stack
// pointer); elsewhere it falls back to ucontext. AddressSanitizer is told
// of every stack switch, so it keeps checking the fibers' stacks.
#pragma once

#include <cstddef>
#include <vector>

namespace ptp_emu::fiber {

class Fiber;

// Runs on a fiber's own stack; returning ends the fiber.
using Body = void (*)(void* argument);

// A pool of fiber stacks, reused from block to block, each with an
// inaccessible guard page below it (an overflow faults instead of
// corrupting its neighbour).
class Stacks {
 public:
  explicit Stacks(size_t stack_bytes);
  ~Stacks();
  Stacks(const Stacks&) = delete;
  Stacks& operator=(const Stacks&) = delete;
  // Stack `i` (made on first use): its lowest usable address and size.
  void* base(size_t i);
  size_t size() const { return stack_bytes_; }

 private:
  size_t page_bytes_;
  size_t stack_bytes_;
  std::vector<void*> mappings_;
};

// The scheduler side: starts fibers and resumes them until they yield or end.
class Scheduler {
 public:
  // Starts `body(argument)` on stack `stack` (of `bytes`); returns when the
  // fiber yields or ends. Returns true if it ended.
  bool start(void* stack, size_t bytes, Body body, void* argument, Fiber& fiber);
  // Resumes a fiber that yielded; true if it ended.
  bool resume(Fiber& fiber);
};

// Called on a fiber: back to the scheduler until resumed.
void yield();

// True while the calling code runs on a fiber.
bool on_fiber();

// The per-fiber state the scheduler keeps (opaque to callers).
class Fiber {
 public:
  Fiber() = default;
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  void* saved_sp = nullptr;  // the fiber's stack pointer while suspended
  void* stack = nullptr;
  size_t stack_bytes = 0;
  Body body = nullptr;
  void* argument = nullptr;
  bool ended = false;
  void* platform = nullptr;  // ucontext fallback state
};

}  // namespace ptp_emu::fiber
