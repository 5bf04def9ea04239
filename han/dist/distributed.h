// Data-parallel training over processes and machines on PyTorch's own
// distributed engine, c10d: where this process stands among the others
// (torchrun's environment variables), a process group (Gloo for CPU ranks,
// NCCL for CUDA ranks where LibTorch has it), and `han train --nproc`'s
// launcher of local workers.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "han/base/error.h"  // DistributedError

namespace han {

// One process of a data-parallel run, as torchrun describes it.
struct WorldInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;                     // rank among the processes of this machine
  int local_world_size = 1;               // processes on this machine
  std::string master_addr = "127.0.0.1";  // where rank 0 runs the rendezvous store
  int master_port = 29500;
  bool distributed() const { return world_size > 1; }
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and
// MASTER_PORT. Without WORLD_SIZE (or with 1) this is the only process.
// Throws UsageError naming a variable that is malformed or missing.
WorldInfo world_from_environment();

// Whether this build has c10d's Gloo backend; when not, the reason.
bool distributed_available();
std::string distributed_unavailable_reason();

// A process group over every rank of `world`. All ranks must call the same
// collectives in the same order, with tensors of the same shapes.
class Communicator {
 public:
  // Rank 0 runs the rendezvous store at MASTER_ADDR:MASTER_PORT; the others
  // connect to it. Ranks that do not all arrive within `timeout`, and any
  // collective that does not complete within it, raise DistributedError.
  // Gloo binds to the address this machine uses to reach MASTER_ADDR, or to
  // the interface GLOO_SOCKET_IFNAME names.
  Communicator(const WorldInfo& world, const torch::Device& device, std::chrono::milliseconds timeout);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const;
  int size() const;
  std::string backend() const;  // "gloo" or "nccl"

  // In place; `what` names the operation in errors.
  void all_reduce_sum(torch::Tensor& tensor, const char* what);
  void broadcast(torch::Tensor& tensor, int root, const char* what);
  // Every rank's `tensor` (all of one shape), by rank.
  std::vector<torch::Tensor> all_gather(const torch::Tensor& tensor, const char* what);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `han train --nproc N`: runs `argv` (this program and its arguments) as
// ranks 0..N-1 on this machine, with torchrun's variables set and a free
// loopback port for the store. SIGINT and SIGTERM are passed on to every
// worker; when one fails, the others get SIGTERM, and SIGKILL after
// `grace`. Returns 0, or the exit code of the first worker that failed.
int launch_local_workers(int workers, const std::vector<std::string>& argv, std::chrono::milliseconds grace);

}  // namespace han
