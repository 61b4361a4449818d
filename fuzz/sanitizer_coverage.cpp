// Coverage feedback for libFuzzer from GCC-built code.
//
// The fuzz targets are built by GCC, like the rest of Ballista: clang 14 (and 16) cannot
// compile LibTorch 1.13's headers in C++20 mode (libstdc++ 12's constexpr std::vector
// is instantiated while c10::IValue is still incomplete), and every reader under test
// includes them. GCC's -fsanitize-coverage=trace-pc calls __sanitizer_cov_trace_pc() in
// every basic block, but libFuzzer 14 refuses that callback at run time. The link
// redirects the calls here (-Wl,--wrap=__sanitizer_cov_trace_pc), and this file turns
// them into AFL-style edge counters in the section libFuzzer collects as "extra
// counters". GCC's trace-cmp calls go to libFuzzer's own handlers, except the
// floating-point ones, which libFuzzer does not have.
//
// Built without instrumentation: an instrumented callback would call itself.
#include <cstddef>
#include <cstdint>

namespace {

constexpr std::size_t kCounters = std::size_t{1} << 16;

// libFuzzer reads every byte between __start_ and __stop___libfuzzer_extra_counters.
__attribute__((section("__libfuzzer_extra_counters"), used)) std::uint8_t counters[kCounters];

// The previous block's hash: an edge (previous → current) gets its own counter.
std::uint64_t previous = 0;

}  // namespace

// The names are the sanitizer coverage interface, reserved identifiers by design.
// NOLINTBEGIN(bugprone-reserved-identifier)
extern "C" {

void __wrap___sanitizer_cov_trace_pc() {
  const auto pc = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
  const std::uint64_t current = (pc * 0x9E3779B97F4A7C15ULL) >> 48U;  // 16 well-mixed bits
  ++counters[(current ^ previous) % kCounters];
  previous = current >> 1U;
}

void __sanitizer_cov_trace_cmpf(float /*first*/, float /*second*/) {}
void __sanitizer_cov_trace_cmpd(double /*first*/, double /*second*/) {}

}  // extern "C"
// NOLINTEND(bugprone-reserved-identifier)
