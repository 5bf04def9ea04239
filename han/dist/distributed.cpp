#include "han/dist/distributed.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "han/base/error.h"

#if defined(HAN_WITH_GLOO)
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#if defined(HAN_WITH_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

extern char** environ;

namespace han {

namespace {

// A whole number from the environment, or `fallback` when unset.
int integer_variable(const char* name, int fallback, int minimum) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || value < minimum || value > 1 << 20) {
    throw UsageError(
        fmt::format("environment variable {}={} is not a whole number of at least {}", name, text, minimum));
  }
  return static_cast<int>(value);
}

std::string describe(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

}  // namespace

WorldInfo world_from_environment() {
  WorldInfo world;
  world.world_size = integer_variable("WORLD_SIZE", 1, 1);
  if (world.world_size == 1) return world;
  if (!std::getenv("RANK")) throw UsageError("WORLD_SIZE is set but RANK is not: set both, as torchrun does");
  world.rank = integer_variable("RANK", 0, 0);
  if (world.rank >= world.world_size) {
    throw UsageError(fmt::format("RANK={} must be below WORLD_SIZE={}", world.rank, world.world_size));
  }
  world.local_rank = integer_variable("LOCAL_RANK", 0, 0);
  world.local_world_size = integer_variable("LOCAL_WORLD_SIZE", 1, 1);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) world.master_addr = addr;
  world.master_port = integer_variable("MASTER_PORT", world.master_port, 1);
  if (world.master_port > 65535) throw UsageError(fmt::format("MASTER_PORT={} is not a port", world.master_port));
  return world;
}

#if defined(HAN_WITH_GLOO)

bool distributed_available() { return true; }
std::string distributed_unavailable_reason() { return {}; }

namespace {

// The local address this machine sends from to reach `host`: Gloo listens
// there, so ranks in other network namespaces or machines can connect back.
std::string local_address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found) {
    throw DistributedError(fmt::format("MASTER_ADDR={}: no IPv4 address found for it", host));
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  std::string address;
  // A UDP connect sends nothing: it only asks the kernel for the route.
  if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
    sockaddr_in local{};
    socklen_t length = sizeof(local);
    char text[INET_ADDRSTRLEN] = {0};
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0 &&
        inet_ntop(AF_INET, &local.sin_addr, text, sizeof(text))) {
      address = text;
    }
  }
  if (fd >= 0) ::close(fd);
  freeaddrinfo(found);
  if (address.empty()) throw DistributedError(fmt::format("MASTER_ADDR={}: no route to it from here", host));
  return address;
}

}  // namespace

struct Communicator::Impl {
  WorldInfo world;
  bool on_cuda = false;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#if defined(HAN_WITH_NCCL)
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif

  [[noreturn]] void fail(const char* what, const std::exception& e) const {
    throw DistributedError(
        fmt::format("rank {} of {}: {} failed: {}; another rank stopped or cannot be reached "
                    "(its own error says why)",
                    world.rank, world.world_size, what, describe(e)));
  }

  // Runs a collective and waits for it; Gloo needs CPU tensors, so CUDA
  // tensors go through a CPU copy when NCCL is not there.
  template <typename Run>
  void collective(std::vector<torch::Tensor>& tensors, const char* what, Run&& run) {
    try {
#if defined(HAN_WITH_NCCL)
      if (nccl) {
        run(*nccl, tensors)->wait();
        return;
      }
#endif
      if (on_cuda) {
        std::vector<torch::Tensor> staged;
        staged.reserve(tensors.size());
        for (const auto& t : tensors) staged.push_back(t.to(torch::kCPU).contiguous());
        run(*gloo, staged)->wait();
        for (size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(staged[i]);
        return;
      }
      run(*gloo, tensors)->wait();
    } catch (const DistributedError&) {
      throw;
    } catch (const std::exception& e) {
      fail(what, e);
    }
  }
};

Communicator::Communicator(const WorldInfo& world, const torch::Device& device, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->world = world;
  impl_->on_cuda = device.is_cuda();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  // Under torchrun the agent already serves the store at MASTER_PORT: every
  // rank joins it as a client, under a prefix of its own per restart.
  const char* agent_store = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool under_agent = agent_store && std::string(agent_store) == "True";
  const bool serves_store = world.rank == 0 && !under_agent;
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(world.master_port);
    options.isServer = serves_store;
    options.numWorkers = static_cast<size_t>(world.world_size);
    options.waitWorkers = false;  // the process group's own rendezvous waits for them
    options.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, options);
    if (under_agent) {
      const char* restart = std::getenv("TORCHELASTIC_RESTART_COUNT");
      impl_->store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("han/{}", restart && *restart ? restart : "0"),
                                                            impl_->store);
    }
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("rank {} of {}: cannot {} the rendezvous store at {}:{} within {} s: {}",
                                       world.rank, world.world_size, serves_store ? "open" : "reach", world.master_addr,
                                       world.master_port, seconds, describe(e)));
  }
  try {
#if defined(HAN_WITH_NCCL)
    if (device.is_cuda()) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, world.rank, world.world_size, options);
      return;
    }
#endif
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    options->devices.push_back(
        interface && *interface ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                                : c10d::ProcessGroupGloo::createDeviceForHostname(
                                      local_address_towards(world.master_addr, world.master_port)));
    options->threads = 1;  // one collective at a time: the training loop waits on each
    impl_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, world.rank, world.world_size, options);
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("rank {} of {}: the ranks did not all connect within {} s: {}", world.rank,
                                       world.world_size, seconds, describe(e)));
  }
}

Communicator::~Communicator() = default;

int Communicator::rank() const { return impl_->world.rank; }
int Communicator::size() const { return impl_->world.world_size; }

std::string Communicator::backend() const {
#if defined(HAN_WITH_NCCL)
  if (impl_->nccl) return "nccl";
#endif
  return "gloo";
}

void Communicator::all_reduce_sum(torch::Tensor& tensor, const char* what) {
  std::vector<torch::Tensor> tensors{tensor};
  impl_->collective(tensors, what, [](auto& group, std::vector<torch::Tensor>& t) {
    return group.allreduce(t, c10d::AllreduceOptions());
  });
}

void Communicator::broadcast(torch::Tensor& tensor, int root, const char* what) {
  std::vector<torch::Tensor> tensors{tensor};
  impl_->collective(tensors, what, [root](auto& group, std::vector<torch::Tensor>& t) {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    return group.broadcast(t, options);
  });
}

std::vector<torch::Tensor> Communicator::all_gather(const torch::Tensor& tensor, const char* what) {
  // Gathered on the CPU: only small tensors (counts, word ids) travel this way.
  std::vector<torch::Tensor> inputs{tensor.to(torch::kCPU).contiguous()};
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int r = 0; r < size(); ++r) outputs[0].push_back(torch::empty_like(inputs[0]));
  try {
    if (!impl_->gloo) throw std::logic_error("all_gather runs on Gloo only");
    impl_->gloo->allgather(outputs, inputs)->wait();
  } catch (const std::exception& e) {
    impl_->fail(what, e);
  }
  return outputs[0];
}

#else  // without Gloo

bool distributed_available() { return false; }
std::string distributed_unavailable_reason() {
  return "this han was built without c10d's Gloo backend (its headers were not found: apt-get install libgloo-dev, "
         "then rebuild)";
}

struct Communicator::Impl {};

Communicator::Communicator(const WorldInfo&, const torch::Device&, std::chrono::milliseconds) {
  throw UsageError("data-parallel training needs c10d: " + distributed_unavailable_reason());
}
Communicator::~Communicator() = default;
int Communicator::rank() const { return 0; }
int Communicator::size() const { return 1; }
std::string Communicator::backend() const { return "none"; }
void Communicator::all_reduce_sum(torch::Tensor&, const char*) {}
void Communicator::broadcast(torch::Tensor&, int, const char*) {}
std::vector<torch::Tensor> Communicator::all_gather(const torch::Tensor& tensor, const char*) { return {tensor}; }

#endif

// --- han train --nproc --------------------------------------------------------

namespace {

volatile std::sig_atomic_t forwarded_signal = 0;

void remember_signal(int signal) { forwarded_signal = signal; }

// A port nobody listens on now; rank 0's store binds it a moment later.
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw SystemError(fmt::format("cannot open a socket: {}", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    throw SystemError(fmt::format("cannot find a free loopback port: {}", reason));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int launch_local_workers(int workers, const std::vector<std::string>& argv, std::chrono::milliseconds grace) {
  if (workers < 1) throw UsageError("--nproc must be at least 1");
  const int port = free_loopback_port();
  // Everything the children need is built before fork: after it only
  // async-signal-safe calls are allowed.
  std::vector<std::vector<std::string>> environments(static_cast<size_t>(workers));
  for (int rank = 0; rank < workers; ++rank) {
    auto& env = environments[static_cast<size_t>(rank)];
    for (char** e = environ; *e; ++e) {
      const std::string entry = *e;
      const std::string name = entry.substr(0, entry.find('='));
      if (name == "RANK" || name == "WORLD_SIZE" || name == "LOCAL_RANK" || name == "LOCAL_WORLD_SIZE" ||
          name == "MASTER_ADDR" || name == "MASTER_PORT") {
        continue;
      }
      env.push_back(entry);
    }
    env.push_back(fmt::format("RANK={}", rank));
    env.push_back(fmt::format("LOCAL_RANK={}", rank));
    env.push_back(fmt::format("WORLD_SIZE={}", workers));
    env.push_back(fmt::format("LOCAL_WORLD_SIZE={}", workers));
    env.push_back("MASTER_ADDR=127.0.0.1");
    // c10d's glog lines repeat what han's own error says; keep only fatal ones.
    if (!std::getenv("GLOG_minloglevel")) env.push_back("GLOG_minloglevel=3");
    env.push_back(fmt::format("MASTER_PORT={}", port));
  }
  auto pointers = [](std::vector<std::string>& strings) {
    std::vector<char*> p;
    p.reserve(strings.size() + 1);
    for (auto& s : strings) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
  };
  std::vector<std::string> arguments = argv;
  std::vector<char*> argument_pointers = pointers(arguments);
  std::vector<std::vector<char*>> environment_pointers;
  environment_pointers.reserve(environments.size());
  for (auto& env : environments) environment_pointers.push_back(pointers(env));

  // Signals reach the workers through us only (they run in their own
  // process group), so each gets SIGINT once, not once from the terminal and
  // once from us.
  struct sigaction action {};
  action.sa_handler = remember_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  forwarded_signal = 0;

  const pid_t parent = getpid();
  std::vector<pid_t> children;
  pid_t group = 0;
  for (int rank = 0; rank < workers; ++rank) {
    const pid_t pid = fork();
    if (pid < 0) {
      for (pid_t child : children) kill(child, SIGKILL);
      throw SystemError(fmt::format("cannot start worker {}: {}", rank, std::strerror(errno)));
    }
    if (pid == 0) {
      setpgid(0, group);
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // the launcher killed: so are its workers
      if (getppid() != parent) _exit(1);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      execve("/proc/self/exe", argument_pointers.data(), environment_pointers[static_cast<size_t>(rank)].data());
      _exit(127);
    }
    setpgid(pid, group);  // both sides, so it holds whichever runs first
    if (group == 0) group = pid;
    children.push_back(pid);
  }

  std::vector<int> codes(children.size(), -1);
  size_t running = children.size();
  int first_failure = 0;
  bool stopping = false;  // the user asked; workers checkpoint and exit on their own
  auto deadline = std::chrono::steady_clock::time_point::max();
  int passed_on = 0;
  while (running > 0) {
    if (forwarded_signal != 0 && forwarded_signal != passed_on) {
      passed_on = forwarded_signal;
      stopping = true;
      for (size_t i = 0; i < children.size(); ++i)
        if (codes[i] < 0) kill(children[i], passed_on);
    }
    int status = 0;
    const pid_t done = waitpid(-1, &status, WNOHANG);
    if (done > 0) {
      for (size_t i = 0; i < children.size(); ++i) {
        if (children[i] != done) continue;
        codes[i] = exit_code(status);
        --running;
        if (codes[i] != 0 && first_failure == 0) {
          first_failure = codes[i];
          if (!stopping) {
            // One rank failed: the others cannot finish without it.
            for (size_t j = 0; j < children.size(); ++j)
              if (codes[j] < 0) kill(children[j], SIGTERM);
            deadline = std::chrono::steady_clock::now() + grace;
          }
        }
      }
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      for (size_t j = 0; j < children.size(); ++j)
        if (codes[j] < 0) kill(children[j], SIGKILL);
      deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return first_failure;  // the cause, not the SIGTERM the others then got
}

}  // namespace han
