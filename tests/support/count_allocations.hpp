#pragma once

// Counts heap allocations through replacements of the global operator new (every form)
// and, outside sanitizer builds, of malloc, calloc and realloc (glibc 2.36 has no malloc
// hooks). Include from exactly one source file of an executable of its own: the
// replacements apply to the whole process.
// The replacements pair malloc with free; g++ 12 cannot see that its operator new is this
// file's and warns that free() is called on memory from `new`.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <atomic>
#include <cstdlib>
#include <new>

namespace connkit::test {
/// Heap allocations made so far by any thread of the process (an operator new whose malloc
/// is counted too counts twice: compare differences with zero).
inline std::atomic<long> allocations{0};
}  // namespace connkit::test

namespace connkit::test::detail {
inline void* counted(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
inline void* counted_aligned(std::size_t n, std::align_val_t a) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  const auto align = static_cast<std::size_t>(a);
  return std::aligned_alloc(align, (n + align - 1) & ~(align - 1));
}
}  // namespace connkit::test::detail

void* operator new(std::size_t n) {
  if (void* p = connkit::test::detail::counted(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = connkit::test::detail::counted(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return connkit::test::detail::counted(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return connkit::test::detail::counted(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = connkit::test::detail::counted_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = connkit::test::detail::counted_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

// malloc too (glibc's own entry points underneath), so C-level allocations count as well.
// Sanitizers interpose malloc themselves: there only operator new counts.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CONNKIT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define CONNKIT_SANITIZED 1
#endif
#endif
#if !defined(CONNKIT_SANITIZED) && defined(__GLIBC__)
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) noexcept {
  connkit::test::allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) noexcept {
  connkit::test::allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) noexcept {
  connkit::test::allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void free(void* p) noexcept { __libc_free(p); }
}
#endif
