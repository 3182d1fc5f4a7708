#include "fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#define PTP_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PTP_EMU_ASAN 1
#endif
#endif

#if defined(PTP_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace ptp_emu::fiber {
namespace {

// The scheduler's side of the current switch, per host thread.
thread_local void* scheduler_sp = nullptr;
thread_local Fiber* current = nullptr;
#if defined(PTP_EMU_ASAN)
thread_local void* scheduler_fake_stack = nullptr;
thread_local const void* scheduler_stack_bottom = nullptr;
thread_local size_t scheduler_stack_size = 0;
#endif

// AddressSanitizer keeps a shadow of each stack: it must be told when the
// stack changes (and when a fiber's stack is abandoned for good).
inline void before_switch(void** fake_stack_save, const void* bottom, size_t size) {
#if defined(PTP_EMU_ASAN)
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}
inline void after_switch(void* fake_stack, const void** old_bottom, size_t* old_size) {
#if defined(PTP_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack, old_bottom, old_size);
#else
  (void)fake_stack, (void)old_bottom, (void)old_size;
#endif
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "ptychopatch CUDA emulator: %s\n", what);
  std::abort();
}

// The life of a fiber on its own stack, up to the switch back that never
// returns: its body, then "ended".
void run_body_and_end() {
  Fiber* self = current;
#if defined(PTP_EMU_ASAN)
  after_switch(nullptr, &scheduler_stack_bottom, &scheduler_stack_size);
#endif
  self->body(self->argument);
  self->ended = true;
#if defined(PTP_EMU_ASAN)
  before_switch(nullptr, scheduler_stack_bottom, scheduler_stack_size);
#endif
}

}  // namespace

#if defined(__x86_64__)

// switch(save, load): saves the callee-saved registers on the current
// stack, stores the stack pointer in *save, loads `load` and restores the
// registers saved there. A new fiber's stack is laid out so that the same
// code "returns" into fiber_entry.
extern "C" void ptp_emu_fiber_switch(void** save, void* load);
asm(R"(
  .text
  .p2align 4
  .globl ptp_emu_fiber_switch
  .hidden ptp_emu_fiber_switch
  .type ptp_emu_fiber_switch, @function
ptp_emu_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ptp_emu_fiber_switch, .-ptp_emu_fiber_switch
)");

namespace {

[[noreturn]] void fiber_entry() {
  run_body_and_end();
  void* discard = nullptr;
  ptp_emu_fiber_switch(&discard, scheduler_sp);
  die("an ended fiber was resumed");
}

void* initial_stack(void* stack, size_t bytes) {
  auto top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15};
  auto* slots = reinterpret_cast<void**>(top - 64);
  for (int i = 0; i < 6; ++i) slots[i] = nullptr;  // r15 r14 r13 r12 rbx rbp
  slots[6] = reinterpret_cast<void*>(&fiber_entry);
  slots[7] = nullptr;  // fiber_entry's return address: it never returns
  return slots;
}

// The platform's three steps: lay out a new fiber, switch into it, and
// switch from it back to the scheduler.
void prepare(Fiber& fiber) {
  fiber.saved_sp = initial_stack(fiber.stack, fiber.stack_bytes);
}

void switch_into(Fiber& fiber) {
  ptp_emu_fiber_switch(&scheduler_sp, fiber.saved_sp);
}

void switch_out(Fiber& fiber) {
  ptp_emu_fiber_switch(&fiber.saved_sp, scheduler_sp);
}

}  // namespace

#else  // ucontext fallback

namespace {
thread_local ucontext_t scheduler_context;

void ucontext_entry() {
  run_body_and_end();
  setcontext(&scheduler_context);
  die("setcontext failed");
}

void prepare(Fiber& fiber) {
  if (fiber.platform == nullptr) fiber.platform = new ucontext_t;
  auto* context = static_cast<ucontext_t*>(fiber.platform);
  if (getcontext(context) != 0) die("getcontext failed");
  context->uc_stack.ss_sp = fiber.stack;
  context->uc_stack.ss_size = fiber.stack_bytes;
  context->uc_link = nullptr;
  makecontext(context, &ucontext_entry, 0);
}

void switch_into(Fiber& fiber) {
  swapcontext(&scheduler_context, static_cast<ucontext_t*>(fiber.platform));
}

void switch_out(Fiber& fiber) {
  swapcontext(static_cast<ucontext_t*>(fiber.platform), &scheduler_context);
}

}  // namespace

#endif

// ------------------------------------------------- shared by both switches

bool Scheduler::start(void* stack, size_t bytes, Body body, void* argument, Fiber& fiber) {
  fiber.stack = stack;
  fiber.stack_bytes = bytes;
  fiber.body = body;
  fiber.argument = argument;
  fiber.ended = false;
#if defined(PTP_EMU_ASAN)
  // A stack reused after a fiber was abandoned at a barrier may still carry
  // the poisoned red zones of its frames.
  __asan_unpoison_memory_region(stack, bytes);
#endif
  prepare(fiber);
  return resume(fiber);
}

bool Scheduler::resume(Fiber& fiber) {
  current = &fiber;
#if defined(PTP_EMU_ASAN)
  before_switch(&scheduler_fake_stack, fiber.stack, fiber.stack_bytes);
#endif
  switch_into(fiber);
#if defined(PTP_EMU_ASAN)
  after_switch(scheduler_fake_stack, nullptr, nullptr);
#endif
  current = nullptr;
  return fiber.ended;
}

void yield() {
  Fiber* self = current;
  if (self == nullptr) die("__syncthreads outside a kernel");
#if defined(PTP_EMU_ASAN)
  void* fake = nullptr;
  before_switch(&fake, scheduler_stack_bottom, scheduler_stack_size);
#endif
  switch_out(*self);
#if defined(PTP_EMU_ASAN)
  after_switch(fake, &scheduler_stack_bottom, &scheduler_stack_size);
#endif
}

bool on_fiber() {
  return current != nullptr;
}

Stacks::Stacks(size_t stack_bytes) : page_bytes_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
  stack_bytes_ = (stack_bytes + page_bytes_ - 1) / page_bytes_ * page_bytes_;
}

Stacks::~Stacks() {
  const size_t page = page_bytes_;
  for (void* mapping : mappings_)
    if (mapping != nullptr) munmap(mapping, stack_bytes_ + page);
}

void* Stacks::base(size_t i) {
  const size_t page = page_bytes_;
  if (i < mappings_.size() && mappings_[i] != nullptr)
    return static_cast<unsigned char*>(mappings_[i]) + page;
  if (i >= mappings_.size()) mappings_.resize(i + 1, nullptr);
  if (mappings_[i] == nullptr) {
    void* mapping = mmap(nullptr, stack_bytes_ + page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapping == MAP_FAILED) die("cannot map a fiber stack");
    if (mprotect(mapping, page, PROT_NONE) != 0) die("cannot protect a fiber stack's guard page");
    mappings_[i] = mapping;
  }
  return static_cast<unsigned char*>(mappings_[i]) + page;
}

}  // namespace ptp_emu::fiber
