#include "han/runtime.h"

#include <dlfcn.h>
#include <malloc.h>

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

// glibc serves blocks over 128 KiB with mmap and unmaps them when freed; the
// optimizer's temporaries (a few the size of the embedding table, 24 MB at the
// paper's sizes) are then page-faulted in again at every step, which cost
// ~18% of training speed. Serve them from the heap and keep up to 256 MiB of
// freed memory there.
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace

int configure_threads(int threads) {
  pin_openblas_to_one_thread();
  keep_freed_memory();
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
