// Thread settings chosen once for LibTorch and the BLAS under it.
#pragma once

#include <string>

#include <torch/types.h>

namespace han {

// Chooses the thread settings of OpenBLAS, oneDNN and LibTorch together, once:
// han runs `threads` threads of its own (0: all cores), each splitting the
// work of a batch, so OpenBLAS is pinned to one thread and LibTorch's
// intra-op pool to one thread. Threads of theirs beside ours cost 2.5-5x on
// small machines, and idle OpenMP threads spin against ours. Also keeps large
// freed blocks in the heap (see runtime.cpp).
// Returns the number of han threads to use.
int configure_threads(int threads);

// The BLAS under LibTorch as people name it, e.g. "OpenBLAS 0.3.21, SkylakeX
// kernels", or "" when it is not OpenBLAS.
std::string blas_description();

// --device: "auto" (CUDA when LibTorch sees a device, else the CPU), "cpu",
// "cuda" or "cuda:N". `local_rank` picks the GPU of "auto" and "cuda" in a
// data-parallel run (one GPU a process). Throws UsageError when CUDA is
// asked for and this LibTorch or this machine lacks it, saying which.
torch::Device resolve_device(const std::string& name, int local_rank = 0);

// Whether the LibTorch han was built against has CUDA.
bool built_with_cuda();

}  // namespace han
