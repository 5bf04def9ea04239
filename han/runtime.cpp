#include "han/runtime.h"

#include <dlfcn.h>

#include <thread>

#include <torch/torch.h>

namespace han {

namespace {

// OpenBLAS may be the system BLAS behind LibTorch; look its setters up at run
// time so that builds against another BLAS still link.
void pin_openblas_to_one_thread() {
  using SetThreads = void (*)(int);
  for (const char* symbol : {"openblas_set_num_threads", "goto_set_num_threads"}) {
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, symbol))) {
      set(1);
      return;
    }
  }
}

}  // namespace

int configure_threads(int threads) {
  pin_openblas_to_one_thread();
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(1);
  return threads;
}

const char* blas_name() {
  if (dlsym(RTLD_DEFAULT, "openblas_get_config")) return "OpenBLAS";
  if (dlsym(RTLD_DEFAULT, "mkl_get_version")) return "MKL";
  return "system BLAS";
}

}  // namespace han
