#include "han/model/runtime.h"

#include <dlfcn.h>
#include <malloc.h>

#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "han/base/error.h"

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

// The name of the kernels OpenBLAS chose, e.g. "Haswell"; "" without OpenBLAS.
std::string openblas_core() {
  using CoreName = char* (*)();
  const auto name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* core = name ? name() : nullptr;
  return core ? std::string(core) : std::string();
}

}  // namespace

std::string blas_description() {
  using Config = char* (*)();
  const auto config = reinterpret_cast<Config>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  const std::string core = openblas_core();
  if (!config || core.empty()) return "";
  // openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
  std::string version = config() ? std::string(config()) : std::string("OpenBLAS");
  const size_t second_space = version.find(' ', version.find(' ') + 1);
  if (second_space != std::string::npos) version.resize(second_space);
  return fmt::format("{}, {} kernels", version, core);
}

int configure_threads(int threads) {
  pin_openblas_to_one_thread();
  keep_freed_memory();
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(1);
  return threads;
}

}  // namespace han

namespace han {

bool built_with_cuda() {
#if defined(HAN_TORCH_CUDA)
  return true;
#else
  return false;
#endif
}

torch::Device resolve_device(const std::string& name, int local_rank) {
  if (name == "cpu") return torch::kCPU;
  if (name == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, static_cast<int8_t>(local_rank)) : torch::kCPU;
  }
  if (name.rfind("cuda", 0) != 0) {
    throw UsageError(fmt::format("--device must be auto, cpu, cuda or cuda:N, not '{}'", name));
  }
  int index = local_rank;
  if (name != "cuda") {
    const std::string digits = name.size() > 5 && name[4] == ':' ? name.substr(5) : std::string();
    if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos) {
      throw UsageError(fmt::format("--device must be auto, cpu, cuda or cuda:N, not '{}'", name));
    }
    index = std::stoi(digits);
  }
  if (!built_with_cuda()) {
    throw UsageError(
        fmt::format("--device {}: this han was built against a LibTorch without CUDA ({}); build it "
                    "against a CUDA LibTorch (cmake -DCMAKE_PREFIX_PATH=...), or use --device cpu",
                    name, TORCH_VERSION));
  }
  if (!torch::cuda::is_available()) {
    throw UsageError(
        fmt::format("--device {}: LibTorch sees no CUDA device here (check nvidia-smi and "
                    "CUDA_VISIBLE_DEVICES), or use --device cpu",
                    name));
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (index >= count) {
    throw UsageError(fmt::format("--device {}: there {} only {} CUDA device{} (cuda:0{})", name,
                                 count == 1 ? "is" : "are", count, count == 1 ? "" : "s",
                                 count > 1 ? fmt::format(" to cuda:{}", count - 1) : ""));
  }
  return torch::Device(torch::kCUDA, static_cast<int8_t>(index));
}

}  // namespace han
