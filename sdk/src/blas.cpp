// OpenBLAS's controls and names, looked up once at run time (see blas.hpp).
#include <ballista/blas.hpp>

#include <dlfcn.h>

BALLISTA_NAMESPACE_BEGIN

namespace {

using GetThreads = int (*)();
using SetThreads = void (*)(int);
using GetName = char* (*)();

template <typename Function>
Function lookup(const char* name) {
  return reinterpret_cast<Function>(dlsym(RTLD_DEFAULT, name));  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
}

// Null under another BLAS.
struct OpenBlas {
  GetThreads get_threads = lookup<GetThreads>("openblas_get_num_threads");
  SetThreads set_threads = lookup<SetThreads>("openblas_set_num_threads");
  GetName core = lookup<GetName>("openblas_get_corename");
  GetName config = lookup<GetName>("openblas_get_config");
};

const OpenBlas& openblas() {
  static const OpenBlas controls;
  return controls;
}

std::string text_of(GetName function) {
  const char* text = function != nullptr ? function() : nullptr;
  return text != nullptr ? std::string(text) : std::string();
}

}  // namespace

int blas_threads() {
  const auto& blas = openblas();
  return blas.get_threads != nullptr && blas.set_threads != nullptr ? blas.get_threads() : 0;
}

void set_blas_threads(int threads) {
  if (const auto& blas = openblas(); blas.set_threads != nullptr) {
    blas.set_threads(threads);
  }
}

std::string blas_core() { return text_of(openblas().core); }

std::string blas_config() { return text_of(openblas().config); }

BALLISTA_NAMESPACE_END
