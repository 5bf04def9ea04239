// Thread settings chosen once for LibTorch and the BLAS under it.
#pragma once

namespace han {

// Sets LibTorch's intra-op threads (0: all cores) and pins OpenBLAS to one
// thread: its own threads fighting LibTorch's cost 2.5-5x on small machines.
// Also keeps freed tensor memory in the heap (see runtime.cpp).
// Returns the number of LibTorch threads in use.
int configure_threads(int threads);

// The BLAS library LibTorch's matrix products resolve to, for reports.
const char* blas_name();

}  // namespace han
